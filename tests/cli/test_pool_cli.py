"""``m365mail pool`` sizes a mailbox's Airflow pool by the transport's concurrency limit at Exchange."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_m365mail.cli.main import main

UseConnection = Callable[..., dict[str, Any]]  # the use_connection fixture


@pytest.mark.parametrize(("connection", "slots"), [("smtp_oauth2", 3), ("graph", 4)])
def test_the_pool_is_named_after_the_mailbox_and_sized_by_the_transport(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], connection: str, slots: int
) -> None:
    use_connection(connection, login="Reports@Contoso.com")
    code = main(["pool", "--conn-id", "m365mail_cli"])
    output = capsys.readouterr().out
    assert code == 0, output
    assert f"pool m365mail-reports-contoso.com: {slots} slots" in output
    assert f"airflow pools set m365mail-reports-contoso.com {slots} " in output


def test_an_invalid_connection_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["pool", "--conn-json", '{"conn_type": "m365mail", "extra": {"transport": "pigeon"}}'])
    assert code == 1 and "FAILED: invalid connection" in capsys.readouterr().out

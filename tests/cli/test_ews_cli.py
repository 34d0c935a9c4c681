"""``m365mail doctor`` and ``send-test`` over EWS against the sandbox's Exchange Server endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.cli.send_test import TEST_HEADER, TEST_SUBJECT
from airflow_provider_m365mail.sandbox.server import Sandbox

UseConnection = Callable[..., dict[str, Any]]


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--conn-id", "m365mail_cli", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def check(data: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in data["checks"] if c["name"] == name]
    return found


def test_the_doctor_passes_an_ews_connection_and_sends_nothing(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    use_connection("ews")

    code, data = doctor(capsys)

    assert code == 0, data
    assert (data["connection"]["transport"], data["connection"]["auth_type"]) == ("ews", "ntlm")
    server = check(data, "server")
    assert (server["status"], server["title"]) == ("pass", "EWS sign-in (GetFolder)")
    assert check(data, "tls")["status"] == "pass"
    assert m365_sandbox.messages() == []


def test_the_doctor_tells_send_as_over_ews_is_not_granted(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    use_connection("ews", allowed_senders="*@contoso.com")

    code, data = doctor(capsys, "--send-as", "alerts@contoso.com")

    assert code == 1
    send_as = check(data, "send_as")
    assert send_as["status"] == "fail" and "ErrorSendAsDenied" in send_as["detail"]
    assert m365_sandbox.messages() == []


def test_send_test_over_ews_delivers_one_marked_message(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    use_connection("ews")

    code = main(["send-test", "--conn-id", "m365mail_cli", "--to", "bob@contoso.com"])
    output = capsys.readouterr().out

    assert code == 0, output
    (stored,) = m365_sandbox.messages()
    assert (stored.subject, stored.transport, stored.envelope_to) == (TEST_SUBJECT, "ews", ("bob@contoso.com",))
    assert m365_sandbox.parsed(stored.id)[TEST_HEADER] == "send-test"
    assert f"over ews ({m365_sandbox.settings['ews_url']})" in output
    assert "Server reply: CreateItem: NoError" in output

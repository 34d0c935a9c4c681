"""The packaged example DAG, unchanged, over High Volume Email and Azure Communication Services (REST and SMTP)."""

from __future__ import annotations

from email.utils import getaddresses
from typing import Any

import pytest

pytestmark = pytest.mark.airflow

EVERYONE = ["airflow@contoso.com", "alice@contoso.com", "bob@contoso.com", "data-team@contoso.com"]


@pytest.mark.parametrize("connection", ["hve", "acs", "acs_smtp"])
def test_the_example_dag_runs_unchanged_over_hve_and_acs(dag_runner: Any, connection: str) -> None:
    run = dag_runner.run("example_m365mail_send", default_connection=connection)

    assert run.process.returncode == 0, run.output[-3000:]
    assert set(run.task_states.values()) == {"success"}
    assert [m.transport for m in run.messages] == [connection, connection]
    stored, report = run.received("Tagesbericht ")
    assert [address for _, address in getaddresses(report.get_all("From", []))] == ["reports@contoso.com"]
    assert sorted(stored.envelope_to) == EVERYONE  # the Bcc copy to airflow@ included
    assert report["Bcc"] is None
    assert any(part.get_filename() == "report.csv" for part in report.walk())
    dag_runner.assert_no_secrets(run.output)

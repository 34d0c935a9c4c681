"""Run the example DAG unchanged over Microsoft Graph: the same operator, a connection with ``transport: graph``."""

from __future__ import annotations

from email.utils import getaddresses
from typing import Any

import pytest

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def graph_run(dag_runner: Any) -> Any:
    return dag_runner.run("example_m365mail_send", default_connection="graph")


def addresses(message: Any, name: str) -> list[str]:
    return [address for _, address in getaddresses(message.get_all(name, []))]


def test_the_example_dag_succeeds_over_graph(graph_run: Any) -> None:
    assert graph_run.process.returncode == 0, graph_run.output[-3000:]
    assert set(graph_run.task_states.values()) == {"success"}
    assert [m.transport for m in graph_run.messages] == ["graph", "graph"]
    assert graph_run.stats["graph_requests"] >= 2
    assert graph_run.stats.get("smtp_sessions", 0) == 0


def test_send_as_over_graph_shows_only_the_team_mailbox(graph_run: Any) -> None:
    stored, message = graph_run.received("Tagesbericht ")
    assert addresses(message, "From") == ["reports@contoso.com"]
    assert message["Sender"] is None
    assert sorted(stored.envelope_to) == [
        "airflow@contoso.com",
        "alice@contoso.com",
        "bob@contoso.com",
        "data-team@contoso.com",
    ]
    assert message["Bcc"] is None
    assert message["X-Contoso-Report"].startswith("daily/")
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert "Süd,97".encode() in parts["report.csv"].get_payload(decode=True)
    assert parts["logo.png"].get_payload(decode=True).startswith(b"\x89PNG")


def test_send_on_behalf_over_graph_names_the_account_as_sender(graph_run: Any) -> None:
    _, message = graph_run.received("Report for ")
    assert addresses(message, "From") == ["data-team@contoso.com"]
    assert addresses(message, "Sender") == ["airflow@contoso.com"]


def test_xcom_holds_the_graph_message_ids(graph_run: Any) -> None:
    report, _ = graph_run.received("Tagesbericht ")
    assert graph_run.return_values["send_report_as_team_mailbox"]["message_ids"] == [report.message_id]


def test_no_secret_reaches_the_output_of_a_graph_run(dag_runner: Any, graph_run: Any) -> None:
    dag_runner.assert_no_secrets(graph_run.output)

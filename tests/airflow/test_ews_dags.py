"""Airflow over EWS: the example DAG unchanged, and a Send As sensor that waits for a grant going live mid-run."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from email.utils import getaddresses
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.core.probe import PROBE_SUBJECT
from airflow_provider_m365mail.sandbox.state import SandboxState

pytestmark = pytest.mark.airflow

TEST_DAGS = Path(__file__).parent / "dags"
SERVICE = "airflow@contoso.com"


def addresses(message: Any, name: str) -> list[str]:
    return [address for _, address in getaddresses(message.get_all(name, []))]


@pytest.fixture(scope="module")
def example_run(dag_runner: Any) -> Any:
    return dag_runner.run("example_m365mail_send", default_connection="ews")


def test_the_example_dag_runs_unchanged_over_ews(example_run: Any) -> None:
    assert example_run.process.returncode == 0, example_run.output[-3000:]
    assert set(example_run.task_states.values()) == {"success"}
    assert [m.transport for m in example_run.messages] == ["ews", "ews"]
    assert example_run.stats.get("smtp_sessions", 0) == 0 and example_run.stats["ews_requests"] >= 2


def test_over_ews_send_as_shows_the_team_mailbox_and_on_behalf_the_sender(example_run: Any) -> None:
    stored, report = example_run.received("Tagesbericht ")
    assert addresses(report, "From") == ["reports@contoso.com"] and report["Sender"] is None
    assert sorted(stored.envelope_to) == [SERVICE, "alice@contoso.com", "bob@contoso.com", "data-team@contoso.com"]
    assert report["Bcc"] is None
    parts = {part.get_filename(): part for part in report.walk() if part.get_filename()}
    assert "Süd,97".encode() in parts["report.csv"].get_payload(decode=True)
    _, notice = example_run.received("Report for ")
    assert addresses(notice, "From") == ["data-team@contoso.com"] and addresses(notice, "Sender") == [SERVICE]


def test_no_secret_reaches_the_output_of_an_ews_run(dag_runner: Any, example_run: Any) -> None:
    dag_runner.assert_no_secrets(example_run.output)


@pytest.fixture(scope="module")
def sensor_run(dag_runner: Any) -> tuple[Any, float, dict[str, tuple[float, float]]]:
    sandbox = dag_runner.sandbox
    outcome = dag_runner.run(  # Send As is granted once the sensor has been refused, however long start-up took
        "m365mail_ews_send_as", dags_folder=TEST_DAGS, extra_changes={"m365mail_ews": {"allowed_senders": "*"}},
        grant_on_refusal={("ews", "alerts@contoso.com"): partial(SandboxState.grant, principal=SERVICE,
                                                                  mailbox="alerts@contoso.com", right="send_as")},
    )
    grants = [g for g in sandbox.call(sandbox.state.grants_view) if g["mailbox"] == "alerts@contoso.com"]
    with sqlite3.connect(dag_runner.home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, start_date, end_date FROM task_instance WHERE dag_id = 'm365mail_ews_send_as'"
        ).fetchall()
    times = {task: (epoch(start), epoch(end)) for task, start, end in rows}
    return outcome, float(grants[0]["effective_at"]) if grants else float("inf"), times


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_the_sensor_waits_over_ews_until_send_as_is_live_then_the_send_goes_out(sensor_run: Any) -> None:
    outcome, live_at, times = sensor_run
    assert outcome.process.returncode == 0, outcome.output[-3000:]
    assert outcome.task_states == {"wait_for_send_as": "success", "send_as_alerts": "success"}
    started, finished = times["wait_for_send_as"]
    assert started < live_at <= finished  # it began before the grant was live and ended after
    probes = [m for m in outcome.messages if m.subject.startswith(PROBE_SUBJECT)]
    assert len(probes) == 1 and probes[0].received_at >= live_at  # refused probes stored nothing
    assert outcome.stats["ews_refused"] >= 1
    _, sent = outcome.received("Alert over EWS")
    assert addresses(sent, "From") == ["alerts@contoso.com"]
    assert "ErrorSendAsDenied" in outcome.task_log("wait_for_send_as")

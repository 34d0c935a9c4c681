"""Resumable sends judged by the sandbox's store, counted per recipient, across real Airflow tries and clears.

Each DAG of ``dags/m365mail_resume.py`` runs with ``airflow dags test``; Airflow 3.3's task state store keeps the
delivery ledger between tries. A try cut off by its timeout, or a server that refuses half the messages for a
while, ends with every recipient served exactly once; a cleared task sends again only when ``resend=True``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.sandbox.config import Limits
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

pytestmark = pytest.mark.airflow

TEST_DAGS = Path(__file__).parent / "dags"


def per_recipient(outcome: Any, subject: str = "") -> Counter[str]:
    return Counter(a for m in outcome.messages if m.subject.startswith(subject) for a in m.envelope_to)


def customers(count: int) -> set[str]:
    return {f"customer{i:03d}@example.org" for i in range(count)}


def tries(outcome: Any, task_id: str = "statements") -> int:
    return outcome.task_log(task_id).count("[DAG TEST] running task")


def arm(*faults: Fault, limits: Limits | None = None) -> Any:
    def prepare(sandbox: Sandbox) -> None:
        if limits is not None:
            sandbox.state.update_tenant(limits=limits)
        for fault in faults:
            sandbox.state.add_fault(fault)

    return prepare


BURST = (
    Fault("smtp", "drop_mid_data", count=2),
    Fault("smtp", "reply", code=421, message="4.7.0 Temporary server error. Please try again later", count=2),
    Fault("smtp", "reply", code=432, message="4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", count=2),
)


def test_a_burst_of_six_transient_faults_delivers_all_20_in_one_try(dag_runner: Any) -> None:
    outcome = dag_runner.run("m365mail_burst", dags_folder=TEST_DAGS, before=arm(*BURST))
    assert outcome.process.returncode == 0, outcome.output[-3000:]
    assert outcome.stats["faults_fired"] == 6
    assert per_recipient(outcome) == Counter(customers(20))
    assert outcome.task_states == {"statements": "success"} and tries(outcome) == 1
    account = outcome.return_values["statements"]
    assert len(account["delivered_now"]) == 20 and account["left_over"] == {}
    assert "delivery: 20 delivered now, 0 delivered by an earlier try" in outcome.output


@pytest.mark.parametrize("connection", ["smtp_oauth2", "graph"])
def test_a_try_cut_off_by_its_timeout_is_finished_by_the_retries_each_recipient_once(
    dag_runner: Any, connection: str
) -> None:
    outcome = dag_runner.run("m365mail_cut_off", dags_folder=TEST_DAGS, default_connection=connection)
    assert outcome.process.returncode == 0, outcome.output[-3000:]
    assert per_recipient(outcome) == Counter(customers(40))
    assert outcome.task_states == {"statements": "success"} and tries(outcome) > 1
    assert "AirflowTaskTimeout" in outcome.output
    account = outcome.return_values["statements"]
    # the tries cut off got about 30 out before the limit held them (a slow machine: fewer); the last, the rest
    earlier, now = account["delivered_earlier"], account["delivered_now"]
    assert 0 < len(earlier) < 40 and len(earlier) + len(now) == 40


def test_a_server_busy_for_half_the_messages_gets_each_one_exactly_once_within_the_retries(dag_runner: Any) -> None:
    busy = Fault("smtp", "reply", code=451, message="4.7.500 Server busy. Please try again later", stage="data",
                 probability=0.5, seed=50)
    outcome = dag_runner.run(
        "m365mail_busy",
        dags_folder=TEST_DAGS,
        extra_changes={"m365mail_default": {"retry_budget_s": 5, "max_messages_per_minute": 1000}},
        before=arm(busy, limits=Limits(messages_per_window=1000)),
    )
    assert outcome.process.returncode == 0, outcome.output[-3000:]
    assert per_recipient(outcome) == Counter(customers(50))
    assert outcome.task_states == {"statements": "success"} and tries(outcome) > 1
    assert outcome.stats["faults_fired"] >= 25
    assert "left over for the task's next try" in outcome.output


@pytest.mark.parametrize("connection", ["smtp_oauth2", "graph"])
def test_a_cleared_task_sends_again_only_when_asked(dag_runner: Any, connection: str) -> None:
    first = dag_runner.run("m365mail_cleared", dags_folder=TEST_DAGS, default_connection=connection)
    assert first.process.returncode == 0, first.output[-3000:]
    cleared = dag_runner.clear_and_rerun(first, "m365mail_cleared", ["resume", "resend"], dags_folder=TEST_DAGS,
                                         default_connection=connection)
    assert cleared.process.returncode == 0, cleared.output[-3000:]
    assert per_recipient(cleared, "Resumed") == Counter(customers(3))
    assert per_recipient(cleared, "Resent") == Counter({address: 2 for address in customers(3)})
    resumed, resent = cleared.return_values["resume"], cleared.return_values["resend"]
    assert resumed["delivered_now"] == [] and len(resumed["delivered_earlier"]) == 3
    assert "resend=True sends everything again" in resumed["skipped"][0]
    assert len(resent["delivered_now"]) == 3 and resent["generation"] == 1
    assert not set(resent["delivered_now"]) & set(first.return_values["resend"]["delivered_now"])

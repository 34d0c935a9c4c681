"""The facts of an alert: the Airflow UI link, the shortened exception, the subject and the Message-ID seed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_m365mail.core.alert import (
    EXCEPTION_LIMIT,
    Alert,
    AlertEvent,
    event_for_state,
    summarize_exception,
    ui_link,
)

RUN = "scheduled__2025-03-01T00:00:00+00:00"


def alert(**changes: object) -> Alert:
    facts: dict[str, object] = {
        "event": AlertEvent.FAILURE, "dag_id": "sales", "run_id": RUN, "link": "https://airflow/x",
        "task_id": "load", "try_number": 2, "max_tries": 2,
    }
    return Alert(**{**facts, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("task", "map_index", "try_number", "expected_tail"),
    [
        ("load", -1, 2, "/tasks/load?try_number=2"),
        ("load", 3, 1, "/tasks/load/mapped/3?try_number=1"),
        ("load", 0, None, "/tasks/load/mapped/0"),
        ("load", -1, 0, "/tasks/load"),  # try 0: the task never started
        (None, -1, None, ""),
    ],
)
def test_ui_link_follows_the_airflow_3_ui_routes(
    task: str | None, map_index: int, try_number: int | None, expected_tail: str
) -> None:
    link = ui_link("https://airflow.contoso.com/", dag_id="sales", run_id=RUN, task_id=task, map_index=map_index,
                   try_number=try_number)
    run_path = "/dags/sales/runs/scheduled__2025-03-01T00%3A00%3A00%2B00%3A00"
    assert link == f"https://airflow.contoso.com{run_path}{expected_tail}"


def test_ui_link_keeps_a_base_path_and_escapes_run_ids_that_hold_url_syntax() -> None:
    link = ui_link("https://contoso.com/airflow", dag_id="d", run_id="manual/a b?c#d", task_id="t")
    assert link == "https://contoso.com/airflow/dags/d/runs/manual%2Fa%20b%3Fc%23d/tasks/t"


def test_short_exceptions_are_named_by_type_and_kept_whole() -> None:
    assert summarize_exception(ValueError("bad row 7")) == "ValueError: bad row 7"
    assert summarize_exception("killed by the OOM killer\n") == "killed by the OOM killer"
    assert summarize_exception(None) is None


def test_long_exceptions_keep_their_start_and_end_and_say_what_was_left_out() -> None:
    text = "START " + "x" * 20_000 + " END"
    summary = summarize_exception(RuntimeError(text))
    assert summary is not None
    assert summary.startswith("RuntimeError: START ")
    assert summary.endswith(" END")
    assert "16,0" in summary and "characters left out: the task log has the full text" in summary
    assert len(summary) < EXCEPTION_LIMIT + 100


def test_secrets_are_masked_before_a_long_exception_is_cut() -> None:
    secret = "Cut-Here-Passw0rd-Secret"
    head = EXCEPTION_LIMIT - 1000  # the cut falls inside the secret
    text = "x" * (head - len("RuntimeError: ") - 10) + secret + "y" * 20_000

    summary = summarize_exception(RuntimeError(text), redact=lambda t: t.replace(secret, "***"))

    assert summary is not None and "***" in summary
    assert secret[:10] not in summary and secret[-10:] not in summary


@given(st.text(max_size=6000))
def test_summaries_stay_bounded(text: str) -> None:
    summary = summarize_exception(text, limit=500)
    assert summary is not None
    assert len(summary) <= 500 + 100
    if len(text.strip()) <= 500:
        assert summary == text.strip()


@pytest.mark.parametrize(
    ("state", "failed", "event"),
    [
        ("failed", False, AlertEvent.FAILURE),
        ("up_for_retry", True, AlertEvent.RETRY),
        ("success", False, AlertEvent.SUCCESS),
        ("SUCCESS", False, AlertEvent.SUCCESS),
        (None, True, AlertEvent.FAILURE),
        ("running", False, AlertEvent.SUCCESS),
    ],
)
def test_the_event_follows_the_state(state: str | None, failed: bool, event: AlertEvent) -> None:
    assert event_for_state(state, failed=failed) is event


def test_the_subject_says_what_happened_where_and_which_try() -> None:
    assert alert().subject == f"Airflow: Task failed: sales.load (run {RUN}, try 2 of 3)"
    assert alert(map_index=4, event=AlertEvent.RETRY).subject.startswith("Airflow: Task will retry: sales.load[4] ")
    run_alert = alert(task_id=None, try_number=None, event=AlertEvent.DEADLINE_MISSED)
    assert run_alert.subject == f"Airflow: DAG run missed its deadline: sales (run {RUN})"


def test_the_message_id_seed_changes_with_each_identifying_fact_only() -> None:
    base = alert()
    assert alert(exception="other text", hostname="worker-2", link="https://elsewhere").message_seed == (
        base.message_seed
    )
    variants = [
        alert(event=AlertEvent.RETRY), alert(dag_id="other"), alert(run_id="manual__1"), alert(task_id="other"),
        alert(map_index=0), alert(try_number=3),
    ]
    seeds = {base.message_seed, *(variant.message_seed for variant in variants)}
    assert len(seeds) == len(variants) + 1
    deadline = alert(task_id=None, try_number=None, event=AlertEvent.DEADLINE_MISSED, deadline="2025-03-01T06:00")
    assert deadline.message_seed != alert(task_id=None, try_number=None, event=AlertEvent.DEADLINE_MISSED).message_seed

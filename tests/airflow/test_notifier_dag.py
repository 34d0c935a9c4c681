"""M365EmailNotifier in a real ``airflow dags test``: the alerts Airflow's task runner sends, as the sandbox got them.

The example DAG fails a task once (retry alert), recovers (success alert) and fails another (failure alert); the
alerts DAG throws hostile markup, runs a callback twice, uses own templates and fails a mapped task instance.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from alert_page import AlertPage, bodies

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION

pytestmark = pytest.mark.airflow
# A worker hands task callbacks the exception on every 3.x; `airflow dags test` does only from Airflow 3.3.
DAGS_TEST_PASSES_THE_EXCEPTION = AIRFLOW_VERSION >= (3, 3)
HAS_TASK_STATE_STORE = AIRFLOW_VERSION >= (3, 3)

TEST_DAGS = Path(__file__).parent / "dags"
BASE_URL = "https://airflow.contoso.com/"
FIELDS = ("DAG", "Task", "Run ID", "Logical date", "Try", "State", "Host")


@pytest.fixture(scope="module")
def example_run(dag_runner: Any) -> Any:
    return dag_runner.run("example_m365mail_notifier", config={"AIRFLOW__API__BASE_URL": BASE_URL})


@pytest.fixture(scope="module")
def alerts_run(dag_runner: Any) -> Any:
    return dag_runner.run("m365mail_alerts", dags_folder=TEST_DAGS, config={"AIRFLOW__API__BASE_URL": BASE_URL})


def text_fields(text: str) -> dict[str, str]:
    """Read the "Label:  value" lines of the plain-text alert."""
    found = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and label in (*FIELDS, "Reason"):
            found[label] = value.strip()
    return found


def ui_routes() -> list[re.Pattern[str]]:
    """Return the task routes of the installed Airflow UI (its JavaScript bundle) as regular expressions."""
    assets = Path(str(files("airflow"))) / "ui" / "dist" / "assets"
    routes = set()
    for bundle in assets.glob("*.js"):
        routes.update(re.findall(r"dags/:dagId/runs/:runId/tasks/:taskId(?:/mapped/:mapIndex)?", bundle.read_text()))
    assert routes, "no task routes found in the installed Airflow UI"
    return [re.compile("/" + re.sub(r":\w+", "[^/?]+", route) + r"(\?try_number=\d+)?") for route in routes]


def alert_for(run: Any, headline: str, task: str) -> tuple[Any, EmailMessage]:
    """Return the one alert ``headline`` about ``task`` (subjects read "Airflow: HEADLINE: DAG.TASK (run ...").)"""
    (found,) = [
        stored
        for stored in run.messages
        if stored.subject.strip().startswith(f"Airflow: {headline}: ") and f".{task} (run " in stored.subject
    ]
    return found, run.parsed[found.id]


def test_the_example_run_sends_a_retry_a_success_and_a_failure_alert(example_run: Any, dag_runner: Any) -> None:
    states = example_run.task_states
    assert states == {"load_orders": "success", "check_freshness": "failed"}, example_run.output[-3000:]
    subjects = sorted(m.subject.strip().split(" (run ")[0] for m in example_run.messages)
    assert subjects == [
        "Airflow: Task failed: example_m365mail_notifier.check_freshness",
        "Airflow: Task succeeded: example_m365mail_notifier.load_orders",
        "Airflow: Task will retry: example_m365mail_notifier.load_orders",
    ]
    assert len({m.message_id for m in example_run.messages}) == 3
    dag_runner.assert_no_secrets(example_run.output)


EXPECTED_ALERTS = {
    "retry": ("Task will retry", "load_orders", "try 1 of 2", "up_for_retry",
              "ConnectionError: The warehouse did not answer within 30 s; it may still be starting."),
    "success": ("Task succeeded", "load_orders", "try 2 of 2", "success", None),
    "failure": ("Task failed", "check_freshness", "try 1 of 1", "failed",
                "ValueError: The newest order is 26 hours old; the limit is 24 hours."),
}


@pytest.mark.parametrize("event", EXPECTED_ALERTS)
def test_each_alert_carries_every_field_and_a_link_to_the_tries_log(example_run: Any, event: str) -> None:
    headline, task, tries, state, exception = EXPECTED_ALERTS[event]
    stored, message = alert_for(example_run, headline, task)
    html, text = bodies(message)
    run_id = stored.subject.split(" (run ")[1].split(", try")[0]
    fields = text_fields(text)
    assert fields["DAG"] == "example_m365mail_notifier"
    assert fields["Task"] == task
    assert fields["Run ID"] == run_id
    assert fields["Logical date"].startswith(run_id.removeprefix("manual__")[:10])
    assert fields["Try"] == tries
    assert fields["State"] == state
    assert fields["Host"]
    try_number = tries.split()[1]
    run_path = f"dags/example_m365mail_notifier/runs/{quote(run_id, safe='')}"
    link = f"{BASE_URL}{run_path}/tasks/{task}?try_number={try_number}"
    assert f"Task log: {link}" in text
    page = AlertPage(html)
    assert page.links == [link]
    assert page.pre == ([exception] if exception and DAGS_TEST_PASSES_THE_EXCEPTION else [])
    assert any(route.fullmatch(link.removeprefix(BASE_URL.rstrip("/"))) for route in ui_routes())
    for label in FIELDS:
        assert f">{label}</td>" in html


def test_the_success_alert_is_sent_as_the_team_mailbox(example_run: Any) -> None:
    stored, message = alert_for(example_run, "Task succeeded", "load_orders")
    assert message["From"].addresses[0].addr_spec == "reports@contoso.com"
    assert stored.envelope_to == ("data-team@contoso.com",)


def hostile_alerts(run: Any) -> list[Any]:
    return [m for m in run.messages if m.subject.strip().startswith("Airflow: Task failed: m365mail_alerts.hostile")]


@pytest.mark.skipif(
    not DAGS_TEST_PASSES_THE_EXCEPTION, reason="airflow dags test hands task callbacks no exception before Airflow 3.3"
)
def test_markup_in_an_exception_stays_text_and_long_text_is_shortened(alerts_run: Any) -> None:
    html, text = bodies(alerts_run.parsed[hostile_alerts(alerts_run)[0].id])
    page = AlertPage(html)
    assert "script" not in page.tags
    (pre,) = page.pre
    assert pre.startswith('RuntimeError: </pre><script>alert("owned")</script><a href="https://evil.example/">')
    assert pre.endswith(" END")
    assert "characters left out: the task log has the full text" in pre
    assert not any("evil.example" in link for link in page.links)
    assert pre in text


def test_a_callback_that_runs_twice_sends_its_alert_once(alerts_run: Any) -> None:
    # The second run of the callback finds the alert in the task's delivery ledger (Airflow 3.3+); before 3.3 it
    # sends it again under the same Message-ID, which Exchange's duplicate detection drops.
    twins = hostile_alerts(alerts_run)
    assert len(twins) == (1 if HAS_TASK_STATE_STORE else 2)
    assert len({stored.message_id for stored in twins}) == 1
    for stored in twins:
        message = alerts_run.parsed[stored.id]
        assert sorted(stored.envelope_to) == ["airflow@contoso.com", "data-team@contoso.com", "ops@contoso.com"]
        assert message["Bcc"] is None
        assert str(message["Cc"]) == "data-team@contoso.com"


@pytest.mark.skipif(AIRFLOW_VERSION < (3, 1), reason="the task instance has a log_url to compare with from Airflow 3.1")
def test_own_templates_render_with_the_context_and_link_where_airflow_does(alerts_run: Any) -> None:
    stored, message = alerts_run.received("Own subject: ")
    assert stored.subject == "Own subject: Task failed in m365mail_alerts/hostile_exception"
    assert stored.envelope_to == ("bob@contoso.com",)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    airflows, ours = re.fullmatch(r"<p>Airflow's link: (\S+)</p><p>Ours: (\S+)</p>\s*", html).groups()  # type: ignore[union-attr]
    assert ours == airflows  # RuntimeTaskInstance.log_url builds the same link


def test_a_mapped_task_instance_is_named_and_linked_with_its_index(alerts_run: Any) -> None:
    stored, message = alert_for(alerts_run, "Task failed", "mapped[1]")
    assert "Task failed: m365mail_alerts.mapped[1] (run " in stored.subject
    html, text = bodies(message)
    (link,) = AlertPage(html).links
    assert link.endswith("/tasks/mapped/mapped/1?try_number=1")
    assert any(route.fullmatch(link.removeprefix(BASE_URL.rstrip("/"))) for route in ui_routes())
    assert text_fields(text)["Task"] == "mapped[1]"
    assert len([m for m in alerts_run.messages if ".mapped" in m.subject]) == 1


def test_a_dag_callback_reports_the_run_and_links_to_its_page(alerts_run: Any) -> None:
    (stored,) = [m for m in alerts_run.messages if m.subject.strip().startswith("Airflow: DAG run failed: ")]
    run_id = stored.subject.split(" (run ")[1].removesuffix(")")
    assert stored.subject.strip() == f"Airflow: DAG run failed: m365mail_alerts (run {run_id})"
    html, text = bodies(alerts_run.parsed[stored.id])
    fields = text_fields(text)
    assert "Task" not in fields and "Try" not in fields
    assert fields["Run ID"] == run_id
    assert fields["Reason"] == "task_failure"
    assert AlertPage(html).links == [f"{BASE_URL}dags/m365mail_alerts/runs/{quote(run_id, safe='')}"]

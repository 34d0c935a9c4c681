"""M365EmailNotifier in this process against the sandbox: escaping, own templates, secrets, and the async path.

The full callback lifecycle (Airflow's task runner calling the notifier) runs in ``test_notifier_dag``; here the
notifier gets contexts shaped like the ones Airflow builds, and the async path runs in a real event loop, driven
by Airflow's own ``CallbackTrigger`` as the triggerer runs deadline alerts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from alert_page import AlertPage, bodies

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION
from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.notifications.m365mail import (
    M365EmailNotifier,
    alert_from_context,
    default_conn_id,
)
from airflow_provider_m365mail.sandbox.server import Sandbox

BASE_URL = "https://airflow.contoso.com"
HOSTILE = '</pre><script>alert("x")</script><a href="https://evil.example/">Click</a><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def default_connection(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)


def task_context(*, error: BaseException | None = None, state: str = "failed", **ti_changes: Any) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="sales", run_id="manual__1", task_id="load", map_index=-1, try_number=1, max_tries=0, state=state,
        hostname="worker-7",
    )
    vars(ti).update(ti_changes)
    dag = DAG("sales", schedule=None, start_date=pendulum.datetime(2025, 1, 1))  # Airflow 3.0's notifier reads it
    return {"ti": ti, "dag": dag, "exception": error, "logical_date": pendulum.datetime(2025, 3, 1, tz="UTC")}


def test_templated_fields_are_the_documented_ones() -> None:
    params = (M365EmailNotifier.__doc__ or "").split(":param ")[1:]
    templated = {param.partition(":")[0] for param in params if "(templated)" in param}
    assert templated == set(M365EmailNotifier.template_fields)


def test_markup_in_the_exception_is_shown_as_text_not_run(m365_sandbox: Sandbox) -> None:
    M365EmailNotifier(to="ops@contoso.com")(task_context(error=RuntimeError(HOSTILE)))

    (stored,) = m365_sandbox.messages()
    html, text = bodies(m365_sandbox.parsed(stored.id))
    elements = AlertPage(html)
    assert "script" not in elements.tags and "img" not in elements.tags
    assert elements.pre == [f"RuntimeError: {HOSTILE}"]  # the whole exception, as text, inside its <pre>
    assert elements.links == [f"{BASE_URL}/dags/sales/runs/manual__1/tasks/load?try_number=1"]
    assert f"RuntimeError: {HOSTILE}" in text


def test_own_templates_come_from_the_dags_search_path_and_see_the_alert(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "on_call.html").write_text("<p>{{ alert.headline }} on {{ ti.hostname }}: {{ alert.link }}</p>")
    (tmp_path / "on_call.txt").write_text("{{ alert.tries }} for {{ params.team }}")
    dag = DAG("sales", schedule=None, start_date=pendulum.datetime(2025, 1, 1), template_searchpath=[str(tmp_path)])
    notifier = M365EmailNotifier(
        to="{{ params.team }}@contoso.com",
        subject="{{ dag.dag_id }} needs you",
        html_content="on_call.html",
        text_content="on_call.txt",
    )
    notifier({**task_context(error=ValueError("x")), "dag": dag, "params": {"team": "data-team"}})

    (stored,) = m365_sandbox.messages()
    assert stored.envelope_to == ("data-team@contoso.com",)
    assert stored.subject == "sales needs you"
    html, text = bodies(m365_sandbox.parsed(stored.id))
    link = f"{BASE_URL}/dags/sales/runs/manual__1/tasks/load?try_number=1"
    assert html.strip() == f"<p>Task failed on worker-7: {link}</p>"
    assert text.strip() == "try 1 of 1 for data-team"


def test_secrets_airflow_masks_are_masked_in_the_alert_too(m365_sandbox: Sandbox) -> None:
    from airflow_provider_m365mail.airflow_compat import mask_secret

    mask_secret("Warehouse-Passw0rd-42")
    error = ConnectionError("login as etl:Warehouse-Passw0rd-42@warehouse failed")
    M365EmailNotifier(to="ops@contoso.com")(task_context(error=error))

    (stored,) = m365_sandbox.messages()
    raw = m365_sandbox.call(lambda: m365_sandbox.state.raw(stored.id)).decode()
    assert "Warehouse-Passw0rd-42" not in raw
    html, _ = bodies(m365_sandbox.parsed(stored.id))
    assert "etl:***@warehouse" in html


def test_a_masked_secret_cut_by_the_exception_limit_is_not_half_mailed(m365_sandbox: Sandbox) -> None:
    from airflow_provider_m365mail.airflow_compat import mask_secret
    from airflow_provider_m365mail.core.alert import EXCEPTION_LIMIT

    secret = "Boundary-Passw0rd-Secret-77"
    mask_secret(secret)
    head = EXCEPTION_LIMIT - 1000  # where summarize_exception cuts a long text
    padding = "p" * (head - len("ConnectionError: ") - 10)
    error = ConnectionError(padding + secret + " went wrong" + "q" * 10_000)
    M365EmailNotifier(to="ops@contoso.com")(task_context(error=error))

    (stored,) = m365_sandbox.messages()
    raw = m365_sandbox.call(lambda: m365_sandbox.state.raw(stored.id)).decode()
    assert secret[:10] not in raw


def test_the_connection_follows_the_email_backend_setting_only_when_it_is_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "m365mail_alerts")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow.utils.email.send_email_smtp")
    assert default_conn_id() == "m365mail_default"
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_m365mail.email_backend.send_email")
    assert default_conn_id() == "m365mail_alerts"


def test_a_dag_callback_with_airflows_minimal_context_reports_the_run(m365_sandbox: Sandbox) -> None:
    # What the DAG processor passes when the run's last task instance is gone: the DAG, the run id, the reason.
    dag = DAG("sales", schedule=None, start_date=pendulum.datetime(2025, 1, 1))
    M365EmailNotifier(to="ops@contoso.com")({"dag": dag, "run_id": "manual__1", "reason": "task_failure"})

    (stored,) = m365_sandbox.messages()
    assert stored.subject.strip() == "Airflow: DAG run failed: sales (run manual__1)"
    html, text = bodies(m365_sandbox.parsed(stored.id))
    assert "task_failure" in text
    assert AlertPage(html).links == [f"{BASE_URL}/dags/sales/runs/manual__1"]


def test_a_context_without_task_or_run_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="names no task instance and no DAG run"):
        alert_from_context({"exception": None})


async def test_a_deadline_alert_runs_in_airflows_callback_trigger(m365_sandbox: Sandbox) -> None:
    callback = pytest.importorskip(
        "airflow.triggers.callback", reason="the triggerer runs deadline alert callbacks from Airflow 3.2"
    )
    CallbackTrigger = callback.CallbackTrigger

    context = {
        "dag_run": {"dag_id": "sales", "dag_run_id": "scheduled__2025-03-01", "state": "running",
                    "logical_date": "2025-03-01T00:00:00Z"},
        "deadline": {"id": "0197", "deadline_time": datetime(2025, 3, 1, 6, tzinfo=timezone.utc)},
    }
    trigger = CallbackTrigger(
        callback_path=f"{M365EmailNotifier.__module__}.{M365EmailNotifier.__qualname__}",
        callback_kwargs={"to": "ops@contoso.com", "context": context},
    )
    events = [event.payload async for event in trigger.run()]

    assert events[-1]["state"] == "success", events[-1]
    (stored,) = m365_sandbox.messages()
    # .strip(): Python folds a subject this long onto the next line and reads the fold's space back as text.
    assert stored.subject.strip() == "Airflow: DAG run missed its deadline: sales (run scheduled__2025-03-01)"
    html, text = bodies(m365_sandbox.parsed(stored.id))
    assert "2025-03-01T06:00:00+00:00" in text
    assert AlertPage(html).links == [f"{BASE_URL}/dags/sales/runs/scheduled__2025-03-01"]


@pytest.mark.skipif(AIRFLOW_VERSION < (3, 1), reason="notifiers can be awaited (async_notify) from Airflow 3.1")
async def test_awaiting_the_notifier_sends_from_the_running_loop_with_the_same_message_id(
    m365_sandbox: Sandbox,
) -> None:
    retry: dict[str, Any] = {"error": ValueError("late"), "state": "up_for_retry", "max_tries": 2}
    context = task_context(**retry)
    await M365EmailNotifier(to="ops@contoso.com", context=context)
    # The blocking form runs where callbacks run: on a thread without a loop.
    await asyncio.to_thread(M365EmailNotifier(to="ops@contoso.com"), task_context(**retry))

    first, second = m365_sandbox.messages()
    assert first.subject.strip() == "Airflow: Task will retry: sales.load (run manual__1, try 1 of 3)"
    assert first.message_id == second.message_id  # the sync and async paths build the same alert


def test_the_notifier_takes_the_operators_sender_options_and_a_whole_body_template(
    m365_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_SALES", json.dumps(connection))
    body = tmp_path / "alert_body.html"
    body.write_text("<p>{{ alert.headline }} in {{ ti.dag_id }}</p>")
    notifier = M365EmailNotifier(
        to="ops@contoso.com",
        on_behalf_of="data-team@contoso.com",
        reply_to="{{ ti.dag_id }}-owners@contoso.com",
        headers={"X-Alert-Dag": "{{ ti.dag_id }}"},
        importance="high",
        template=str(body),
        conn_id="m365mail_{{ ti.dag_id }}",
    )
    notifier(task_context(error=ValueError("x")))

    (stored,) = m365_sandbox.messages()
    parsed = m365_sandbox.parsed(stored.id)
    assert parsed["From"].addresses[0].addr_spec == "data-team@contoso.com"
    assert parsed["Sender"].addresses[0].addr_spec == "airflow@contoso.com"
    assert parsed["Reply-To"].addresses[0].addr_spec == "sales-owners@contoso.com"
    assert parsed["X-Alert-Dag"] == "sales"
    assert parsed["Importance"] == "High"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Task failed in sales</p>"


def test_a_template_and_html_content_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "body.html").write_text("<p>x</p>")
    with pytest.raises(ValueError, match="html_content or template, not both"):
        M365EmailNotifier(to="ops@contoso.com", html_content="<p>y</p>", template=str(tmp_path / "body.html"))


# Each service's ready connection, and the sender and sandbox endpoint the alert must come through.
SERVICES = {"ews": ("airflow@contoso.com", "ews"), "hve": ("hve@contoso.com", "hve"),
            "acs": ("DoNotReply@contoso.com", "acs"), "acs_smtp": ("DoNotReply@contoso.com", "acs_smtp")}


def use_service(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, connection: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(sandbox.settings["airflow_connections"][connection]))


@pytest.mark.parametrize("connection", list(SERVICES))
def test_the_alert_goes_out_over_the_service_the_connection_names(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, connection: str
) -> None:
    use_service(m365_sandbox, monkeypatch, connection)

    M365EmailNotifier(to="ops@contoso.com")(task_context(error=RuntimeError("disk full")))

    (stored,) = m365_sandbox.messages()
    assert (stored.envelope_from, stored.transport) == SERVICES[connection]
    assert stored.envelope_to == ("ops@contoso.com",)
    assert "RuntimeError: disk full" in bodies(m365_sandbox.parsed(stored.id))[1]


@pytest.mark.skipif(AIRFLOW_VERSION < (3, 1), reason="notifiers can be awaited (async_notify) from Airflow 3.1")
@pytest.mark.parametrize("connection", ["hve", "acs", "acs_smtp"])
async def test_an_awaited_alert_goes_out_over_high_volume_email_and_acs(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, connection: str
) -> None:
    use_service(m365_sandbox, monkeypatch, connection)

    await M365EmailNotifier(to="ops@contoso.com, alice@contoso.com", context=task_context(error=OSError("gone")))

    (stored,) = m365_sandbox.messages()
    assert (stored.envelope_from, stored.transport) == SERVICES[connection]
    assert sorted(stored.envelope_to) == ["alice@contoso.com", "ops@contoso.com"]
    assert "OSError: gone" in bodies(m365_sandbox.parsed(stored.id))[1]


def test_an_alert_to_an_address_outside_the_tenant_over_hve_is_refused_before_connecting(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_service(m365_sandbox, monkeypatch, "hve")

    # notify() itself: Airflow 3.0's BaseNotifier.__call__ logs a notifier's exception instead of raising it.
    with pytest.raises(MessageValidationError, match=r"oncall@fabrikam\.example"):
        M365EmailNotifier(to="oncall@fabrikam.example").notify(task_context(error=RuntimeError("x")))

    assert m365_sandbox.state.stats["smtp_sessions"] == 0

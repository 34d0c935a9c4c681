"""M365EmailOperator: its templated fields, and execute() against the sandbox in this process.

The full task lifecycle (templates rendered by Airflow, XCom, retries) runs in ``test_example_dags``; here
``execute`` gets a context holding what it reads: the task instance's identifying keys.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_m365mail.airflow_compat import AirflowFailException
from airflow_provider_m365mail.operators.m365mail import M365EmailOperator
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

ASSETS = Path(__file__).resolve().parents[2] / "airflow_provider_m365mail" / "example_dags" / "assets"


@pytest.fixture(autouse=True)
def default_connection(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(connection))


class TaskStateStore:
    """The blocking accessor Airflow 3.3 puts in ``context["task_state_store"]``, over a dict, counting writes."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))
        self.writes += 1


def context_for(
    task_id: str,
    *,
    run_id: str = "manual__1",
    map_index: int = -1,
    try_number: int = 1,
    store: TaskStateStore | None = None,
) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="reports", run_id=run_id, task_id=task_id, map_index=map_index, try_number=try_number)
    return {"ti": ti} if store is None else {"ti": ti, "task_state_store": store}


def test_templated_fields_are_the_documented_ones() -> None:
    assert M365EmailOperator.template_fields == (
        "to",
        "cc",
        "bcc",
        "subject",
        "html_content",
        "text_content",
        "files",
        "from_email",
        "on_behalf_of",
        "reply_to",
        "headers",
    )
    assert M365EmailOperator.template_ext == (".html",)
    assert M365EmailOperator.template_fields_renderers == {"html_content": "html"}
    params = (M365EmailOperator.__doc__ or "").split(":param ")[1:]
    templated = {param.partition(":")[0] for param in params if "(templated)" in param}
    assert templated == set(M365EmailOperator.template_fields)


def test_html_template_files_and_jinja_render() -> None:
    with DAG("templating", schedule=None, start_date=pendulum.datetime(2025, 1, 1), template_searchpath=[str(ASSETS)]):
        operator = M365EmailOperator(
            task_id="t",
            to="{{ params.team }}@contoso.com",
            subject="Report {{ ds }}",
            html_content="daily_report.html",
            headers={"X-Run": "{{ run_id }}"},
            params={"team": "data-team"},
        )
    operator.resolve_template_files()
    assert "cid:logo" in operator.html_content
    context = {"ds": "2025-03-01", "run_id": "manual__x", "params": {"team": "data-team"}, "dag": operator.dag}
    operator.render_template_fields(context)  # type: ignore[arg-type]
    assert operator.to == "data-team@contoso.com"
    assert operator.subject == "Report 2025-03-01"
    assert "Orders for 2025-03-01" in operator.html_content
    assert operator.headers == {"X-Run": "manual__x"}


def test_execute_sends_and_returns_the_stored_message_ids(m365_sandbox: Sandbox) -> None:
    operator = M365EmailOperator(
        task_id="report",
        to="alice@contoso.com; bob@contoso.com",
        subject="Report",
        html_content='<p><img src="cid:logo"> done</p>',
        files=[str(ASSETS / "report.csv")],
        inline_images={"logo": str(ASSETS / "logo.png")},
        from_email="reports@contoso.com",
    )
    returned = operator.execute(context_for("report"))  # type: ignore[arg-type]
    (stored,) = m365_sandbox.messages()
    assert returned["message_ids"] == returned["delivered_now"] == [stored.message_id]
    parsed = m365_sandbox.parsed(stored.id)
    parts = {part.get_filename(): part for part in parsed.walk() if part.get_filename()}
    assert parts["report.csv"].get_content_disposition() == "attachment"
    assert parts["logo.png"]["Content-ID"] == "<logo>"
    assert parts["logo.png"].get_content_type() == "image/png"


def test_a_retried_task_reuses_its_message_id_and_a_mapped_one_does_not(m365_sandbox: Sandbox) -> None:
    operator = M365EmailOperator(task_id="notify", to="bob@contoso.com", subject="Ping", text_content="ping")
    first, again, mapped, other_run = (
        operator.execute(context)["message_ids"]  # type: ignore[arg-type]
        for context in (context_for("notify"), context_for("notify"), context_for("notify", map_index=3),
                        context_for("notify", run_id="manual__2"))
    )
    assert first == again
    assert len({first[0], mapped[0], other_run[0]}) == 3
    assert [m.message_id for m in m365_sandbox.messages()] == [*first, *again, *mapped, *other_run]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"subject": "Report\r\nBcc: eve@fabrikam.com"}, "subject"),
        ({"subject": "x", "from_email": "mallory@contoso.com"}, "from_email"),
        ({"subject": "x", "to": "not an address"}, "to"),
        ({"subject": "x", "headers": {"Bcc": "eve@fabrikam.com"}}, "headers"),
        ({"subject": "x", "files": ["/nonexistent/report.csv"]}, "attachments"),
    ],
)
def test_invalid_input_fails_the_task_without_retry_before_any_network_io(
    m365_sandbox: Sandbox, arguments: dict[str, Any], field: str
) -> None:
    operator = M365EmailOperator(task_id="bad", **{"to": "bob@contoso.com", "text_content": "x", **arguments})
    with pytest.raises(AirflowFailException, match=re.escape(field)):
        operator.execute(context_for("bad"))  # type: ignore[arg-type]
    stats = m365_sandbox.call(lambda: dict(m365_sandbox.state.stats))
    assert stats.get("smtp_sessions", 0) == stats.get("token_requests", 0) == 0


def test_send_separately_gives_each_recipient_a_message_with_a_stable_message_id(m365_sandbox: Sandbox) -> None:
    operator = M365EmailOperator(task_id="merge", to=["alice@contoso.com", "bob@contoso.com", "carol@example.org"],
                                 subject="Your figures", text_content="Here they are.", send_separately=True)
    first = operator.execute(context_for("merge"))["message_ids"]  # type: ignore[arg-type]
    stored = m365_sandbox.messages()
    assert [m.envelope_to for m in stored] == [("alice@contoso.com",), ("bob@contoso.com",), ("carol@example.org",)]
    assert [m.message_id for m in stored] == first and len(set(first)) == 3
    assert [m365_sandbox.parsed(m.id)["To"] for m in stored] == ["alice@contoso.com", "bob@contoso.com",
                                                                  "carol@example.org"]
    assert m365_sandbox.state.stats["smtp_sessions"] == 1  # one connection for all three
    assert operator.execute(context_for("merge", try_number=2))["message_ids"] == first  # type: ignore[arg-type]


def test_a_cleared_task_with_a_ledger_sends_nothing_again_unless_asked_to_resend(m365_sandbox: Sandbox) -> None:
    store = TaskStateStore()
    merge = {"to": ["alice@contoso.com", "bob@contoso.com"], "subject": "Figures", "text_content": "x",
             "send_separately": True}
    first = M365EmailOperator(task_id="merge", **merge).execute(context_for("merge", store=store))  # type: ignore[arg-type]
    assert len(first["delivered_now"]) == 2 and store.writes == 2  # the record, then "finished"
    cleared = M365EmailOperator(task_id="merge", **merge).execute(  # type: ignore[arg-type]
        context_for("merge", try_number=2, store=store)
    )
    assert cleared["delivered_now"] == [] and cleared["delivered_earlier"] == first["delivered_now"]
    assert "resend=True sends everything again" in cleared["skipped"][0]
    assert len(m365_sandbox.messages()) == 2
    resent = M365EmailOperator(task_id="merge", resend=True, **merge).execute(  # type: ignore[arg-type]
        context_for("merge", try_number=3, store=store)
    )
    assert resent["generation"] == 1 and len(resent["delivered_now"]) == 2
    assert not set(resent["delivered_now"]) & set(first["delivered_now"])
    assert sorted(a for m in m365_sandbox.messages() for a in m.envelope_to) == [
        "alice@contoso.com", "alice@contoso.com", "bob@contoso.com", "bob@contoso.com"]


def test_without_a_task_state_store_the_operator_says_a_retry_cannot_skip_what_was_delivered(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_m365mail")
    M365EmailOperator(task_id="old", to="bob@contoso.com", subject="x", text_content="x").execute(
        context_for("old")  # type: ignore[arg-type]
    )
    assert "no task state store (3.3+)" in caplog.text


def test_send_separately_with_cc_fails_the_task_naming_the_field(m365_sandbox: Sandbox) -> None:
    operator = M365EmailOperator(task_id="merge", to="bob@contoso.com", cc="alice@contoso.com", subject="x",
                                 text_content="x", send_separately=True)
    with pytest.raises(AirflowFailException, match="cc: sending separately"):
        operator.execute(context_for("merge"))  # type: ignore[arg-type]
    assert m365_sandbox.messages() == []


REFUSE_FIRST_RECIPIENT = Fault("smtp", "reply", code=550, message="5.1.10 RESOLVER.ADR.RecipientNotFound; not found",
                               stage="rcpt")


@pytest.mark.parametrize("fail", [True, False])
def test_refused_recipients_fail_the_task_only_when_asked(m365_sandbox: Sandbox, fail: bool) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(REFUSE_FIRST_RECIPIENT))
    operator = M365EmailOperator(task_id="partial", to="gone@contoso.com, bob@contoso.com", subject="Figures",
                                 text_content="x", fail_on_refused_recipients=fail)
    if fail:
        with pytest.raises(AirflowFailException, match=r"gone@contoso\.com: 550 5\.1\.10.*1 other\(s\) got"):
            operator.execute(context_for("partial"))  # type: ignore[arg-type]
    else:
        operator.execute(context_for("partial"))  # type: ignore[arg-type]
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_to == ("bob@contoso.com",)


def test_a_retried_graph_task_does_not_send_again_what_sent_items_holds(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = m365_sandbox.settings["airflow_connections"]["graph"]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(graph))
    operator = M365EmailOperator(task_id="graph", to="bob@contoso.com", subject="Once", text_content="x")
    first = operator.execute(context_for("graph"))["message_ids"]  # type: ignore[arg-type]
    again = operator.execute(context_for("graph", try_number=2))  # type: ignore[arg-type]
    assert again["message_ids"] == again["delivered_earlier"] == first
    assert [m.message_id for m in m365_sandbox.messages()] == first


# -- in a real Airflow run -----------------------------------------------------------------------------------

TEST_DAGS = Path(__file__).parent / "dags"


@pytest.fixture(scope="module")
def delivery_run(dag_runner: Any) -> Any:
    return dag_runner.run("m365mail_delivery", dags_folder=TEST_DAGS,
                          before=lambda sandbox: sandbox.state.add_fault(replace(REFUSE_FIRST_RECIPIENT)))


def test_a_run_fails_the_task_with_a_refused_recipient_and_sends_the_mail_merge(
    delivery_run: Any, dag_runner: Any
) -> None:
    assert delivery_run.task_states == {"partly_refused": "failed", "statements": "success"}
    log = delivery_run.task_log("partly_refused")
    assert "gone@contoso.com: 550 5.1.10" in log and "1 other(s) got the message" in log
    figures = [m for m in delivery_run.messages if m.subject.startswith("Figures")]
    assert [m.envelope_to for m in figures] == [("bob@contoso.com",)]
    statements = [m for m in delivery_run.messages if m.subject.startswith("Your statement")]
    assert sorted(m.envelope_to for m in statements) == [("alice@contoso.com",), ("bob@contoso.com",),
                                                          ("carol@fabrikam.com",)]
    assert sorted(delivery_run.return_values["statements"]["message_ids"]) == sorted(m.message_id for m in statements)
    dag_runner.assert_no_secrets(delivery_run.output)


BUSY = Fault("smtp", "reply", code=421, message="4.3.2 Service not available, closing transmission channel",
             stage="mail", count=1000)


@pytest.fixture(scope="module")
def retries_run(dag_runner: Any) -> Any:
    return dag_runner.run("m365mail_retries", dags_folder=TEST_DAGS,
                          field_changes={"m365mail_smtp_basic": {"password": "not-the-password"}},
                          # each try gives up on the busy server after 1 s instead of the default 300 s budget
                          extra_changes={"m365mail_default": {"retry_budget_s": 1}},
                          before=lambda sandbox: sandbox.state.add_fault(replace(BUSY)))


def test_a_wrong_password_fails_the_task_on_its_first_try_despite_retries(retries_run: Any) -> None:
    assert retries_run.task_states["wrong_password"] == "failed"
    assert retries_run.try_numbers["wrong_password"] == 1  # of the 4 tries retries=3 allows
    log = retries_run.task_log("wrong_password")
    assert "AirflowFailException" in log and "535" in log
    assert retries_run.messages == []


def test_a_transient_failure_still_uses_the_tasks_retries(retries_run: Any) -> None:
    assert retries_run.task_states["server_busy"] == "failed"
    assert retries_run.try_numbers["server_busy"] == 2
    assert "AirflowFailException" not in retries_run.task_log("server_busy")


@pytest.mark.parametrize(
    ("fault", "permanent"),
    [
        (Fault("smtp", "reply", code=550, message="5.1.10 RESOLVER.ADR.RecipientNotFound; not found", stage="rcpt"),
         True),
        (Fault("smtp", "reply", code=421, message="4.3.2 Service not available", stage="mail", count=1000), False),
    ],
)
def test_permanent_server_refusals_fail_without_retry_and_transient_ones_raise_as_they_are(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, fault: Fault, permanent: bool
) -> None:
    from airflow_provider_m365mail.core.errors import TransientSendError

    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    # a one-second retry budget: the transient refusal is raised after a retry or two, not after five minutes
    short_budget = {**connection, "extra": {**connection["extra"], "retry_budget_s": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(short_budget))
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(fault))
    operator = M365EmailOperator(task_id="refused", to="gone@contoso.com", subject="x", text_content="x")
    with pytest.raises(AirflowFailException if permanent else TransientSendError):
        operator.execute(context_for("refused"))  # type: ignore[arg-type]
    assert m365_sandbox.messages() == []


@pytest.mark.parametrize("files", [str, Path])
def test_one_path_as_files_attaches_that_file(m365_sandbox: Sandbox, tmp_path: Path, files: Any) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n", encoding="utf-8")
    operator = M365EmailOperator(task_id="one_file", to="bob@contoso.com", subject="x", text_content="x",
                                 files=files(report))
    operator.execute(context_for("one_file"))  # type: ignore[arg-type]
    (stored,) = m365_sandbox.messages()
    parts = [p.get_filename() for p in m365_sandbox.parsed(stored.id).walk() if p.get_filename()]
    assert parts == ["report.csv"]


def test_an_acs_operation_ending_failed_fails_the_task_with_the_services_error(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["acs"]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(connection))
    suppressed = "EmailDroppedAllRecipientsSuppressed: All recipients are suppressed."
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(Fault("acs", "fail_operation", message=suppressed)))
    operator = M365EmailOperator(task_id="invoice", to="customer@fabrikam.example", subject="x", text_content="x")

    with pytest.raises(AirflowFailException, match=r"EmailDroppedAllRecipientsSuppressed.*recipients are suppressed"):
        operator.execute(context_for("invoice"))  # type: ignore[arg-type]

    assert m365_sandbox.state.stats["acs_requests"] >= 1 and m365_sandbox.messages() == []

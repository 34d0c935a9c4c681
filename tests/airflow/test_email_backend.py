"""``[email] email_backend = airflow_provider_m365mail.email_backend.send_email``: Airflow's own mail through M365.

Airflow 3.3's task runner still sends ``email_on_failure`` through a configured backend (wrapped in its
``_LegacyEmailBackendNotifier``), passing ``to, subject, html_content, conn_id=..., from_email=...``; the DAG run
below shows that path end to end. The other tests call the backend as Airflow's ``send_email`` helper does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alert_page import AlertPage

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION
from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.email_backend import send_email
from airflow_provider_m365mail.get_provider_info import EMAIL_BACKEND
from airflow_provider_m365mail.sandbox.server import Sandbox

TEST_DAGS = Path(__file__).parent / "dags"
ASSETS = Path(__file__).resolve().parents[2] / "airflow_provider_m365mail" / "example_dags" / "assets"


@pytest.fixture(scope="module")
def email_on_failure_run(dag_runner: Any) -> Any:
    config = {
        "AIRFLOW__EMAIL__EMAIL_BACKEND": EMAIL_BACKEND,
        "AIRFLOW__EMAIL__EMAIL_CONN_ID": "m365mail_default",
        "AIRFLOW__API__BASE_URL": "https://airflow.contoso.com",
    }
    return dag_runner.run("m365mail_alerts_email_backend", dags_folder=TEST_DAGS, config=config)


@pytest.fixture
def default_connection(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(connection))


@pytest.mark.airflow
@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 1),
    reason="Airflow 3.0's task runner fails rendering its own email_on_failure body (RuntimeTaskInstance has no "
    "mark_success_url) before it calls any email backend",
)
def test_email_on_failure_reaches_the_mailbox_through_the_backend(email_on_failure_run: Any, dag_runner: Any) -> None:
    assert email_on_failure_run.task_states == {"fails": "failed"}
    stored, message = email_on_failure_run.received("Airflow alert: ")
    assert stored.envelope_to == ("ops@contoso.com",)
    # Airflow passes "airflow@airflow" when [email] from_email is unset: the connection's own address is used.
    assert message["From"].addresses[0].addr_spec == "airflow@contoso.com"
    html = message.get_body(("html",)).get_content()
    assert "Try 1 out of 1" in html
    # Airflow escapes the exception in its own alert body from 3.2 (3.0 and 3.1 put it in raw); the backend sends
    # the body Airflow hands it, unchanged.
    if AIRFLOW_VERSION >= (3, 2):
        assert "&lt;b&gt;disk&lt;/b&gt; full on /data" in html
        assert "b" not in AlertPage(html).tags
    else:
        assert "<b>disk</b> full on /data" in html
    assert any(
        link.startswith("https://airflow.contoso.com/dags/m365mail_alerts_email_backend/runs/")
        and link.endswith("/tasks/fails?try_number=1")
        for link in AlertPage(html).links
    )
    dag_runner.assert_no_secrets(email_on_failure_run.output)


@pytest.mark.usefixtures("default_connection")
def test_airflows_send_email_helper_passes_every_field_through(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.utils.email import send_email as airflow_send_email

    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", EMAIL_BACKEND)
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "m365mail_default")
    monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", "Contoso Reports <reports@contoso.com>")
    airflow_send_email(
        ["alice@contoso.com", "bob@contoso.com"],
        "Nightly export",
        "<p>Attached.</p>",
        files=[str(ASSETS / "report.csv")],
        cc="data-team@contoso.com",
        bcc=["airflow@contoso.com"],
        custom_headers={"X-Export-Id": 42},
    )

    (stored,) = m365_sandbox.messages()
    message = m365_sandbox.parsed(stored.id)
    assert sorted(stored.envelope_to) == [
        "airflow@contoso.com", "alice@contoso.com", "bob@contoso.com", "data-team@contoso.com",
    ]
    assert message["From"].addresses[0].display_name == "Contoso Reports"
    assert stored.envelope_from == "reports@contoso.com"
    assert message["Bcc"] is None
    assert message["X-Export-Id"] == "42"
    assert [part.get_filename() for part in message.iter_attachments()] == ["report.csv"]


@pytest.mark.usefixtures("default_connection")
def test_a_dry_run_checks_the_message_and_sends_nothing(m365_sandbox: Sandbox) -> None:
    send_email("bob@contoso.com", "Dry", "<p>x</p>", dryrun=True)
    with pytest.raises(MessageValidationError, match="to"):
        send_email("not an address", "Dry", "<p>x</p>", dryrun=True)
    assert m365_sandbox.messages() == []


def test_a_missing_or_foreign_connection_names_the_setting_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="email_conn_id: connection 'm365mail_nowhere' does not exist") as err:
        send_email("bob@contoso.com", "x", "<p>x</p>", conn_id="m365mail_nowhere")
    assert "AIRFLOW__EMAIL__EMAIL_CONN_ID" in str(err.value.hint)

    # Airflow's email_conn_id defaults to smtp_default, an SMTP provider connection.
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({"conn_type": "smtp", "host": "localhost"}))
    with pytest.raises(ConfigurationError, match="'smtp_default' has type 'smtp', not 'm365mail'"):
        send_email("bob@contoso.com", "x", "<p>x</p>", conn_id="smtp_default")


@pytest.mark.parametrize(("connection", "sender"), [
    ("ews", "airflow@contoso.com"), ("hve", "hve@contoso.com"), ("acs", "DoNotReply@contoso.com"),
    ("acs_smtp", "DoNotReply@contoso.com"),
])
def test_the_backend_sends_over_the_service_the_connection_names(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, connection: str, sender: str
) -> None:
    connection_json = m365_sandbox.settings["airflow_connections"][connection]
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_DEFAULT", json.dumps(connection_json))

    # Airflow's helper passes "airflow@airflow" when [email] from_email is unset: the connection's sender is used.
    send_email("bob@contoso.com", "Nightly export", "<p>Done.</p>", cc="alice@contoso.com",
               from_email="airflow@airflow")

    (stored,) = m365_sandbox.messages()
    assert (stored.transport, stored.envelope_from, stored.subject) == (connection, sender, "Nightly export")
    assert sorted(stored.envelope_to) == ["alice@contoso.com", "bob@contoso.com"]


@pytest.mark.usefixtures("default_connection")
def test_one_path_as_files_is_checked_as_one_file(m365_sandbox: Sandbox, tmp_path: Any) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n", encoding="utf-8")
    send_email("bob@contoso.com", "Dry", "<p>x</p>", files=str(report), dryrun=True)  # type: ignore[arg-type]
    with pytest.raises(MessageValidationError, match=r"file not found: /nowhere/report\.csv"):
        send_email("bob@contoso.com", "Dry", "<p>x</p>", files="/nowhere/report.csv", dryrun=True)  # type: ignore[arg-type]
    assert m365_sandbox.messages() == []


"""Run DAGs with a real ``airflow dags test`` against the sandbox and check what Exchange (the sandbox) received.

Each DAG runs once per module; the tests below read the snapshot. The example DAG covers send as, send on behalf,
both bodies, an attachment, an inline image, non-ASCII text, a custom header, Bcc and the XCom Message-IDs; the
refusals DAG covers input rejected before any network I/O and a permission Exchange refuses.
"""

from __future__ import annotations

from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.airflow

TEST_DAGS = Path(__file__).parent / "dags"


@pytest.fixture(scope="module")
def example_run(dag_runner: Any) -> Any:
    return dag_runner.run("example_m365mail_send")


@pytest.fixture(scope="module")
def refusals_run(dag_runner: Any) -> Any:
    allowed = "reports@contoso.com,data-team@contoso.com,alerts@contoso.com"
    return dag_runner.run(
        "m365mail_refusals", dags_folder=TEST_DAGS, extra_changes={"m365mail_default": {"allowed_senders": allowed}}
    )


def header_addresses(message: Any, name: str) -> list[str]:
    return [address for _, address in getaddresses(message.get_all(name, []))]


def test_the_example_dag_run_succeeds(example_run: Any) -> None:
    assert example_run.process.returncode == 0, example_run.output[-3000:]
    assert example_run.task_states == {
        "send_report_as_team_mailbox": "success",
        "notify_on_behalf_of_team": "success",
    }
    assert example_run.stats["messages_accepted"] == 2


def test_send_as_shows_only_the_team_mailbox(example_run: Any) -> None:
    stored, message = example_run.received("Tagesbericht ")
    assert message["From"].addresses[0].addr_spec == "reports@contoso.com"
    assert message["From"].addresses[0].display_name == "Contoso Reports"
    assert message["Sender"] is None
    assert stored.envelope_from == "reports@contoso.com"
    assert stored.principal == "airflow@contoso.com"
    assert stored.transport == "smtp_submission"
    assert header_addresses(message, "Reply-To") == ["data-team@contoso.com"]


def test_send_on_behalf_names_the_account_as_sender(example_run: Any) -> None:
    stored, message = example_run.received("Report for ")
    assert header_addresses(message, "From") == ["data-team@contoso.com"]
    assert header_addresses(message, "Sender") == ["airflow@contoso.com"]
    assert stored.envelope_from == "airflow@contoso.com"


def test_recipients_include_bcc_in_the_envelope_only(example_run: Any) -> None:
    stored, message = example_run.received("Tagesbericht ")
    assert sorted(stored.envelope_to) == [
        "airflow@contoso.com",
        "alice@contoso.com",
        "bob@contoso.com",
        "data-team@contoso.com",
    ]
    assert header_addresses(message, "To") == ["alice@contoso.com", "bob@contoso.com"]
    assert header_addresses(message, "Cc") == ["data-team@contoso.com"]
    assert message["Bcc"] is None
    assert b"airflow@contoso.com" not in message.as_bytes().split(b"\n\n", 1)[0].replace(b"Return-Path", b"")


def test_non_ascii_subject_and_display_name_survive(example_run: Any) -> None:
    _, message = example_run.received("Tagesbericht ")
    assert message["Subject"].endswith(": Umsätze ✓")
    assert message["To"].addresses[0].display_name == "Zoë Müller"
    raw_headers = message.as_bytes().split(b"\n\n", 1)[0]
    assert raw_headers.isascii(), "non-ASCII header text must be RFC 2047 encoded"


def test_both_bodies_the_attachment_and_the_inline_image_arrive(example_run: Any) -> None:
    _, message = example_run.received("Tagesbericht ")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Contoso daily report for " in text
    assert '<img src="cid:logo"' in html
    assert "Orders for " in html and "{{" not in html  # the .html template file was found and rendered
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert parts["report.csv"].get_content_disposition() == "attachment"
    assert "Süd,97".encode() in parts["report.csv"].get_payload(decode=True)
    assert parts["logo.png"]["Content-ID"] == "<logo>"
    assert parts["logo.png"].get_content().startswith(b"\x89PNG")


def test_custom_header_and_importance(example_run: Any) -> None:
    _, message = example_run.received("Tagesbericht ")
    assert message["X-Contoso-Report"].startswith("daily/")
    assert message["Importance"].lower() == "high"


def test_xcom_holds_the_message_ids_the_server_stored(example_run: Any) -> None:
    report, _ = example_run.received("Tagesbericht ")
    notice, _ = example_run.received("Report for ")
    ids = {task: account["message_ids"] for task, account in example_run.return_values.items()}
    assert ids == {
        "send_report_as_team_mailbox": [report.message_id],
        "notify_on_behalf_of_team": [notice.message_id],
    }
    assert example_run.return_values["notify_on_behalf_of_team"]["delivered_now"] == [notice.message_id]


def test_invalid_input_fails_before_any_network_io_naming_the_field(refusals_run: Any) -> None:
    assert refusals_run.process.returncode != 0
    assert refusals_run.task_states["subject_with_line_break"] == "failed"
    assert refusals_run.task_states["sender_outside_allow_list"] == "failed"
    # The task fails (without retries) with the core's message, which starts with the field's name.
    assert "AirflowFailException: subject: " in refusals_run.task_log("subject_with_line_break")
    outside = refusals_run.task_log("sender_outside_allow_list")
    assert "AirflowFailException: from_email: " in outside
    assert "allowed_senders" in outside
    # Only the third task reached the server; nothing was accepted.
    assert refusals_run.stats.get("smtp_sessions", 0) == 1
    assert refusals_run.messages == []


def test_a_refused_send_as_fails_with_the_exchange_code_and_the_fix(refusals_run: Any) -> None:
    assert refusals_run.task_states["send_as_without_grant"] == "failed"
    log = refusals_run.task_log("send_as_without_grant")
    assert "SendAsDeniedError: " in log
    assert "[550 5.7.60]" in log
    assert "Add-RecipientPermission" in log


def test_no_secret_or_token_reaches_airflows_output(dag_runner: Any, example_run: Any, refusals_run: Any) -> None:
    assert dag_runner.secrets()  # the scan has something to look for
    dag_runner.assert_no_secrets(example_run.output)
    dag_runner.assert_no_secrets(refusals_run.output)

"""A real ``airflow dags test`` run and the ``m365mail`` commands against Postfix, judged by the Maildirs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from postfix_server import MailServer

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.cli.send_test import TEST_HEADER, TEST_SUBJECT
from airflow_provider_m365mail.core.auth.tokens import clear_applications
from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow

DAGS = Path(__file__).parent / "dags"


def task_states(database: Path, dag_id: str) -> dict[str, str]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def dag_run(
    postfix_session: MailServer, postfix_connections: dict[str, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[str], dict[str, str], MailServer]]:
    """Run the Postfix DAG once (Airflow's own home, SQLite) and return its output, task states and the server."""
    postfix_session.clear_mail()
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-postfix"), connections=postfix_connections,
                           dags_folder=DAGS)
    airflow.migrate()
    process = airflow.dags_test("m365mail_postfix")
    yield process, task_states(airflow.database, "m365mail_postfix"), postfix_session


def test_the_dag_run_ends_as_expected(dag_run: Any) -> None:
    process, states, _ = dag_run
    assert states == {"send_as_reports": "success", "xoauth2_idn": "success", "send_as_refused": "failed",
                      "fails": "failed"}, process.stderr[-3000:]


def test_the_operator_sends_as_a_permitted_mailbox_to_every_recipient(dag_run: Any) -> None:
    _, _, postfix = dag_run
    # jörg@ is also in Cc of the failure alert: two messages, in the order the tasks happened to run.
    arrived = {r: postfix.wait_for_delivery(r, n) for r, n in (("bob@contoso.test", 1), ("jörg@contoso.test", 2),
                                                             ("carol@contoso.test", 1))}
    copies: dict[str, EmailMessage] = {}
    for recipient, messages in arrived.items():
        (copies[recipient],) = [m for m in messages if m["Subject"].startswith("Postfix report ")]
    for received in copies.values():
        assert received["From"] == "reports@contoso.test"
        assert received["To"] == "Bob <bob@contoso.test>"
        assert received["Cc"].addresses[0].addr_spec == "jörg@contoso.test"
        assert received["Cc"].addresses[0].display_name == "Jörg Müller"
        assert received["Reply-To"] == "ops@contoso.test"
        assert "Bcc" not in received
        assert "<p>Report for " in received.get_body(("html",)).get_content()
    assert len({m["Message-ID"] for m in copies.values()}) == 1


def test_xoauth2_through_dovecot_delivers_to_an_idn_domain(dag_run: Any) -> None:
    _, _, postfix = dag_run
    (received,) = postfix.wait_for_delivery("bob@xn--bcher-kva.test")
    assert received["Subject"] == "Postfix XOAUTH2"
    assert received["From"] == "airflow@contoso.test"
    assert "sasl_method=XOAUTH2, sasl_username=airflow@contoso.test" in postfix.log()


def test_a_sender_postfix_refuses_fails_the_task_with_send_as_denied(dag_run: Any) -> None:
    process, _, postfix = dag_run
    output = process.stdout + process.stderr
    assert "SendAsDeniedError" in output and "553" in output and "5.7.1" in output
    assert not [m for m in postfix.delivered("bob@contoso.test") if m["Subject"] == "Postfix refused"]


def test_the_notifier_reports_the_failure(dag_run: Any) -> None:
    _, _, postfix = dag_run
    alerts = [m for m in postfix.wait_for_delivery("ops@contoso.test") if "fails" in m["Subject"]]
    assert len(alerts) == 1, [m["Subject"] for m in postfix.delivered("ops@contoso.test")]
    assert "partition 7 is empty" in alerts[0].get_body(("html",)).get_content()
    assert alerts[0]["Cc"].addresses[0].addr_spec == "jörg@contoso.test"


@pytest.fixture
def cli_connection(
    postfix_connections: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for conn_id in ("m365mail_default", "m365mail_xoauth2"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(postfix_connections[conn_id]))
    clear_applications()
    yield
    clear_applications()


@pytest.mark.usefixtures("cli_connection")
@pytest.mark.parametrize("conn_id", ["m365mail_default", "m365mail_xoauth2"])
def test_send_test_delivers_one_marked_message(
    postfix: MailServer, capsys: pytest.CaptureFixture[str], conn_id: str
) -> None:
    code = main(["send-test", "--conn-id", conn_id, "--to", "bob@contoso.test"])
    output = capsys.readouterr()
    assert code == 0, output.out + output.err
    (received,) = postfix.wait_for_delivery("bob@contoso.test")
    assert (received["Subject"], received[TEST_HEADER]) == (TEST_SUBJECT, "send-test")
    assert "Server reply: 250 2.0.0 Ok: queued as" in output.out


@pytest.mark.usefixtures("cli_connection")
@pytest.mark.parametrize("conn_id", ["m365mail_default", "m365mail_xoauth2"])
def test_doctor_passes_every_step_and_sends_nothing(
    postfix: MailServer, capsys: pytest.CaptureFixture[str], conn_id: str
) -> None:
    code = main(["doctor", "--conn-id", conn_id, "--json"])
    output = capsys.readouterr()
    report = json.loads(output.out)
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert (code, report["ok"]) == (0, True), output.out
    assert (statuses["tls"], statuses["server"]) == ("pass", "pass")
    assert statuses["token"] == ("pass" if conn_id == "m365mail_xoauth2" else "skip")
    server = next(check for check in report["checks"] if check["name"] == "server")
    assert "authenticated as airflow@contoso.test" in server["detail"]
    assert postfix.delivered("bob@contoso.test") == [] and postfix.delivered("airflow@contoso.test") == []

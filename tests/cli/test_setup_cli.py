"""`m365mail setup --answers`: answers become a connection that MailSettings accepts and the doctor passes; a wrong
answer is refused naming its field, before anything is written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from airflow_provider_m365mail.cli.doctor import settings_from_json
from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.sandbox.server import Sandbox


def answers_for(sandbox: Sandbox) -> dict[str, object]:
    """What a user answers for app-only SMTP AUTH against the sandbox (its host, port, CA instead of Microsoft's)."""
    settings = sandbox.settings
    return {"transport": "smtp", "smtp_mode": "submission", "auth_type": "oauth2_app",
            "tenant_id": settings["tenant_id"], "client_id": settings["client_id"],
            "client_secret": settings["client_secret"], "from_email": "airflow@contoso.com",
            "host": settings["smtp"]["host"], "port": settings["smtp"]["submission_port"],
            "authority_host": settings["authority_host"], "ca_bundle": settings["ca_file"]}


def test_answers_become_a_connection_the_doctor_passes(m365_sandbox: Sandbox, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(answers_for(m365_sandbox)))
    output = tmp_path / "connection.json"
    assert main(["setup", "--answers", str(answers), "--check", "--output", str(output)]) == 0
    assert "OK:" in capsys.readouterr().err  # the doctor's verdict
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    settings = settings_from_json(output.read_text())
    assert (settings.username, settings.security.value) == ("airflow@contoso.com", "starttls")  # defaults filled in


def test_a_wrong_answer_is_refused_naming_the_field(m365_sandbox: Sandbox, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(json.dumps({**answers_for(m365_sandbox), "tenant_id": "not a tenant!"}))
    output = tmp_path / "connection.json"
    assert main(["setup", "--answers", str(answers), "--output", str(output)]) == 1
    assert "extra.tenant_id" in capsys.readouterr().err and not output.exists()


def test_the_connection_can_be_written_as_an_airflow_command(m365_sandbox: Sandbox, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(answers_for(m365_sandbox)))
    assert main(["setup", "--answers", str(answers), "--conn-id", "m365mail_reports",
                 "--format", "airflow-command"]) == 0
    assert capsys.readouterr().out.startswith("airflow connections add m365mail_reports --conn-json '{")


def test_the_connection_can_be_written_as_a_uri_airflow_reads_back(m365_sandbox: Sandbox, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from airflow.models.connection import Connection

    answers = tmp_path / "answers.json"
    settings = m365_sandbox.settings
    written = {"auth_type": "basic", "login": "airflow@contoso.com", "password": "p@ss:w/rd?#",
               "host": settings["smtp"]["host"], "port": settings["smtp"]["submission_port"],
               "ca_bundle": settings["ca_file"], "allowed_senders": ["reports@contoso.com"], "timeout": 20}
    answers.write_text(json.dumps(written))
    assert main(["setup", "--answers", str(answers), "--format", "uri"]) == 0
    uri = capsys.readouterr().out.strip()
    assert main(["setup", "--answers", str(answers)]) == 0
    document = json.loads(capsys.readouterr().out)
    parsed = Connection(conn_id="m365mail_default", uri=uri)
    assert parsed.conn_type == "m365mail" and parsed.password == "p@ss:w/rd?#"
    assert (parsed.host, parsed.port, parsed.login) == (document["host"], document["port"], document.get("login"))
    assert parsed.extra_dejson == document["extra"]

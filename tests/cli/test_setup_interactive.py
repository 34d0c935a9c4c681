"""`m365mail setup` without --answers, driven through a pseudo-terminal as a person types: each answer is checked
as it is typed and asked again naming the problem, the secret is read without echo, the doctor runs on the
result, and the connection it writes passes the doctor against the sandbox."""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path

import pexpect
import pytest
from secret_scan import SecretScan

from airflow_provider_m365mail.cli.doctor import settings_from_json
from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.cli.setup_questions import ask_until_valid
from airflow_provider_m365mail.sandbox.server import Sandbox


def test_setup_asks_again_until_each_answer_is_valid_and_writes_a_connection_the_doctor_passes(
        m365_sandbox: Sandbox, tmp_path: Path, secret_scan: SecretScan,
        capsys: pytest.CaptureFixture[str]) -> None:
    sandbox = m365_sandbox.settings
    output = tmp_path / "reports.json"
    setup = pexpect.spawn(sys.executable, ["-m", "airflow_provider_m365mail.cli.main", "setup", "--conn-id",
                                           "m365mail_reports"], cwd=str(tmp_path), encoding="utf-8", timeout=60)
    setup.logfile_read = terminal = io.StringIO()  # everything the terminal showed, echoed answers included
    dialogue = [
        (r"Transport \(smtp, graph, ews, acs\) \[smtp\]: ", "smpt"),
        (r"extra.transport: .*\r\nTransport .*\[smtp\]: ", ""),
        (r"SMTP mode .* \[submission\]: ", ""),
        (r"Cloud .* \[global\]: ", ""),
        (r"Server host \[empty: smtp.office365.com\]: ", sandbox["smtp"]["host"]),
        (r"Server port \[empty: the mode's default\]: ", "70000"),
        (r"port: 70000 is not a TCP port.*\r\nServer port .*: ", str(sandbox["smtp"]["submission_port"])),
        (r"CA bundle file for a private CA \[empty: the system's CA store\]: ", sandbox["ca_file"]),
        (r"Authentication .* \[oauth2_app\]: ", ""),
        (r"Identity platform host \[empty: login.microsoftonline.com\]: ", sandbox["authority_host"]),
        (r"Tenant ID \(GUID or domain\): ", "not a tenant!"),
        (r"extra.tenant_id: .*\r\nTenant ID .*: ", sandbox["tenant_id"]),
        (r"Application \(client\) ID: ", sandbox["client_id"]),
        (r"Certificate file.*: ", ""),
        (r"Client secret: ", sandbox["client_secret"]),
        (r"Sender address \(From\): ", "airflow@contoso.com"),
        (r"Mailbox that signs in \[airflow@contoso.com\]: ", ""),  # the default follows the sender
        (r"Run the doctor's checks on it now \(yes, no\) \[yes\]: ", ""),
        (r"Write it as \(json, uri, airflow-command\) \[json\]: ", ""),
        (r"Write it to \(a file; - prints it\) \[m365mail_reports.json\]: ", str(output)),
    ]
    try:
        for expected, answer in dialogue:
            setup.expect(expected)
            setup.sendline(answer)
        setup.expect(pexpect.EOF)
    finally:
        setup.close()
    transcript = terminal.getvalue()
    assert setup.exitstatus == 0, transcript
    assert "airflow@contoso.com" in transcript  # answers typed are echoed...
    secret_scan.output("setup's terminal", transcript)  # ...the secret is not
    assert "OK:" in transcript and f"Wrote connection m365mail_reports to {output}" in transcript

    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    written = json.loads(output.read_text())
    assert written["extra"]["client_secret"] == sandbox["client_secret"]
    assert settings_from_json(output.read_text()).username == "airflow@contoso.com"
    assert main(["doctor", "--conn-json", output.read_text()]) == 0
    assert "OK:" in capsys.readouterr().out


def test_a_later_answer_that_conflicts_with_an_earlier_one_sends_the_questions_back_to_it() -> None:
    typed = iter(["", "", "usgov", "smtp.office365.com", "", "", "", "",
                  "contoso.onmicrosoft.com", "11111111-2222-4333-8444-555555555555", "", "s3cret-value",
                  "airflow@contoso.com",
                  "global",  # asked again: the host belongs to the global cloud
                  ""])
    prompts: list[str] = []
    said: list[str] = []

    def ask(prompt: str, secret: bool) -> str:
        prompts.append(prompt)
        return next(typed)

    answers, settings = ask_until_valid(ask, said.append)
    assert [p.split(" ")[0] for p in prompts[-3:]] == ["Sender", "Cloud", "Mailbox"]
    assert said == ["  extra.cloud: smtp.office365.com belongs to the global cloud but cloud is usgov Hint: set "
                    "extra.cloud to 'global': tokens from one cloud are not valid in another"]
    assert (answers["cloud"], settings.cloud.value, settings.username) == ("global", "global", "airflow@contoso.com")

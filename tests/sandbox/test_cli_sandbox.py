"""``m365mail sandbox`` as a user runs it: a foreground process that serves until Ctrl-C."""

from __future__ import annotations

import json
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_m365mail.cli.main import main

TENANT = {
    "tenant_id": "22222222-0000-4000-8000-000000000001",
    "accepted_domains": ["fabrikam.com"],
    "mailboxes": [{"address": "etl@fabrikam.com", "display_name": "ETL", "password": "Fabrikam-Passw0rd!"}],
}


def m365mail_command() -> list[str]:
    script = Path(sys.executable).with_name("m365mail")
    return [str(script)] if script.exists() else [sys.executable, "-m", "airflow_provider_m365mail.cli.main"]


def wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"the sandbox exited early: {process.communicate()}"
        assert time.monotonic() < deadline, "settings.json never appeared"
        time.sleep(0.05)
    settings: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return settings


def test_foreground_sandbox_serves_the_tenant_file_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    tenant_file = tmp_path / "tenant.json"
    tenant_file.write_text(json.dumps(TENANT), encoding="utf-8")
    state_dir = tmp_path / "state"
    process = subprocess.Popen(
        [*m365mail_command(), "sandbox", "--state-dir", str(state_dir), "--tenant-file", str(tenant_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        settings = wait_for(state_dir / "settings.json", process)
        assert settings["tenant_id"] == TENANT["tenant_id"]
        smtp = settings["smtp"]
        assert isinstance(smtp, dict)
        context = ssl.create_default_context(cafile=str(settings["ca_file"]))
        with smtplib.SMTP(smtp["host"], smtp["submission_port"], timeout=10) as conn:
            conn.starttls(context=context)
            conn.login("etl@fabrikam.com", "Fabrikam-Passw0rd!")
            conn.sendmail("etl@fabrikam.com", ["ops@fabrikam.com"], "Subject: via cli\r\n\r\nbody\r\n")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "m365mail sandbox is ready." in out
    assert "Fabrikam-Passw0rd!" not in out + err
    assert not (state_dir / "settings.json").exists()
    assert len(list((state_dir / "messages").glob("*.eml"))) == 1


def test_an_unreadable_tenant_file_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "tenant.json"
    bad.write_text(json.dumps({"no_such_setting": 1}), encoding="utf-8")
    assert main(["sandbox", "--state-dir", str(tmp_path / "state"), "--tenant-file", str(bad)]) == 1
    assert "no_such_setting" in capsys.readouterr().err
    assert not (tmp_path / "state").exists(), "nothing may start on a bad tenant file"

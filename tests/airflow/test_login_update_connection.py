"""`m365mail login --update-connection`: the refresh token of a device-code sign-in lands in the connection stored in
Airflow's metadata database (every other field kept), and a later send over that connection works from it alone."""

from __future__ import annotations

import configparser
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from running_process import running

from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow
from tests.airflow.conftest import DagRunner

CONN_ID = "m365mail_stored_delegated"
SIGNED_IN, PASSWORD = "alice@contoso.com", "Alice-Passw0rd!"


def m365mail(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow_provider_m365mail.cli.main", *args]


def stored_extra(home: Path) -> dict[str, Any]:
    """Read the connection's extra from the metadata database, decrypted with the home's Fernet key."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(home / "airflow.cfg")
    with sqlite3.connect(home / "airflow.db") as db:
        extra, encrypted = db.execute("SELECT extra, is_extra_encrypted FROM connection WHERE conn_id = ?",
                                      (CONN_ID,)).fetchone()
    if encrypted:
        extra = Fernet(config["core"]["fernet_key"].encode()).decrypt(extra.encode()).decode()
    found: dict[str, Any] = json.loads(extra)
    return found


def test_login_writes_the_refresh_token_into_the_stored_connection_and_a_send_uses_it(
        dag_runner: DagRunner, tmp_path: Path) -> None:
    sandbox = dag_runner.sandbox
    sandbox.reset()
    connection = dict(sandbox.settings["airflow_connections"]["smtp_delegated"])
    cache = tmp_path / "alice.json"
    connection["extra"] = {**connection["extra"], "token_cache_path": str(cache)}
    airflow = LocalAirflow(dag_runner.home)  # no AIRFLOW_CONN_ variables: the database is the only source
    added = airflow.cli("connections", "add", CONN_ID, "--conn-json", json.dumps(connection))
    assert added.returncode == 0, added.stdout + added.stderr

    with running(m365mail("login", "--conn-id", CONN_ID, "--update-connection", "--json"),
                 env=airflow.env()) as process:
        assert process.stdout is not None
        first = json.loads(next(line for line in process.stdout if line.startswith("{")))
        assert first["event"] == "device_code", first
        with httpx.Client(verify=sandbox.client_context(), trust_env=False) as browser:
            page = browser.post(first["verification_uri"], data={
                "user_code": first["user_code"], "username": SIGNED_IN, "password": PASSWORD})
        assert page.status_code == 200, page.text
        rest, errors = process.communicate(timeout=60)
        assert process.returncode == 0, rest + errors
    last = json.loads(rest.splitlines()[-1])
    assert (last["event"], last["updated_connection"]) == ("signed_in", CONN_ID)

    extra = stored_extra(airflow.home)
    [cached] = [e["secret"] for e in json.loads(cache.read_text())["RefreshToken"].values()]
    assert extra == {**connection["extra"], "refresh_token": cached}  # every other extra kept
    dag_runner.assert_no_secrets(rest + errors, also=[cached])

    cache.unlink()  # the send must get its tokens from the stored refresh token alone
    sent = subprocess.run(m365mail("send-test", "--conn-id", CONN_ID, "--to", "bob@contoso.com"),
                          env=airflow.env(), capture_output=True, text=True, timeout=120, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    [message] = [m for m in sandbox.messages() if m.subject.startswith("[m365mail send-test]")]
    assert (message.principal, message.envelope_to) == (SIGNED_IN, ("bob@contoso.com",))
    dag_runner.assert_no_secrets(sent.stdout + sent.stderr, also=[cached])

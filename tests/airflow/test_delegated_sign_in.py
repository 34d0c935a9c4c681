"""Delegated sign-in end to end: `m365mail login --device-code --json` in its own process, the sign-in posted to the
sandbox's verification form, then a DAG and three more processes sending over that connection while Entra ID
(the sandbox) rotates the refresh token each time and retires the old one at once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from running_process import running

from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow, sandbox_connections
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import SandboxState
from tests.airflow.conftest import DagRunner, DagRunOutcome

TEST_DAGS = Path(__file__).parent / "dags"
CONN_ID = "m365mail_smtp_delegated"
SIGNED_IN = "alice@contoso.com"
ALICE_PASSWORD = "Alice-Passw0rd!"


def strict_rotation(state: SandboxState) -> None:
    """Access tokens MSAL always refreshes (under its 5-minute margin); a redeemed refresh token dies at once."""
    state.update_tenant(token_lifetime_s=60, refresh_token_grace_s=0, device_code_interval_s=1)


def cached_refresh_tokens(path: Path) -> list[str]:
    return [entry["secret"] for entry in json.loads(path.read_text())["RefreshToken"].values()]


def cached_secrets(path: Path) -> list[str]:
    cache = json.loads(path.read_text())
    return [e["secret"] for kind in ("RefreshToken", "AccessToken") for e in cache.get(kind, {}).values()]


def m365mail(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow_provider_m365mail.cli.main", *args]


def web(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(verify=sandbox.client_context(), trust_env=False)


@pytest.fixture(scope="module")
def sign_in(dag_runner: DagRunner) -> dict[str, Any]:
    """Run `m365mail login` as a user would, answer its code on the verification form, return what it printed."""
    sandbox = dag_runner.sandbox
    sandbox.reset()
    sandbox.call(lambda: strict_rotation(sandbox.state))
    env = LocalAirflow(dag_runner.home, sandbox_connections(sandbox.settings, "smtp_delegated")).env()
    with running(m365mail("login", "--conn-id", CONN_ID, "--device-code", "--json"), env=env) as process:
        assert process.stdout is not None
        first = json.loads(next(line for line in process.stdout if line.startswith("{")))
        with web(sandbox) as client:
            page = client.post(first["verification_uri"], data={
                "user_code": first["user_code"], "username": SIGNED_IN, "password": ALICE_PASSWORD})
        assert page.status_code == 200, page.text
        rest, errors = process.communicate(timeout=60)
        assert process.returncode == 0, rest + errors
    lines = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    cache = Path(sandbox.settings["airflow_connections"]["smtp_delegated"]["extra"]["token_cache_path"])
    return {"first": first, "last": lines[-1], "output": rest + errors,
            "cache": cache, "first_refresh_token": cached_refresh_tokens(cache)[0], "env": env}


@pytest.fixture(scope="module")
def dag_run(sign_in: dict[str, Any], dag_runner: DagRunner) -> DagRunOutcome:
    return dag_runner.run("m365mail_delegated", dags_folder=TEST_DAGS, default_connection="smtp_delegated",
                          before=lambda s: strict_rotation(s.state))


def test_login_prints_the_code_first_and_who_signed_in_last(sign_in: dict[str, Any], dag_runner: DagRunner) -> None:
    first, last = sign_in["first"], sign_in["last"]
    assert first["event"] == "device_code"
    assert first["verification_uri"] == dag_runner.sandbox.settings["verification_uri"] and first["user_code"]
    assert (last["event"], last["username"], last["token_cache_path"]) == ("signed_in", SIGNED_IN,
                                                                           str(sign_in["cache"]))
    assert stat.S_IMODE(os.stat(sign_in["cache"]).st_mode) == 0o600
    dag_runner.assert_no_secrets(sign_in["output"], also=cached_secrets(sign_in["cache"]))


def test_a_dag_sends_over_the_signed_in_connection_as_that_mailbox(dag_run: DagRunOutcome,
                                                                   dag_runner: DagRunner) -> None:
    assert dag_run.process.returncode == 0, dag_run.output[-3000:]
    stored, parsed = dag_run.received("Signed-in send")
    assert (stored.principal, stored.envelope_from, stored.envelope_to) == (SIGNED_IN, SIGNED_IN,
                                                                            ("bob@contoso.com",))
    assert parsed["From"].addresses[0].addr_spec == SIGNED_IN


def test_sending_goes_on_across_processes_as_the_refresh_token_rotates(
        sign_in: dict[str, Any], dag_run: DagRunOutcome, dag_runner: DagRunner) -> None:
    sandbox, cache = dag_runner.sandbox, sign_in["cache"]
    connection = json.dumps(sandbox.settings["airflow_connections"]["smtp_delegated"])
    seen = [sign_in["first_refresh_token"], *cached_refresh_tokens(cache)]
    for process in range(3):
        done = subprocess.run(m365mail("send-test", "--conn-json", connection, "--to", "bob@contoso.com"),
                              env=sign_in["env"], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        [token] = cached_refresh_tokens(cache)
        assert token not in seen, f"process {process + 1} did not rotate the refresh token"
        seen.append(token)
    sent = [m for m in sandbox.messages() if m.subject.startswith("[m365mail send-test]")]
    assert [m.principal for m in sent] == [SIGNED_IN] * 3

    with web(sandbox) as client:
        refused = client.post(sandbox.settings["token_endpoint"], data={
            "grant_type": "refresh_token", "client_id": sandbox.settings["client_id"],
            "refresh_token": sign_in["first_refresh_token"], "scope": "https://outlook.office.com/SMTP.Send"})
    assert (refused.status_code, refused.json()["error_codes"]) == (400, [50173])



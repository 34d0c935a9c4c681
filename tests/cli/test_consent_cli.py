"""`m365mail consent`: the admin consent URL for the connection's app, the redirect back to the command's loopback
port, then the roles of a fresh app-only token compared with what the connection needs, each missing one named."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import httpx
import pytest
from running_process import running

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.sandbox.server import Sandbox

ADMIN, ADMIN_PASSWORD = "alice@contoso.com", "Alice-Passw0rd!"


def test_consent_then_the_check_names_the_role_the_graph_connection_still_lacks(m365_sandbox: Sandbox) -> None:
    state = m365_sandbox.state
    apps = tuple(replace(a, admin_consented=False, roles=("Mail.Send",)) for a in state.tenant.apps)
    m365_sandbox.call(lambda: state.update_tenant(apps=apps))
    connection = json.dumps(m365_sandbox.settings["airflow_connections"]["graph"])
    command = [sys.executable, "-m", "airflow_provider_m365mail.cli.main", "consent", "--json",
               "--conn-json", connection]
    with running(command) as process:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["event"] == "admin_consent"
        assert first["consent_uri"].startswith(f"{m365_sandbox.settings['http_base']}/")

        with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as browser:
            page = browser.get(first["consent_uri"])
            assert page.status_code == 200 and "Mail.Send" in page.text
            form = {"client_id": m365_sandbox.settings["client_id"], "username": ADMIN, "password": ADMIN_PASSWORD,
                    "decision": "accept", **dict(httpx.URL(first["consent_uri"]).params)}
            back = browser.post(first["consent_uri"].split("?")[0], data=form)
            assert back.status_code == 302
            assert browser.get(back.headers["Location"]).status_code == 200  # the command's loopback listener

        rest, errors = process.communicate(timeout=60)
        assert process.returncode == 1, rest + errors
    verified = json.loads(rest.splitlines()[-1])
    assert (verified["event"], verified["granted"]) == ("verified", ["Mail.Send"])
    [missing] = verified["missing"]
    assert (missing["role"], missing["api"]) == ("Mail.ReadWrite", "Microsoft Graph")
    assert "API permissions" in missing["fix"]


def test_verify_only_passes_when_the_smtp_app_has_its_role(m365_sandbox: Sandbox,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    connection = json.dumps(m365_sandbox.settings["airflow_connections"]["smtp_oauth2"])
    assert main(["consent", "--verify-only", "--json", "--conn-json", connection]) == 0
    verified = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (verified["granted"], verified["missing"]) == (["SMTP.SendAsApp"], [])


def test_consent_refuses_a_delegated_connection_before_opening_anything(
        m365_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    connection = json.dumps(m365_sandbox.settings["airflow_connections"]["smtp_delegated"])
    assert main(["consent", "--json", "--conn-json", connection]) == 1
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert failed["event"] == "failed" and "m365mail login" in failed["error"] + str(failed.get("code"))

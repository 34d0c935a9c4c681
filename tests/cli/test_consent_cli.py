"""`m365mail consent`: the admin consent URL for the connection's app, accepted in headless Chromium on the
sandbox's consent page, the redirect back to the command's loopback port, then the roles of a fresh app-only token
compared with what the connection needs, each missing one named."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
from headless_chromium import launched_chromium
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

        with launched_chromium() as browser:  # closed before anything here runs async code again
            context = browser.new_context(ignore_https_errors=True)  # the sandbox's throwaway CA is not Chromium's
            page = context.new_page()
            page.goto(first["consent_uri"])
            assert "Mail.Send (application)" in page.content()  # the permissions the app asks for
            page.fill("input[name=username]", ADMIN)
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.click("button[value=accept]")
            page.wait_for_url("http://127.0.0.1:*/**")  # the command's loopback listener
            context.close()

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

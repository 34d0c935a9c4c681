"""``m365mail doctor`` and ``send-test`` over High Volume Email and Azure Communication Services (REST and SMTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest
from doctor_schema import doctor_schema

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.cli.send_test import TEST_SUBJECT
from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.probe import check_probe_settings
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.server import Sandbox

UseConnection = Callable[..., dict[str, Any]]
SERVER_TITLES = {"hve": "SMTP EHLO / AUTH", "acs": "ACS Email sign-in (operation status)",
                 "acs_smtp": "SMTP EHLO / AUTH"}
TRANSPORTS = {"hve": ("smtp", "hve"), "acs": ("acs", None), "acs_smtp": ("smtp", "acs")}
HVE = "hve@contoso.com"
APP = "11111111-2222-4333-8444-555555555555"
# What the sandbox's admin API changes on the HVE account, how the connection signs in, and the doctor's answer
HVE_REFUSALS = {
    "no billing policy": ({"active": False}, "basic", "5.7.1",
                          f"Set-HVEAccountBillingPolicy -Identity {HVE} -BillingPolicyId <id>"),
    "app not allowed": ({"app_access": []}, "oauth2_app", "5.7.3", f"Add-HVEAppAccess -Identity {HVE} -AppIds {APP}"),
}


def check(data: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in data["checks"] if c["name"] == name]
    return found


@pytest.mark.parametrize("connection", ["hve", "acs", "acs_smtp"])
def test_the_doctor_passes_and_send_test_delivers_over_each_volume_service(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox, connection: str
) -> None:
    use_connection(connection)

    code = main(["doctor", "--conn-id", "m365mail_cli", "--json"])
    data = json.loads(capsys.readouterr().out)

    assert code == 0, data
    jsonschema.validate(data, doctor_schema())
    assert (data["connection"]["transport"], data["connection"]["smtp_mode"]) == TRANSPORTS[connection]
    assert (check(data, "server")["status"], check(data, "server")["title"]) == ("pass", SERVER_TITLES[connection])
    assert m365_sandbox.messages() == []

    code = main(["send-test", "--conn-id", "m365mail_cli", "--to", "bob@contoso.com"])
    output = capsys.readouterr().out

    assert code == 0, output
    (stored,) = m365_sandbox.messages()
    assert (stored.subject, stored.transport, stored.envelope_to) == (TEST_SUBJECT, connection, ("bob@contoso.com",))


@pytest.mark.parametrize(("connection", "service"), [("hve", "High Volume Email"),
                                                     ("acs", "Azure Communication Services Email")])
def test_the_doctor_says_send_as_does_not_apply(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], connection: str, service: str
) -> None:
    use_connection(connection, allowed_senders="*@contoso.com")

    code = main(["doctor", "--conn-id", "m365mail_cli", "--json", "--send-as", "alerts@contoso.com"])
    send_as = check(json.loads(capsys.readouterr().out), "send_as")

    assert code == 1
    assert send_as["status"] == "fail" and f"Send As does not apply to {service}" in send_as["detail"]


def test_send_test_over_hve_refuses_an_external_address_naming_it(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    use_connection("hve")

    code = main(["send-test", "--conn-id", "m365mail_cli", "--to", "someone@fabrikam.example"])
    output = capsys.readouterr().out

    assert code == 1 and "someone@fabrikam.example" in output and "transport acs" in output
    assert m365_sandbox.state.stats["smtp_sessions"] == 0


def test_the_acs_smtp_preset_has_no_send_as_to_wait_for(m365_sandbox: Sandbox) -> None:
    conn = m365_sandbox.settings["airflow_connections"]["acs_smtp"]
    settings = MailSettings.from_connection_fields(host=conn["host"], port=conn["port"], login=None,
                                                   password=conn["password"], extra=conn["extra"])

    with pytest.raises(ConfigurationError, match="Send As does not apply to Azure Communication Services") as caught:
        check_probe_settings(settings)

    assert caught.value.field == "extra.smtp_mode" and "verified" in (caught.value.hint or "")


@pytest.mark.parametrize("refusal", list(HVE_REFUSALS))
def test_the_doctor_names_hves_own_refusals_with_the_fix_for_the_account(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox, refusal: str
) -> None:
    change, auth, code, fix = HVE_REFUSALS[refusal]
    with httpx.Client(base_url=m365_sandbox.settings["admin_url"], verify=m365_sandbox.client_context(),
                      trust_env=False) as admin:
        changed = admin.post("/tenant", json={"hve_accounts": {HVE: change}})
    assert changed.status_code == 200, changed.text
    s = m365_sandbox.settings
    signs_in = {"auth_type": auth, "tenant_id": s["tenant_id"], "client_id": s["client_id"],
                "authority_host": s["authority_host"], "password": s["client_secret"]} if auth == "oauth2_app" else {}
    use_connection("hve", **signs_in)

    exit_code = main(["doctor", "--conn-id", "m365mail_cli", "--json"])
    server = check(json.loads(capsys.readouterr().out), "server")

    assert exit_code == 1 and (server["status"], server["code"]) == ("fail", code), server
    assert fix in server["fix"]
    assert m365_sandbox.messages() == [] and m365_sandbox.state.stats["smtp_messages"] == 0

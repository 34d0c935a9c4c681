"""The sandbox's admin consent: until an administrator accepts, app-only tokens carry no roles; the consent page
redirects back to the loopback URI with admin_consent=True, or with access_denied when declined."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from airflow_provider_m365mail.sandbox.server import Sandbox
from tests.sandbox.test_authorize import sign_in_page
from tests.sandbox.test_device_code import ALICE, ALICE_PASSWORD, web
from tests.sandbox.test_oauth import EXCHANGE_DEFAULT, SERVICE, SERVICE_PASSWORD, claims

REDIRECT = "http://127.0.0.1:8766/consented"


def unconsented(sandbox: Sandbox) -> None:
    state = sandbox.state
    apps = tuple(replace(a, admin_consented=False) for a in state.tenant.apps)
    sandbox.call(lambda: state.update_tenant(apps=apps))


def app_roles(sandbox: Sandbox) -> list[str]:
    settings = sandbox.settings
    with web(sandbox) as client:
        answer = client.post(settings["token_endpoint"], data={
            "grant_type": "client_credentials", "client_id": settings["client_id"],
            "client_secret": settings["client_secret"], "scope": EXCHANGE_DEFAULT[0]})
    roles: list[str] = claims(answer.json()["access_token"]).get("roles", [])
    return roles


def consent(sandbox: Sandbox, username: str, password: str, decision: str = "accept") -> httpx.Response:
    settings = sandbox.settings
    query = urlencode({"client_id": settings["client_id"], "redirect_uri": REDIRECT, "state": "s1"})
    with web(sandbox) as client:
        action, reader = sign_in_page(client, f"{settings['http_base']}/{settings['tenant_id']}/adminconsent?{query}")
        return client.post(action, data={**reader.hidden, "username": username, "password": password,
                                         "decision": decision})


def test_app_tokens_get_their_roles_once_an_administrator_consents(m365_sandbox: Sandbox) -> None:
    unconsented(m365_sandbox)
    assert app_roles(m365_sandbox) == []
    refused = consent(m365_sandbox, SERVICE, SERVICE_PASSWORD)  # a mailbox, but not an administrator
    assert refused.status_code == 400 and "administrator" in refused.text
    assert app_roles(m365_sandbox) == []

    accepted = consent(m365_sandbox, ALICE, ALICE_PASSWORD)
    assert accepted.status_code == 302
    location = urlsplit(accepted.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert dict(parse_qsl(location.query)) == {
        "admin_consent": "True", "tenant": m365_sandbox.settings["tenant_id"], "state": "s1"}
    assert app_roles(m365_sandbox) == ["SMTP.SendAsApp"]


def test_declining_consent_redirects_with_access_denied(m365_sandbox: Sandbox) -> None:
    unconsented(m365_sandbox)
    declined = consent(m365_sandbox, ALICE, ALICE_PASSWORD, decision="cancel")
    answer = dict(parse_qsl(urlsplit(declined.headers["Location"]).query))
    assert (answer["error"], answer["state"]) == ("access_denied", "s1")
    assert app_roles(m365_sandbox) == []

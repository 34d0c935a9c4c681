"""Delegated sign-in in the sandbox: the device authorization grant with its HTML verification form, driven by the
real MSAL public client, and refresh tokens that rotate and expire as the tenant says."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import httpx
import msal
import pytest

from airflow_provider_m365mail.sandbox.plugin import SandboxClock
from airflow_provider_m365mail.sandbox.server import Sandbox
from tests.sandbox.test_oauth import SMTP_SEND, claims, http_client

ALICE, ALICE_PASSWORD = "alice@contoso.com", "Alice-Passw0rd!"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class FormReader(HTMLParser):
    """Collect each form's method, action, enctype and input names, as a browser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({**values, "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(values.get("name"))


def public_app(sandbox: Sandbox) -> msal.PublicClientApplication:
    settings = sandbox.settings
    return msal.PublicClientApplication(
        settings["client_id"], authority=f"https://{settings['authority_host']}/{settings['tenant_id']}",
        instance_discovery=False, http_client=http_client(sandbox),
    )


def web(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(verify=sandbox.client_context(), trust_env=False)


def sign_in(sandbox: Sandbox, flow: dict[str, Any], username: str = ALICE, password: str = ALICE_PASSWORD
            ) -> httpx.Response:
    """Fill in and post the verification form the way a browser does (form-encoded, to verification_uri)."""
    with web(sandbox) as client:
        return client.post(flow["verification_uri"],
                           data={"user_code": flow["user_code"], "username": username, "password": password})


def poll_once(app: msal.PublicClientApplication, flow: dict[str, Any]) -> dict[str, Any]:
    """Poll the token endpoint once, now (the test, not a timer, decides when the next poll is due)."""
    flow["latest_attempt_at"] = 0
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: True)
    return result


def test_the_verification_page_is_a_form_posted_to_the_verification_uri(m365_sandbox: Sandbox) -> None:
    flow = public_app(m365_sandbox).initiate_device_flow(scopes=SMTP_SEND)
    assert flow["verification_uri"] == m365_sandbox.settings["verification_uri"]
    assert (flow["interval"], flow["expires_in"]) == (5, 900) and flow["user_code"] in flow["message"]
    with web(m365_sandbox) as client:
        page = client.get(flow["verification_uri"])
    reader = FormReader()
    reader.feed(page.text)
    [form] = reader.forms
    assert (form["method"], form["action"], form["enctype"]) == (
        "post", flow["verification_uri"], "application/x-www-form-urlencoded")
    assert form["inputs"] == ["user_code", "username", "password"]


def test_device_code_polling_is_pending_until_the_user_signs_in_then_issues_tokens_once(
        m365_sandbox: Sandbox) -> None:
    app = public_app(m365_sandbox)
    flow = app.initiate_device_flow(scopes=SMTP_SEND)
    pending = poll_once(app, flow)
    assert (pending["error"], pending["error_codes"]) == ("authorization_pending", [70016])

    refused = sign_in(m365_sandbox, flow, password="wrong")
    assert refused.status_code == 400 and "incorrect" in refused.text
    assert poll_once(app, flow)["error"] == "authorization_pending"

    assert "signed in" in sign_in(m365_sandbox, flow).text
    result = poll_once(app, flow)
    assert "access_token" in result, result.get("error_description")
    assert (claims(result["access_token"])["upn"], claims(result["access_token"])["scp"]) == (ALICE, "SMTP.Send")
    assert result["refresh_token"] and [a["username"] for a in app.get_accounts()] == [ALICE]
    assert poll_once(app, flow)["error"] == "invalid_grant"  # a device code is redeemed once


def test_an_expired_device_code_answers_expired_token(m365_sandbox: Sandbox, m365_sandbox_clock: SandboxClock
                                                      ) -> None:
    app = public_app(m365_sandbox)
    flow = app.initiate_device_flow(scopes=SMTP_SEND)
    m365_sandbox_clock.advance(900)
    assert sign_in(m365_sandbox, flow).status_code == 400  # the page no longer takes the code either
    result = poll_once(app, flow)
    assert (result["error"], result["error_codes"]) == ("expired_token", [70019])


@pytest.mark.sandbox(tenant={"apps": ()})
def test_device_code_for_an_unknown_app_is_refused(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    with web(m365_sandbox) as client:
        answer = client.post(settings["device_code_endpoint"], data={"client_id": settings["client_id"],
                                                                     "scope": SMTP_SEND[0]})
    assert (answer.status_code, answer.json()["error_codes"]) == (400, [700016])


def _redeem(sandbox: Sandbox, refresh_token: str) -> httpx.Response:
    with web(sandbox) as client:
        return client.post(sandbox.settings["token_endpoint"], data={
            "grant_type": "refresh_token", "client_id": sandbox.settings["client_id"],
            "refresh_token": refresh_token, "scope": f"{SMTP_SEND[0]} offline_access"})


def _signed_in_refresh_token(sandbox: Sandbox) -> str:
    app = public_app(sandbox)
    flow = app.initiate_device_flow(scopes=SMTP_SEND)
    sign_in(sandbox, flow)
    token: str = poll_once(app, flow)["refresh_token"]
    return token


def test_a_redeemed_refresh_token_is_replaced_and_stops_working_after_the_grace(
        m365_sandbox: Sandbox, m365_sandbox_clock: SandboxClock) -> None:
    first = _signed_in_refresh_token(m365_sandbox)
    second = _redeem(m365_sandbox, first).json()["refresh_token"]
    assert second != first
    m365_sandbox_clock.advance(59)
    assert _redeem(m365_sandbox, first).status_code == 200  # a second worker holding it is not locked out at once
    m365_sandbox_clock.advance(1)
    refused = _redeem(m365_sandbox, first)
    assert (refused.status_code, refused.json()["error_codes"]) == (400, [50173])
    assert _redeem(m365_sandbox, second).status_code == 200


def test_a_refresh_token_expires_after_its_lifetime(m365_sandbox: Sandbox, m365_sandbox_clock: SandboxClock
                                                    ) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(refresh_token_lifetime_s=3600))
    token = _signed_in_refresh_token(m365_sandbox)
    m365_sandbox_clock.advance(3600)
    refused = _redeem(m365_sandbox, token)
    assert (refused.json()["error"], refused.json()["error_codes"]) == ("invalid_grant", [700082])


@pytest.mark.sandbox(tenant={"refresh_token_grace_s": 0})
def test_without_public_client_flows_a_refresh_needs_the_client_secret(m365_sandbox: Sandbox) -> None:
    token = _signed_in_refresh_token(m365_sandbox)
    state = m365_sandbox.state
    confidential_only = tuple(replace(a, public_client=False) for a in state.tenant.apps)
    m365_sandbox.call(lambda: state.update_tenant(apps=confidential_only))
    refused = _redeem(m365_sandbox, token)
    assert (refused.status_code, refused.json()["error_codes"]) == (401, [7000218])

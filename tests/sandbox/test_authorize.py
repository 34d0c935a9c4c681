"""The sandbox's authorization code flow: a sign-in form, a redirect to a loopback port, PKCE checked at redemption,
driven by MSAL's public client and a plain HTTP client posting the form as a browser does."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import msal
import pytest

from airflow_provider_m365mail.sandbox.server import Sandbox
from tests.sandbox.test_device_code import ALICE, ALICE_PASSWORD, FormReader, public_app, web
from tests.sandbox.test_oauth import SMTP_SEND, claims

REDIRECT = "http://127.0.0.1:8765"
# MSAL recommends response_mode=form_post; a loopback listener takes the code from the query as well.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning")


class HiddenFields(FormReader):
    """Also keep the hidden inputs' values, which a browser posts back."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden":
            self.hidden[values["name"] or ""] = values.get("value") or ""


def sign_in_page(client: httpx.Client, auth_uri: str) -> tuple[str, HiddenFields]:
    page = client.get(auth_uri)
    assert page.status_code == 200, page.text
    reader = HiddenFields()
    reader.feed(page.text)
    [form] = reader.forms
    assert (form["method"], form["enctype"]) == ("post", "application/x-www-form-urlencoded")
    return str(httpx.URL(auth_uri).join(form["action"])), reader


def authorize(sandbox: Sandbox, flow: dict[str, Any], password: str = ALICE_PASSWORD) -> httpx.Response:
    with web(sandbox) as client:
        action, reader = sign_in_page(client, flow["auth_uri"])
        return client.post(action, data={**reader.hidden, "username": ALICE, "password": password})


def test_signing_in_redirects_to_the_loopback_uri_with_a_code_msal_redeems(m365_sandbox: Sandbox) -> None:
    app = public_app(m365_sandbox)
    flow = app.initiate_auth_code_flow(SMTP_SEND, redirect_uri=REDIRECT)
    assert "code_challenge=" in flow["auth_uri"] and "code_challenge_method=S256" in flow["auth_uri"]
    refused = authorize(m365_sandbox, flow, password="wrong")
    assert refused.status_code == 400 and "incorrect" in refused.text

    answer = authorize(m365_sandbox, flow)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == REDIRECT
    response = dict(parse_qsl(location.query))
    assert response["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result.get("error_description")
    assert claims(result["access_token"])["upn"] == ALICE and result["refresh_token"]


def test_a_code_redeemed_without_its_pkce_verifier_is_refused_and_cannot_be_reused(m365_sandbox: Sandbox) -> None:
    app = public_app(m365_sandbox)
    flow = app.initiate_auth_code_flow(SMTP_SEND, redirect_uri=REDIRECT)
    response = dict(parse_qsl(urlsplit(authorize(m365_sandbox, flow).headers["Location"]).query))
    tampered = {**flow, "code_verifier": "another-verifier-of-sufficient-length-0123456789abcdef"}
    result = app.acquire_token_by_auth_code_flow(tampered, response)
    assert (result["error"], result["error_codes"]) == ("invalid_grant", [50148])
    again = app.acquire_token_by_auth_code_flow(flow, response)
    assert again["error_codes"] == [70008]  # a code is redeemed (or refused) once


def test_a_redirect_uri_off_the_loopback_address_gets_no_sign_in_form(m365_sandbox: Sandbox) -> None:
    app: msal.PublicClientApplication = public_app(m365_sandbox)
    flow = app.initiate_auth_code_flow(SMTP_SEND, redirect_uri="https://attacker.example/callback")
    with web(m365_sandbox) as client:
        page = client.get(flow["auth_uri"])
    assert page.status_code == 400 and "AADSTS50011" in page.text and "<form" not in page.text


@pytest.mark.parametrize("page", ["oauth2/v2.0/authorize", "adminconsent", "oauth2/v2.0/devicecode"])
def test_a_post_that_is_not_a_utf8_form_is_refused_as_malformed(m365_sandbox: Sandbox, page: str) -> None:
    url = f"{m365_sandbox.settings['http_base']}/{m365_sandbox.settings['tenant_id']}/{page}"
    with web(m365_sandbox) as client:
        answer = client.post(url, content=b"username=\xff\xfe", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
    assert (answer.status_code, answer.json()["error_codes"]) == (400, [9002313])

"""The sandbox's identity platform, driven by the real MSAL library and by raw HTTP over TLS."""

from __future__ import annotations

import datetime
import time
import warnings
from dataclasses import replace
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from airflow_provider_m365mail.sandbox.config import EXCHANGE_AUDIENCE, GRAPH_AUDIENCE
from airflow_provider_m365mail.sandbox.server import Sandbox

EXCHANGE_DEFAULT = ["https://outlook.office365.com/.default"]
SMTP_SEND = ["https://outlook.office.com/SMTP.Send"]
SERVICE, SERVICE_PASSWORD = "airflow@contoso.com", "Sandbox-Passw0rd!"


def http_client(sandbox: Sandbox) -> requests.Session:
    """A requests session trusting only the sandbox CA, whatever REQUESTS_CA_BUNDLE says."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox.ca_file)
    return session


class PortKeepingSession(requests.Session):
    """Send MSAL's user realm lookup to the sandbox's port.

    MSAL builds ``https://{host}/common/userrealm/...`` from the authority's host name without its port, so
    against an authority on a port other than 443 its ROPC flow needs the port put back.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = str(sandbox.ca_file)
        self._portless = f"https://{sandbox.settings['smtp']['host']}/"
        self._base = sandbox.settings["http_base"] + "/"
        self.requested: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.startswith(self._portless):
            url = self._base + url[len(self._portless):]
        self.requested.append(str(url))
        return super().request(method, url, *args, **kwargs)


def confidential_app(
    sandbox: Sandbox, credential: Any, tenant: str | None = None, session: requests.Session | None = None
) -> msal.ConfidentialClientApplication:
    settings = sandbox.settings
    return msal.ConfidentialClientApplication(
        settings["client_id"],
        client_credential=credential,
        authority=f"https://{settings['authority_host']}/{tenant or settings['tenant_id']}",
        instance_discovery=False,
        http_client=session or http_client(sandbox),
    )


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def stat(sandbox: Sandbox, key: str) -> int:
    return sandbox.call(lambda: sandbox.state.stats[key])


def self_signed() -> tuple[str, str, str]:
    """Return (private key PEM, certificate PEM, SHA-1 thumbprint hex) of a fresh self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-sandbox-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA1()).hex()


def register_certificate(sandbox: Sandbox, cert_pem: str) -> None:
    def change() -> None:
        state = sandbox.state
        apps = tuple(replace(a, certificates=(cert_pem,)) if a.client_id == sandbox.settings["client_id"] else a
                     for a in state.tenant.apps)
        state.update_tenant(apps=apps)

    sandbox.call(change)


def post_token(sandbox: Sandbox, data: dict[str, str], tenant: str | None = None) -> httpx.Response:
    url = f"{sandbox.settings['http_base']}/{tenant or sandbox.settings['tenant_id']}/oauth2/v2.0/token"
    with httpx.Client(verify=sandbox.client_context(), trust_env=False) as client:
        return client.post(url, data=data)


def test_msal_client_credentials_then_a_cache_hit_without_a_second_request(m365_sandbox: Sandbox) -> None:
    app = confidential_app(m365_sandbox, m365_sandbox.settings["client_secret"])
    first = app.acquire_token_for_client(EXCHANGE_DEFAULT)
    assert first.get("token_source") == "identity_provider", first.get("error_description")
    token = claims(first["access_token"])
    assert token["aud"] == EXCHANGE_AUDIENCE
    assert token["roles"] == ["SMTP.SendAsApp"]
    assert token["appid"] == m365_sandbox.settings["client_id"]
    requests_before = stat(m365_sandbox, "token_requests")

    second = app.acquire_token_for_client(EXCHANGE_DEFAULT)

    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert stat(m365_sandbox, "token_requests") == requests_before == 1
    assert stat(m365_sandbox, "tokens_issued") == 1


def test_graph_default_scope_gives_graph_audience_and_mail_roles(m365_sandbox: Sandbox) -> None:
    app = confidential_app(m365_sandbox, m365_sandbox.settings["client_secret"])
    result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    token = claims(result["access_token"])
    assert token["aud"] == GRAPH_AUDIENCE
    assert set(token["roles"]) == {"Mail.Send", "Mail.ReadWrite", "Mail.Read"}
    assert m365_sandbox.call(lambda: m365_sandbox.state.tokens.verify(result["access_token"], GRAPH_AUDIENCE))


@pytest.mark.parametrize("style", ["thumbprint", "public_certificate"])
def test_msal_certificate_credential_is_verified_against_the_registered_certificate(
    m365_sandbox: Sandbox, style: str
) -> None:
    key_pem, cert_pem, sha1 = self_signed()
    register_certificate(m365_sandbox, cert_pem)
    credential = ({"private_key": key_pem, "thumbprint": sha1} if style == "thumbprint"
                  else {"private_key": key_pem, "public_certificate": cert_pem})

    result = confidential_app(m365_sandbox, credential).acquire_token_for_client(EXCHANGE_DEFAULT)

    assert "access_token" in result, result.get("error_description")
    assert claims(result["access_token"])["roles"] == ["SMTP.SendAsApp"]


def test_an_assertion_signed_by_an_unregistered_certificate_is_refused(m365_sandbox: Sandbox) -> None:
    key_pem, _, sha1 = self_signed()
    _, other_cert, _ = self_signed()
    register_certificate(m365_sandbox, other_cert)
    result = confidential_app(m365_sandbox, {"private_key": key_pem, "thumbprint": sha1}).acquire_token_for_client(
        EXCHANGE_DEFAULT)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]


def test_an_assertion_with_a_forged_signature_is_refused(m365_sandbox: Sandbox) -> None:
    _, cert_pem, sha1 = self_signed()
    impostor_key, _, _ = self_signed()
    register_certificate(m365_sandbox, cert_pem)  # the thumbprint matches, the signing key does not
    result = confidential_app(m365_sandbox, {"private_key": impostor_key, "thumbprint": sha1}) \
        .acquire_token_for_client(EXCHANGE_DEFAULT)
    assert result["error_codes"] == [700027]
    assert "signature" in result["error_description"]


def test_wrong_secret_answers_aadsts7000215(m365_sandbox: Sandbox) -> None:
    result = confidential_app(m365_sandbox, "not-the-secret").acquire_token_for_client(EXCHANGE_DEFAULT)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "not-the-secret" not in str(result)


def test_unknown_tenant_fails_discovery_and_token_requests_with_aadsts90002(m365_sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration") as raised:
        confidential_app(m365_sandbox, "secret", tenant="no-such-tenant.example")
    assert "AADSTS90002: Tenant 'no-such-tenant.example' not found" in str(raised.value.__context__)
    response = post_token(m365_sandbox, {"grant_type": "client_credentials"}, tenant="no-such-tenant.example")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_unknown_client_answers_aadsts700016(m365_sandbox: Sandbox) -> None:
    response = post_token(m365_sandbox, {"grant_type": "client_credentials", "client_id": "nobody",
                                         "client_secret": "x", "scope": EXCHANGE_DEFAULT[0]})
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["error_codes"]) == ("unauthorized_client", [700016])
    assert body["correlation_id"] and body["trace_id"] and body["timestamp"]


def test_client_credentials_need_a_default_scope(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    response = post_token(m365_sandbox, {"grant_type": "client_credentials", "client_id": settings["client_id"],
                                         "client_secret": settings["client_secret"], "scope": SMTP_SEND[0]})
    assert response.status_code == 400
    assert response.json()["error_codes"] == [1002012]


def test_discovery_builds_endpoints_from_the_request_host(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as client:
        doc = client.get(f"{settings['http_base']}/contoso.com/v2.0/.well-known/openid-configuration").json()
        keys = client.get(doc["jwks_uri"]).json()
    assert doc["token_endpoint"] == settings["token_endpoint"]
    assert doc["issuer"] == f"https://login.microsoftonline.com/{settings['tenant_id']}/v2.0"
    assert keys["keys"][0]["kty"] == "RSA"


def test_msal_ropc_returns_a_delegated_token_an_account_and_a_refresh_token(m365_sandbox: Sandbox) -> None:
    app = confidential_app(m365_sandbox, m365_sandbox.settings["client_secret"],
                           session=PortKeepingSession(m365_sandbox))
    result = app.acquire_token_by_username_password(SERVICE, SERVICE_PASSWORD, SMTP_SEND)
    assert "access_token" in result, result.get("error_description")
    token = claims(result["access_token"])
    assert (token["aud"], token["scp"], token["upn"]) == (EXCHANGE_AUDIENCE, "SMTP.Send", SERVICE)
    assert result["refresh_token"]
    assert result["id_token_claims"]["preferred_username"] == SERVICE
    [account] = app.get_accounts(username=SERVICE)

    cached = app.acquire_token_silent(SMTP_SEND, account=account)
    assert cached is not None and cached["token_source"] == "cache"

    issued_before = stat(m365_sandbox, "tokens_issued")
    refreshed = app.acquire_token_silent(SMTP_SEND, account=account, force_refresh=True)
    assert refreshed is not None and refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != result["access_token"]
    assert stat(m365_sandbox, "tokens_issued") == issued_before + 1


def test_public_client_ropc_asks_the_user_realm_then_checks_the_password(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MSAL remembers, process-wide, hosts it will not ask for a user realm; start this test without that memory.
    monkeypatch.setattr(msal.authority.Authority, "_domains_without_user_realm_discovery", set())
    settings = m365_sandbox.settings
    session = PortKeepingSession(m365_sandbox)
    app = msal.PublicClientApplication(
        settings["client_id"], authority=f"https://{settings['authority_host']}/{settings['tenant_id']}",
        instance_discovery=False, http_client=session)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        good = app.acquire_token_by_username_password(SERVICE, SERVICE_PASSWORD, ["Mail.Send"])
        bad = app.acquire_token_by_username_password(SERVICE, "wrong", ["Mail.Send"])
    assert claims(good["access_token"])["aud"] == GRAPH_AUDIENCE
    assert f"{settings['http_base']}/common/userrealm/{SERVICE}?api-version=1.0" in session.requested
    assert (bad["error"], bad["error_codes"]) == ("invalid_grant", [50126])


def test_a_scope_the_app_was_not_granted_needs_consent(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    response = post_token(m365_sandbox, {
        "grant_type": "password", "client_id": settings["client_id"], "username": SERVICE,
        "password": SERVICE_PASSWORD, "scope": "https://graph.microsoft.com/Mail.ReadWrite.All"})
    assert response.json()["error_codes"] == [65001]


def test_a_refresh_token_is_bound_to_its_client(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    state = m365_sandbox.state
    refresh = m365_sandbox.call(
        lambda: state.refresh_tokens.issue("someone-else", SERVICE, SMTP_SEND, now=state.clock()))
    response = post_token(m365_sandbox, {"grant_type": "refresh_token", "client_id": settings["client_id"],
                                         "refresh_token": refresh})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


@pytest.mark.sandbox(faults=[{"target": "token", "kind": "reply", "code": 503, "retry_after_s": 7}])
def test_token_reply_fault_answers_once_then_tokens_flow(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    data = {"grant_type": "client_credentials", "client_id": settings["client_id"],
            "client_secret": settings["client_secret"], "scope": EXCHANGE_DEFAULT[0]}
    failed = post_token(m365_sandbox, data)
    assert (failed.status_code, failed.headers["Retry-After"]) == (503, "7")
    assert failed.json()["error"] == "temporarily_unavailable"
    assert post_token(m365_sandbox, data).status_code == 200
    assert stat(m365_sandbox, "faults_fired") == 1


@pytest.mark.sandbox(faults=[{"target": "token", "kind": "timeout", "retry_after_s": 0.5}])
def test_token_timeout_fault_hangs_then_answers_504(m365_sandbox: Sandbox) -> None:
    started = time.monotonic()
    response = post_token(m365_sandbox, {"grant_type": "client_credentials"})
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.5


def test_client_secret_basic_authentication_is_accepted(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as client:
        good = client.post(settings["token_endpoint"], auth=(settings["client_id"], settings["client_secret"]),
                           data={"grant_type": "client_credentials", "scope": EXCHANGE_DEFAULT[0]})
        bad = client.post(settings["token_endpoint"], auth=(settings["client_id"], "nope"),
                          data={"grant_type": "client_credentials", "scope": EXCHANGE_DEFAULT[0]})
    assert claims(good.json()["access_token"])["aud"] == EXCHANGE_AUDIENCE
    assert (bad.status_code, bad.json()["error_codes"]) == (401, [7000215])

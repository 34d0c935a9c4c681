from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from connection_settings import settings_for
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from airflow_provider_m365mail.core.auth.tokens import (
    AccessToken,
    TokenSource,
    application_for,
    load_client_certificate,
)
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    PermanentSendError,
    TransientSendError,
)
from airflow_provider_m365mail.core.settings.secret import Secret
from airflow_provider_m365mail.sandbox.server import Sandbox

CLIENT_ID = "11111111-2222-4333-8444-555555555555"


def self_signed(key: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-m365mail")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- pure parts ----------------------------------------------------------------------------------------------


def test_access_token_repr_hides_the_token() -> None:
    token = AccessToken("eyJ-secret-token", expires_on=100.0)
    assert "eyJ-secret-token" not in repr(token)
    assert token.expires_in(now=40.0) == 60.0


def test_certificate_thumbprint_is_computed_from_the_certificate_when_not_given() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert_pem = self_signed(key)
    expected = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex().upper()
    loaded = load_client_certificate(
        cert_pem + key_pem(key), thumbprint=None, field_name="extra.certificate_private_key"
    )
    assert loaded.thumbprint == expected
    assert "PRIVATE KEY" in loaded.private_key_pem
    assert loaded.private_key_pem not in repr(loaded)


def test_given_thumbprint_is_kept_and_normalised() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    loaded = load_client_certificate(key_pem(key), thumbprint="ab:cd:ef", field_name="extra.certificate_private_key")
    assert loaded.thumbprint == "ABCDEF"


def test_certificate_credential_needs_an_rsa_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigurationError, match="RSA") as caught:
        load_client_certificate(
            self_signed(key) + key_pem(key), thumbprint=None, field_name="extra.certificate_private_key"
        )
    assert caught.value.field == "extra.certificate_private_key"


def test_certificate_without_a_key_is_a_configuration_error_naming_the_field() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ConfigurationError) as caught:
        load_client_certificate(self_signed(key), thumbprint=None, field_name="extra.certificate_path")
    assert caught.value.field == "extra.certificate_path"


# -- against the sandbox's identity platform ------------------------------------------------------------


async def test_app_only_token_is_for_exchange_and_the_app(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    token = await TokenSource(settings).get_token(settings.exchange_scope)
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == "https://outlook.office365.com"
    assert claims["appid"] == CLIENT_ID
    assert "SMTP.SendAsApp" in claims["roles"]
    assert 3500 < token.expires_in() <= 3600


async def test_one_msal_application_and_one_token_request_serve_every_token_source(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    assert application_for(settings) is application_for(replace(settings, timeout=5.0))
    tokens = [await TokenSource(settings).get_token(settings.exchange_scope) for _ in range(5)]
    tokens += await asyncio.gather(*(TokenSource(settings).get_token(settings.exchange_scope) for _ in range(5)))
    assert len({t.token for t in tokens}) == 1
    assert m365_sandbox.state.stats["token_requests"] == 1


async def test_concurrent_cold_starts_make_one_token_request(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    tokens = await asyncio.gather(*(TokenSource(settings).get_token(settings.exchange_scope) for _ in range(8)))
    assert len({t.token for t in tokens}) == 1
    assert m365_sandbox.state.stats["token_requests"] == 1


async def test_another_secret_gets_its_own_application(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    assert application_for(settings) is not application_for(replace(settings, client_secret=Secret("another-secret")))


async def test_short_lived_tokens_are_fetched_again_before_expiry(m365_sandbox: Sandbox) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(token_lifetime_s=2))
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    source = TokenSource(settings)
    first = await source.get_token(settings.exchange_scope)
    second = await source.get_token(settings.exchange_scope)
    # MSAL treats a token with less than five minutes left as expired: each call asks the identity platform
    assert m365_sandbox.state.stats["token_requests"] == 2
    assert first.token != second.token
    assert second.expires_in() <= 2


async def test_wrong_client_secret_is_aadsts7000215_without_the_secret(m365_sandbox: Sandbox) -> None:
    wrong = "definitely-not-the-secret-value"
    settings = settings_for(m365_sandbox, "smtp_oauth2", password=wrong)
    with pytest.raises(AuthenticationError) as caught:
        await TokenSource(settings).get_token(settings.exchange_scope)
    assert caught.value.code == "AADSTS7000215"
    assert caught.value.hint
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


async def test_certificate_credential_signs_a_client_assertion(m365_sandbox: Sandbox) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert_pem = self_signed(key)

    def register() -> None:
        state = m365_sandbox.state
        (app,) = state.tenant.apps
        state.update_tenant(apps=(replace(app, certificates=(cert_pem.decode(),)),))

    m365_sandbox.call(register)
    settings = settings_for(
        m365_sandbox, "smtp_oauth2", password=None, certificate_private_key=(key_pem(key) + cert_pem).decode()
    )
    assert settings.client_secret is None
    token = await TokenSource(settings).get_token(settings.exchange_scope)
    assert jwt.decode(token.token, options={"verify_signature": False})["appid"] == CLIENT_ID


async def test_unregistered_certificate_is_refused(m365_sandbox: Sandbox) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = settings_for(
        m365_sandbox, "smtp_oauth2", password=None, certificate_private_key=(key_pem(key) + self_signed(key)).decode()
    )
    with pytest.raises(AuthenticationError) as caught:
        await TokenSource(settings).get_token(settings.exchange_scope)
    assert caught.value.code is not None and caught.value.code.startswith("AADSTS")


async def test_delegated_password_grant_gets_a_user_token(m365_sandbox: Sandbox) -> None:
    settings = settings_for(
        m365_sandbox, "smtp_oauth2", login="alice@contoso.com", password="Alice-Passw0rd!",
        auth_type="oauth2_delegated", client_secret=m365_sandbox.settings["client_secret"],
    )
    token = await TokenSource(settings).get_token("https://outlook.office365.com/SMTP.Send")
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["upn"] == "alice@contoso.com"
    assert "SMTP.Send" in claims["scp"].split()
    # the signed-in account is in MSAL's cache now: the next token comes from it, not from a new sign-in
    again = await TokenSource(settings).get_token("https://outlook.office365.com/SMTP.Send")
    assert again.token == token.token
    assert m365_sandbox.state.stats["token_requests"] == 1


async def test_unreachable_identity_platform_is_transient(m365_sandbox: Sandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = settings_for(m365_sandbox, "smtp_oauth2", authority_host=f"127.0.0.1:{closed_port}", timeout=2)
    with pytest.raises(TransientSendError):
        await TokenSource(settings).get_token(settings.exchange_scope)


def test_token_source_refuses_settings_without_oauth(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    with pytest.raises(ConfigurationError) as caught:
        TokenSource(settings)
    assert caught.value.field == "extra.auth_type"


async def test_a_delegated_mailbox_not_yet_signed_in_is_refused_naming_the_login_command(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_for(m365_sandbox, "smtp_delegated", token_cache_path=str(tmp_path / "never-signed-in.json"))
    assert settings.client_secret is None  # a public client: no secret in the connection
    with pytest.raises(ConfigurationError) as caught:
        await TokenSource(settings).get_token("https://outlook.office.com/SMTP.Send")
    assert caught.value.field == "extra.token_cache_path" and "m365mail login" in (caught.value.hint or "")
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["token_requests"]) == 0


async def test_delegated_refresh_token_is_redeemed_for_the_user(m365_sandbox: Sandbox) -> None:
    refresh = m365_sandbox.call(
        lambda: m365_sandbox.state.refresh_tokens.issue(
            CLIENT_ID, "alice@contoso.com", ["SMTP.Send"], now=m365_sandbox.state.clock()
        )
    )
    settings = settings_for(m365_sandbox, "smtp_oauth2", refresh_token=refresh, auth_type="oauth2_delegated")
    assert settings.username == "airflow@contoso.com" and settings.password is None
    token = await TokenSource(settings).get_token("https://outlook.office365.com/SMTP.Send")
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["upn"] == "alice@contoso.com"
    assert refresh not in repr(settings)


# -- TLS failures at the token endpoint are permanent, with a hint, as over SMTP and Graph ---------------------


@contextlib.asynccontextmanager
async def tls_endpoint(ca: trustme.CA, *names: str) -> AsyncIterator[int]:
    """Serve TLS on 127.0.0.1 with a certificate for ``names`` from ``ca``; answer nothing."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_token_endpoint_certificate_for_another_host_is_permanent_with_a_hint(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    async with tls_endpoint(ca, "login.contoso.com") as port:
        settings = settings_for(m365_sandbox, "smtp_oauth2", authority_host=f"127.0.0.1:{port}",
                                ca_bundle=str(tmp_path / "ca.pem"))
        with pytest.raises(PermanentSendError) as caught:
            await TokenSource(settings).get_token(settings.exchange_scope)
    assert "certificate was not accepted" in str(caught.value)
    assert caught.value.hint is not None and "authority_host" in caught.value.hint


async def test_a_token_endpoint_signed_by_an_untrusted_ca_is_permanent_with_a_hint(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    settings = settings_for(m365_sandbox, "smtp_oauth2", ca_bundle=str(other_ca))
    with pytest.raises(PermanentSendError) as caught:
        await TokenSource(settings).get_token(settings.exchange_scope)
    assert caught.value.hint is not None and "ca_bundle" in caught.value.hint
    assert m365_sandbox.state.stats.get("token_requests", 0) == 0


async def test_a_ca_bundle_that_is_not_pem_is_a_configuration_error_naming_it(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82\x01\x0a not a certificate")
    settings = settings_for(m365_sandbox, "smtp_oauth2", ca_bundle=str(not_pem))
    with pytest.raises(ConfigurationError) as caught:
        await TokenSource(settings).get_token(settings.exchange_scope)
    assert caught.value.field == "extra.ca_bundle"


@pytest.mark.sandbox(faults=[{"target": "token", "kind": "reply", "code": 429, "retry_after_s": 120}])
async def test_a_throttled_token_request_asks_to_wait_as_long_as_msal_serves_its_cached_error(
    m365_sandbox: Sandbox,
) -> None:
    # MSAL answers a repeated request from its error cache until the Retry-After passes: a retry sooner meets only
    # the cached 429 (four attempts, one real request). The error names the endpoint's wait instead of 5 s.
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    with pytest.raises(TransientSendError) as first:
        await TokenSource(settings).get_token(settings.exchange_scope)
    with pytest.raises(TransientSendError) as cached:
        await TokenSource(settings).get_token(settings.exchange_scope)
    assert m365_sandbox.state.stats["token_requests"] == 1  # the second answer came from MSAL's cache
    assert first.value.retry_after is not None and 100 < first.value.retry_after <= 120
    assert cached.value.retry_after is not None and 100 < cached.value.retry_after <= first.value.retry_after

"""Get OAuth2 access tokens from Microsoft Entra ID (or a compatible identity provider) through MSAL.

One MSAL application is kept per (authority, client id, credential fingerprint, CA bundle, proxy, token cache
file) for the whole process, so its token cache serves every task a worker runs: a token is fetched once and reused
until MSAL considers it close to expiry (less than 5 minutes left), then refreshed. With ``token_cache_path`` the
cache is a file every process on the host shares (``token_cache``), app-only and delegated alike.

MSAL is blocking and imported lazily; every call into it runs in a worker thread (``asyncio.to_thread``).

MSAL also caches *error* responses of the token endpoint (a 400 for 60 s, a 429/5xx for its Retry-After), keyed
by the request: after fixing a secret in the identity provider, the same application answers with the cached
failure for up to a minute. ``clear_applications()`` drops every application and its caches. So that a retry does
not just meet that cached failure again, a transient token error carries the wait the endpoint asked for (its
``Retry-After``, which MSAL honours up to an hour), remembered from the response itself.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.auth import token_cache
from airflow_provider_m365mail.core.auth.proxies import proxy_for, socks_support_missing
from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.auth.token_errors import (
    is_token_request_error,
    proxy_refusal,
    translate_token_error,
)
from airflow_provider_m365mail.core.errors import (
    MSAL_ERROR_CACHE_S,
    AuthenticationError,
    ConfigurationError,
    M365MailError,
    TransientSendError,
    classify_aadsts,
)
from airflow_provider_m365mail.core.settings import CLOUDS, AuthType, MailSettings
from airflow_provider_m365mail.core.settings.private_servers import skip_user_realm_discovery

if TYPE_CHECKING:
    import requests
    from msal import ClientApplication

log = logging.getLogger(__name__)

#: Authority hosts MSAL knows; any other host (the sandbox, ADFS-like test servers) skips instance discovery.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {c.authority_host for c in CLOUDS.values()}
    | {"login.microsoft.com", "login.windows.net", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"}
)

_AppKey = tuple[str, str, str, str, str, str]
_apps: dict[_AppKey, ClientApplication] = {}
_apps_lock = threading.Lock()
# One acquisition at a time per (application, scope): concurrent cold starts then make one token request and
# the others are served from MSAL's cache.
_acquire_locks: dict[tuple[int, str], threading.Lock] = {}
# Authority -> monotonic time until which the token endpoint asked not to be called (its last 429/5xx Retry-After).
_quiet_until: dict[str, float] = {}


def _acquire_lock(app: ClientApplication, scope: str) -> threading.Lock:
    with _apps_lock:
        return _acquire_locks.setdefault((id(app), scope), threading.Lock())


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the epoch second at which it stops being valid."""

    token: str = field(repr=False)
    expires_on: float

    def expires_in(self, now: float | None = None) -> float:
        """Return the seconds left before expiry (negative once expired)."""
        return self.expires_on - (time.time() if now is None else now)


@dataclass(frozen=True)
class ClientCertificate:
    """An app registration's certificate credential, as MSAL takes it (RSA private key + SHA-1 thumbprint)."""

    private_key_pem: str = field(repr=False)
    thumbprint: str

    def as_msal_credential(self) -> dict[str, str]:
        """Return the ``client_credential`` dict MSAL signs client assertions with."""
        return {"private_key": self.private_key_pem, "thumbprint": self.thumbprint}


class TokenSource:
    """Hand out access tokens for the connection's app registration, refreshing them ahead of expiry.

    App-only (``oauth2_app``) uses the client-credentials grant. Delegated (``oauth2_delegated``) first asks
    MSAL's cache for the signed-in account (with ``token_cache_path``, the file ``m365mail login`` signed it into,
    re-read and written back under its lock so a rotated refresh token reaches every process), then redeems the
    configured refresh token, else falls back to the resource-owner password grant (which fails under MFA;
    Microsoft discourages it). Delegated without a client secret or certificate is a public client.
    """

    def __init__(self, settings: MailSettings) -> None:
        if not settings.uses_oauth:
            raise ConfigurationError(
                "extra.auth_type",
                f"tokens are only used with oauth2_app or oauth2_delegated, not {settings.auth_type.value}",
            )
        if not settings.tenant_id or not settings.client_id:
            missing = "tenant_id" if not settings.tenant_id else "client_id"
            raise ConfigurationError(f"extra.{missing}", f"OAuth2 needs the app registration's {missing}")
        self._settings = settings

    async def get_token(self, scope: str) -> AccessToken:
        """Return a valid access token for ``scope`` (e.g. ``https://outlook.office365.com/.default``).

        Raises ``AuthenticationError`` (with the AADSTS code and a hint) when the identity provider refuses,
        ``TransientSendError`` when it cannot be reached or answers 5xx, ``PermanentSendError`` when TLS fails
        (see ``token_errors``).
        """
        started = time.time()
        try:
            result = await asyncio.to_thread(self._acquire_blocking, scope)
        except TransientSendError as exc:
            self._with_endpoint_wait(exc)
            raise
        token = result.get("access_token")
        if not isinstance(token, str):
            error = classify_aadsts(result.get("error"), result.get("error_description"), result.get("error_codes"))
            raise self._with_endpoint_wait(error) if isinstance(error, TransientSendError) else error
        expires_in = float(result.get("expires_in", 0))
        log.debug(
            "access token for %s from %s, valid for %.0f s",
            scope,
            result.get("token_source", "identity provider"),
            expires_in,
        )
        return AccessToken(token=token, expires_on=started + expires_in)

    def _with_endpoint_wait(self, error: TransientSendError) -> TransientSendError:
        """Make a transient error ask for the wait the token endpoint named, which MSAL's error cache enforces."""
        with _apps_lock:
            quiet_until = _quiet_until.get(self._settings.authority, 0.0)
        error.retry_after = max(error.retry_after or 0.0, quiet_until - time.monotonic(), MSAL_ERROR_CACHE_S)
        return error

    def _acquire_blocking(self, scope: str) -> Mapping[str, Any]:
        try:
            app = application_for(self._settings)
            with _acquire_lock(app, scope):
                return self._acquire_with(app, [scope])
        except M365MailError:
            raise
        except Exception as exc:
            if not is_token_request_error(exc):
                raise
            proxy = proxy_for(self._settings, _authority_name(self._settings))
            refusal = proxy_refusal(exc, proxy, self._settings.authority_host) if proxy else None
            if refusal is not None:
                raise refusal from None  # the client library's own text may repeat the proxy URL
            raise translate_token_error(exc, self._settings.authority) from exc

    def _acquire_with(self, app: ClientApplication, scopes: list[str]) -> Mapping[str, Any]:
        path = self._settings.token_cache_path
        if not path:
            return self._acquire_in_memory(app, scopes)
        # Read, acquire and write back under the file's lock: processes starting together make one token request,
        # and a refresh token rotated by one is the one the next reads.
        with token_cache.locked(path):
            token_cache.load_cache(path, app.token_cache)
            try:
                return self._acquire_in_memory(app, scopes)
            finally:
                if app.token_cache.has_state_changed:
                    token_cache.save_cache(path, app.token_cache)

    def _acquire_in_memory(self, app: ClientApplication, scopes: list[str]) -> Mapping[str, Any]:
        if self._settings.auth_type is AuthType.OAUTH2_APP:
            result: Mapping[str, Any] = app.acquire_token_for_client(scopes=scopes)
            return result
        return self._delegated(app, scopes)

    def _delegated(self, app: ClientApplication, scopes: list[str]) -> Mapping[str, Any]:
        s = self._settings
        accounts = app.get_accounts(username=s.username) if s.username else []
        if accounts:
            cached = app.acquire_token_silent_with_error(scopes, account=accounts[0])
            if cached and ("access_token" in cached or not (s.refresh_token or s.password)):
                return dict(cached)
        if s.token_cache_path and not (s.refresh_token or s.password):
            raise ConfigurationError(
                "extra.token_cache_path",
                f"{s.username} has not signed in: the token cache {s.token_cache_path} holds no sign-in for it",
                hint="sign the mailbox in with `m365mail login --conn-id <connection id>`",
            )
        if s.refresh_token:
            return dict(app.acquire_token_by_refresh_token(s.refresh_token.reveal(), scopes))
        if s.username and s.password:
            return dict(app.acquire_token_by_username_password(s.username, s.password.reveal(), scopes))
        raise ConfigurationError(
            "extra.refresh_token",
            "delegated OAuth2 needs a refresh_token extra, or login and password",
        )


def application_for(settings: MailSettings) -> ClientApplication:
    """Return the process-wide MSAL application for these settings, building it on first use.

    Building fetches the tenant's OpenID configuration, so the identity provider must be reachable.
    """
    credential, fingerprint = _credential(settings)
    proxy = proxy_for(settings, _authority_name(settings))
    key: _AppKey = (
        settings.authority,
        settings.client_id or "",
        fingerprint,
        settings.ca_bundle or "",
        proxy or "",
        settings.token_cache_path or "",
    )
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _build_application(settings, credential, proxy)
            _apps[key] = app
        return app


def clear_applications() -> None:
    """Forget every MSAL application, with its token and error caches (credential rotation, tests)."""
    with _apps_lock:
        _apps.clear()
        _acquire_locks.clear()
        _quiet_until.clear()


def load_client_certificate(pem: bytes, *, thumbprint: str | None, field_name: str) -> ClientCertificate:
    """Read an RSA private key and its certificate from PEM; compute the SHA-1 thumbprint when not given."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            field_name, "no unencrypted PEM private key found", hint="supply the key and certificate in one PEM"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(field_name, "Entra ID certificate credentials need an RSA key")
    if not thumbprint:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise ConfigurationError(
                field_name,
                "no certificate found next to the private key",
                hint="add the certificate to the PEM, or set certificate_thumbprint",
            ) from exc
        thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # Entra shows SHA-1 thumbprints
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return ClientCertificate(private_key_pem=key_pem, thumbprint=thumbprint.replace(":", "").upper())


def _credential(settings: MailSettings) -> tuple[str | dict[str, str] | None, str]:
    """Return MSAL's client credential and a fingerprint that identifies it without revealing it."""
    if settings.certificate_path or settings.certificate_private_key:
        if settings.certificate_private_key:
            pem = settings.certificate_private_key.reveal().encode("utf-8")
            field_name = "extra.certificate_private_key"
        else:
            assert settings.certificate_path is not None
            field_name = "extra.certificate_path"
            try:
                pem = Path(settings.certificate_path).expanduser().read_bytes()
            except OSError as exc:
                raise ConfigurationError(
                    field_name, f"cannot read {settings.certificate_path}: {exc.strerror}"
                ) from exc
        cert = load_client_certificate(pem, thumbprint=settings.certificate_thumbprint, field_name=field_name)
        return cert.as_msal_credential(), "cert:" + hashlib.sha256(pem).hexdigest()
    if settings.client_secret:
        secret = settings.client_secret.reveal()
        return secret, "secret:" + hashlib.sha256(secret.encode()).hexdigest()
    if settings.auth_type is AuthType.OAUTH2_DELEGATED:
        return None, "public"  # a public client ("Allow public client flows" in the app registration)
    raise ConfigurationError(
        "extra.client_secret",
        "OAuth2 needs a client secret or a certificate (certificate_path / certificate_private_key)",
    )


def _authority_name(settings: MailSettings) -> str:
    """Return the identity provider's host name (``authority_host`` may carry a port)."""
    return settings.authority_host.rpartition(":")[0] if ":" in settings.authority_host else settings.authority_host


def _note_retry_after(authority: str, response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Remember the Retry-After of a throttled or failing token endpoint (MSAL serves its cached error until then)."""
    if response.status_code != 429 and response.status_code < 500:
        return
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        with _apps_lock:
            _quiet_until[authority] = time.monotonic() + min(float(value), 3600.0)


def build_public_application(settings: MailSettings) -> ClientApplication:
    """Return a new MSAL public client for interactive sign-in, with the connection's TLS and proxy settings."""
    return _build_application(settings, None, proxy_for(settings, _authority_name(settings)))


def _build_application(
    settings: MailSettings, credential: str | dict[str, str] | None, proxy: str | None
) -> ClientApplication:
    import msal
    import requests

    if settings.ca_bundle:
        make_ssl_context(settings)  # a bundle that is not PEM is refused naming extra.ca_bundle, as over SMTP
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE and friends would override verify=
    session.verify = settings.ca_bundle or True
    if proxy:
        if proxy.lower().startswith("socks"):
            _require_socks_support()
        session.proxies = {"http": proxy, "https": proxy}
    session.request = functools.partial(session.request, timeout=settings.timeout)  # type: ignore[method-assign]
    session.hooks["response"].append(functools.partial(_note_retry_after, settings.authority))

    microsoft = settings.authority_host.lower() in MICROSOFT_AUTHORITY_HOSTS
    options: dict[str, Any] = {
        "authority": settings.authority,
        "http_client": session,
        "validate_authority": microsoft,
        "instance_discovery": None if microsoft else False,
        "token_cache": msal.SerializableTokenCache(),  # a token_cache_path file is read into it and written from it
    }
    try:
        app: ClientApplication = (
            msal.PublicClientApplication(settings.client_id, **options) if credential is None
            else msal.ConfidentialClientApplication(settings.client_id, client_credential=credential, **options)
        )
    except ValueError as exc:
        raise AuthenticationError(
            f"the identity provider does not know tenant {settings.tenant_id!r} at {settings.authority_host}",
            code="AADSTS90002",
            hint="check the tenant_id extra and the cloud / authority_host the tenant lives in",
        ) from exc
    if not microsoft:
        skip_user_realm_discovery(app)
    return app


def _require_socks_support() -> None:
    """Refuse a SOCKS proxy for the token endpoint up front when requests lacks PySocks (it fails only later)."""
    try:
        import socks  # type: ignore[import-untyped]  # noqa: F401 - PySocks, requests' SOCKS support
    except ImportError:
        raise socks_support_missing("the token endpoint") from None

"""Sign a mailbox in for a delegated connection (device code flow) and keep the result in its token cache.

``m365mail login`` uses this: MSAL's public client asks the identity provider for a device code, the caller shows
the verification URL and code to a person, MSAL polls until that person signed in, and the tokens (refresh token
included) go to the connection's ``token_cache_path``, where every worker's ``TokenSource`` finds them.
Nothing here prints or returns a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_m365mail.core.auth import token_cache
from airflow_provider_m365mail.core.auth.token_errors import is_token_request_error, translate_token_error
from airflow_provider_m365mail.core.auth.tokens import build_public_application
from airflow_provider_m365mail.core.errors import AuthenticationError, ConfigurationError, classify_aadsts
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, TransportKind


@dataclass(frozen=True)
class DeviceCodePrompt:
    """What the person signing in needs: where to go and which code to enter there."""

    verification_uri: str
    user_code: str
    expires_in: int
    message: str


@dataclass(frozen=True)
class SignedIn:
    """The outcome of a sign-in: who signed in, for which scopes, and the cache file that now holds the tokens."""

    username: str
    scopes: tuple[str, ...]
    token_cache_path: str


def delegated_scope(settings: MailSettings) -> str:
    """Return the delegated scope the connection's transport asks tokens for (SMTP.Send, or Graph's)."""
    if settings.transport is TransportKind.SMTP:
        from airflow_provider_m365mail.core.transports.smtp.transport import xoauth2_scope

        return xoauth2_scope(settings)
    return settings.graph_scope if settings.transport is TransportKind.GRAPH else settings.ews_scope


def sign_in_with_device_code(settings: MailSettings, show: Callable[[DeviceCodePrompt], None]) -> SignedIn:
    """Run the device code flow for the connection, store the tokens in its cache, and return who signed in.

    ``show`` is called once with the code to enter; the call then blocks, polling as the identity provider asks,
    until the person signed in or the code expired. Raises ``ConfigurationError`` when the
    connection is not a delegated one with a token cache, ``AuthenticationError`` when the sign-in fails, or when
    a mailbox other than the connection's login signed in.
    """
    path = _check_connection(settings)
    scope = delegated_scope(settings)
    try:
        app = build_public_application(settings)
        flow: dict[str, Any] = app.initiate_device_flow(scopes=[scope])
        if "user_code" not in flow:
            raise classify_aadsts(flow.get("error"), flow.get("error_description"), flow.get("error_codes"))
        show(DeviceCodePrompt(flow["verification_uri"], flow["user_code"], int(flow["expires_in"]),
                              flow.get("message", "")))
        result = app.acquire_token_by_device_flow(flow)
    except Exception as exc:
        if is_token_request_error(exc):
            raise translate_token_error(exc, settings.authority) from exc
        raise
    if result.get("error") == "authorization_pending":  # MSAL stopped polling: the code's lifetime is over
        raise AuthenticationError(
            f"nobody signed in with the code {flow['user_code']} before it expired", code="expired_token",
            hint="run `m365mail login` again and enter the new code within the time it gives",
        )
    if "access_token" not in result:
        raise classify_aadsts(result.get("error"), result.get("error_description"), result.get("error_codes"))
    username = str(result.get("id_token_claims", {}).get("preferred_username") or "")
    if settings.username and username.casefold() != settings.username.casefold():
        raise AuthenticationError(
            f"{username or 'another account'} signed in, but the connection sends as {settings.username}",
            hint=f"sign in as {settings.username}, or set the connection's login to the mailbox that signs in",
        )
    with token_cache.locked(path):
        stored = token_cache.load_cache(path)
        stored.deserialize(app.token_cache.serialize())  # this sign-in replaces whatever the file held
        token_cache.save_cache(path, stored)
    return SignedIn(username, (scope,), path)


def _check_connection(settings: MailSettings) -> str:
    if settings.auth_type is not AuthType.OAUTH2_DELEGATED:
        raise ConfigurationError(
            "extra.auth_type",
            f"sign-in is for delegated connections, not {settings.auth_type.value}",
            hint="set extra.auth_type to oauth2_delegated and login to the mailbox that signs in",
        )
    if not settings.token_cache_path:
        raise ConfigurationError(
            "extra.token_cache_path",
            "the sign-in needs a token cache file to keep its tokens in",
            hint="set extra.token_cache_path, e.g. /opt/airflow/m365mail/alice.json (on a volume every worker reads)",
        )
    return settings.token_cache_path

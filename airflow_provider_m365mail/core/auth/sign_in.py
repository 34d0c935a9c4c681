"""Sign a mailbox in for a delegated connection (device code or browser) and keep the result in its token cache.

``m365mail login`` uses this. With a device code, MSAL's public client asks for a code, the caller shows the
verification URL and code to a person, and MSAL polls until that person signed in. With a browser, the authorization
code flow with PKCE runs and the redirect comes back to a loopback port. Either way the tokens (refresh token
included) go to the connection's ``token_cache_path``, where every worker's ``TokenSource`` finds them.
Nothing here prints or returns a token.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.auth import token_cache
from airflow_provider_m365mail.core.auth.loopback import LoopbackRedirect
from airflow_provider_m365mail.core.auth.token_errors import is_token_request_error, translate_token_error
from airflow_provider_m365mail.core.auth.tokens import build_public_application
from airflow_provider_m365mail.core.errors import AuthenticationError, ConfigurationError, classify_aadsts
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, TransportKind

if TYPE_CHECKING:
    from msal import ClientApplication

BROWSER_TIMEOUT_S = 600.0  # as long as an authorization code lives


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
    until the person signed in or the code expired. Raises ``ConfigurationError`` when the connection is not a
    delegated one with a token cache, ``AuthenticationError`` when the sign-in fails, or when a mailbox other than
    the connection's login signed in.
    """
    path = _check_connection(settings)
    scope = delegated_scope(settings)
    with _token_requests(settings):
        app = build_public_application(settings)
        flow: dict[str, Any] = app.initiate_device_flow(scopes=[scope])
        if "user_code" not in flow:
            raise classify_aadsts(flow.get("error"), flow.get("error_description"), flow.get("error_codes"))
        show(DeviceCodePrompt(flow["verification_uri"], flow["user_code"], int(flow["expires_in"]),
                              flow.get("message", "")))
        result = app.acquire_token_by_device_flow(flow)
    if result.get("error") == "authorization_pending":  # MSAL stopped polling: the code's lifetime is over
        raise AuthenticationError(
            f"nobody signed in with the code {flow['user_code']} before it expired", code="expired_token",
            hint="run `m365mail login` again and enter the new code within the time it gives",
        )
    return _keep(settings, app, result, scope, path)


def sign_in_with_browser(
    settings: MailSettings, show: Callable[[str], None], *, timeout_s: float = BROWSER_TIMEOUT_S
) -> SignedIn:
    """Run the authorization code flow with PKCE and a loopback redirect; store the tokens and return who signed in.

    ``show`` gets the authorization URL to open in a browser (on this host: the redirect comes back to a loopback
    port). The call waits up to ``timeout_s`` for the redirect. Errors as ``sign_in_with_device_code``.
    """
    path = _check_connection(settings)
    scope = delegated_scope(settings)
    with _token_requests(settings), LoopbackRedirect() as loopback:
        app = build_public_application(settings)
        with warnings.catch_warnings():  # form_post needs script in the sign-in page; the loopback takes a query
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow: dict[str, Any] = app.initiate_auth_code_flow(
                [scope], redirect_uri=loopback.redirect_uri, login_hint=settings.username)
        show(flow["auth_uri"])
        answer = loopback.wait(timeout_s)
        if answer is None:
            raise AuthenticationError(
                f"no sign-in came back to {loopback.redirect_uri} within {timeout_s:.0f} s", code="timeout",
                hint="open the printed URL in a browser on this host and sign in, or use --device-code",
            )
        result = app.acquire_token_by_auth_code_flow(flow, answer)
    return _keep(settings, app, result, scope, path)


@contextmanager
def _token_requests(settings: MailSettings) -> Iterator[None]:
    """Translate failures of requests and MSAL to the provider's errors, as ``TokenSource`` does."""
    try:
        yield
    except Exception as exc:
        if is_token_request_error(exc):
            raise translate_token_error(exc, settings.authority) from exc
        raise


def _keep(settings: MailSettings, app: ClientApplication, result: Mapping[str, Any], scope: str,
          path: str) -> SignedIn:
    """Check who signed in and put the tokens in the connection's cache file, replacing what it held (a new sign-in
    supersedes the old one; each delegated connection has a file of its own)."""
    if "access_token" not in result:
        raise classify_aadsts(result.get("error"), result.get("error_description"), result.get("error_codes"))
    username = str(result.get("id_token_claims", {}).get("preferred_username") or "")
    if settings.username and username.casefold() != settings.username.casefold():
        raise AuthenticationError(
            f"{username or 'another account'} signed in, but the connection sends as {settings.username}",
            hint=f"sign in as {settings.username}, or set the connection's login to the mailbox that signs in",
        )
    with token_cache.locked(path):  # no worker reads it half-written or refreshes in between
        token_cache.save_cache(path, app.token_cache)
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

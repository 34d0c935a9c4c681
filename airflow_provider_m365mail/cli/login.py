"""``m365mail login``: sign a delegated connection's mailbox in, and keep its tokens in the connection's token cache.

The device code flow (the default) works on a host without a browser: the command prints the verification URL and
the code, someone signs in there (on any device), and the command, which waits meanwhile, stores the tokens in the
file the connection's ``extra.token_cache_path`` names, where every worker on the host finds them and keeps
refreshing them. ``--browser`` runs the authorization code flow with PKCE instead: it prints (and, with a display,
opens) the sign-in URL and waits for the redirect on a loopback port. ``--json`` prints one JSON object per line
instead: first the URL (and code), last who signed in and where the tokens went. ``--update-connection`` also
writes the new refresh token into the connection's ``extra.refresh_token`` in Airflow's metadata database (refused,
before the sign-in, for a connection Airflow reads from elsewhere). No token is ever printed.
Exit code 0 once signed in, 1 otherwise.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from airflow_provider_m365mail.cli.doctor import add_connection_arguments, logs_to_stderr, settings_loader
from airflow_provider_m365mail.cli.events import Events

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.auth.sign_in import DeviceCodePrompt, SignedIn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the flags of login."""
    add_connection_arguments(parser)
    # Plain flags, not a mutually exclusive group: Airflow's CLI is handed each add_argument call (see main).
    parser.add_argument(
        "--device-code", action="store_true",
        help="sign in with a code entered on any device (the default; works on a host without a browser)",
    )
    parser.add_argument(
        "--browser", action="store_true",
        help="sign in in a browser on this host (authorization code with PKCE; the redirect comes back to a "
             "loopback port)",
    )
    parser.add_argument(
        "--update-connection", action="store_true",
        help="also write the refresh token into the connection's extra.refresh_token in Airflow's metadata database "
             "(the connection must be stored there)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line instead of text")


def run(args: argparse.Namespace) -> int:
    """Sign the connection's mailbox in; return 0 once its tokens are in the token cache."""
    from airflow_provider_m365mail.core.auth.sign_in import sign_in_with_browser, sign_in_with_device_code

    events = Events(args.json)

    def prompt(code: DeviceCodePrompt) -> None:
        events.say("device_code",
                   code.message or f"Open {code.verification_uri} and enter the code {code.user_code}.",
                   verification_uri=code.verification_uri, user_code=code.user_code, expires_in=code.expires_in)
        if not args.json:
            print("Waiting for the sign-in...", flush=True)

    def authorize(url: str) -> None:
        events.offer_url("authorize", f"Open this URL in a browser on this host and sign in:\n{url}",
                         authorization_uri=url)

    if args.browser and args.device_code:
        events.say("failed", "FAILED: choose --device-code or --browser, not both",
                   error="--device-code and --browser")
        return 2
    try:
        if args.update_connection:
            _require_stored_connection(args)
        settings = settings_loader(args)()
        if args.browser:
            signed_in = sign_in_with_browser(settings, authorize)
        else:
            signed_in = sign_in_with_device_code(settings, prompt)
        updated = _update_connection(args.conn_id, signed_in) if args.update_connection else None
    except Exception as exc:
        return events.failed(exc)
    also = f" and in the connection {updated}'s extra.refresh_token" if updated else ""
    events.say("signed_in",
               f"Signed in as {signed_in.username}; the tokens are in {signed_in.token_cache_path}{also} (every "
               "worker using this connection on this host reads them from there).",
               username=signed_in.username, scopes=list(signed_in.scopes),
               token_cache_path=signed_in.token_cache_path, updated_connection=updated)
    return 0


def _require_stored_connection(args: argparse.Namespace) -> None:
    """Refuse --update-connection unless Airflow reads the connection from its metadata database."""
    from airflow_provider_m365mail.core.errors import ConfigurationError

    if args.conn_json:
        raise ConfigurationError("--update-connection", "a connection given with --conn-json is stored nowhere",
                                 hint="name a connection in Airflow's metadata database with --conn-id")
    from airflow_provider_m365mail.cli.stored_connection import require_metadata_connection

    logs_to_stderr()  # standard output carries the events
    require_metadata_connection(args.conn_id)


def _update_connection(conn_id: str, signed_in: SignedIn) -> str:
    """Copy the signed-in mailbox's new refresh token from the token cache into the stored connection."""
    from airflow_provider_m365mail.cli.stored_connection import store_refresh_token
    from airflow_provider_m365mail.core.auth.token_cache import cached_sign_in
    from airflow_provider_m365mail.core.errors import AuthenticationError

    cached = cached_sign_in(signed_in.token_cache_path, signed_in.username)
    if cached is None:
        raise AuthenticationError(f"the sign-in of {signed_in.username} brought no refresh token",
                                  hint="check that the connection's scopes include offline_access")
    store_refresh_token(conn_id, cached.refresh_token)
    return conn_id

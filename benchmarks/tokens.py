"""Count OAuth2 token requests per N sends (goal: 1 per process), ours against the SMTP provider's SmtpHook.

Both sides send N messages with app-only OAuth2 (client credentials, SMTP XOAUTH2) to the sandbox, each in a
fresh worker-like process, one hook per message as successive tasks or callbacks do, and the sandbox's
``token_requests`` counter says how many times each went to the token endpoint:

- ``ours``: ``M365MailHook(...).send(...)`` per message. One MSAL application per process keeps the token until
  it nears expiry.
- ``smtphook_per_call``: ``with SmtpHook(...)`` per message, as its ``EmailOperator`` and ``SmtpNotifier`` do. It
  builds a new MSAL application, with an empty cache, each time it connects.
- ``smtphook_reused``: one ``with SmtpHook(...)`` around all N sends, for reference.

SmtpHook always asks ``https://login.microsoftonline.com/<tenant>``; in its process that authority is routed to
the sandbox (as a hosts-file entry would), nothing else about it changes. Prints
``token_requests_ratio_vs_smtphook=<x>`` (ours / smtphook_per_call; below 1: ours asks less).

    python benchmarks/tokens.py [--sends 1000] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sandbox_process import UNTHROTTLED_LIMITS, admin, run_child, running_sandbox

RECIPIENT = "bob@contoso.com"
CONN_ID = "bench_oauth"


def _connection(settings: dict[str, Any], side: str) -> dict[str, Any]:
    """Return the app-only OAuth2 Airflow connection for ``side`` (ours, or the SMTP provider's)."""
    ours = settings["airflow_connections"]["smtp_oauth2"]
    if side == "ours":
        return {**ours, "extra": {**ours["extra"], "max_messages_per_minute": 10**9}}
    extra = ours["extra"]
    return {
        "conn_type": "smtp", "host": ours["host"], "port": ours["port"], "login": ours["login"],
        "extra": {"auth_type": "oauth2", "client_id": extra["client_id"], "client_secret": settings["client_secret"],
                  "tenant_id": extra["tenant_id"], "from_email": extra["from_email"], "disable_ssl": True,
                  "retry_limit": 0},
    }


def _route_msal_to(settings: dict[str, Any]) -> None:
    """Send this process's MSAL applications for login.microsoftonline.com to the sandbox instead."""
    import msal
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = settings["ca_file"]
    microsoft = msal.ConfidentialClientApplication

    class Routed(microsoft):  # type: ignore[misc,valid-type]
        def __init__(self, client_id: str, *, authority: str, **kwargs: Any) -> None:
            authority = authority.replace("login.microsoftonline.com", settings["authority_host"])
            super().__init__(client_id, authority=authority, instance_discovery=False, http_client=session, **kwargs)

    msal.ConfidentialClientApplication = Routed


def _send(side: str, settings_file: Path, sends: int) -> dict[str, Any]:
    """In this fresh process: send ``sends`` messages along ``side``."""
    settings = json.loads(settings_file.read_text())
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(_connection(settings, side))
    if side == "ours":
        from airflow_provider_m365mail.hooks.m365mail import M365MailHook

        for i in range(sends):
            M365MailHook(CONN_ID).send(to=RECIPIENT, subject=f"Token test {i}", text_content="x")
        return {"sent": sends}
    os.environ["SSL_CERT_FILE"] = settings["ca_file"]  # SmtpHook trusts the default store only
    _route_msal_to(settings)
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    if side == "smtphook_reused":
        with SmtpHook(CONN_ID) as hook:
            for i in range(sends):
                hook.send_email_smtp(to=RECIPIENT, subject=f"Token test {i}", html_content="x")
    else:
        for i in range(sends):
            with SmtpHook(CONN_ID) as hook:
                hook.send_email_smtp(to=RECIPIENT, subject=f"Token test {i}", html_content="x")
    return {"sent": sends}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="5 sends per side")
    parser.add_argument("--measure", choices=("ours", "smtphook_per_call", "smtphook_reused"), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sends = 5 if args.smoke else args.sends
    if args.measure:
        print(json.dumps(_send(args.measure, Path(args.paths[0]), sends)))
        return 0

    counts: dict[str, int] = {}
    with running_sandbox({"limits": UNTHROTTLED_LIMITS}) as settings:
        settings_file = Path(settings["ca_file"]).parent / "settings.json"
        for side in ("ours", "smtphook_per_call", "smtphook_reused"):
            before = admin(settings, "GET", "/stats")
            run_child(__file__, ["--measure", side, *(["--smoke"] if args.smoke else ["--sends", str(sends)]),
                                 str(settings_file)])
            after = admin(settings, "GET", "/stats")
            accepted = after["messages_accepted"] - before["messages_accepted"]
            if accepted != sends:
                raise RuntimeError(f"{side}: the server accepted {accepted} of {sends} messages")
            counts[side] = after["token_requests"] - before["token_requests"]
            print(f"{side}: {counts[side]} token requests for {sends} sends "
                  f"({counts[side] * 1000 / sends:.0f} per 1,000)")
    print(f"token_requests_ratio_vs_smtphook={counts['ours'] / max(counts['smtphook_per_call'], 1):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``m365mail consent``: grant an app-only connection's permissions for the tenant, then check what its tokens carry.

The command prints (and, with a display, opens) the admin consent URL for the app and cloud, and waits on a
loopback port for Entra ID's redirect; an administrator accepts in a browser on this host. It then asks for an
app-only token and compares its roles with what the connection needs (SMTP.SendAsApp for SMTP; Mail.Send, and
Mail.ReadWrite for large attachments, for Graph), naming each missing one with its fix. ``--verify-only`` skips the
consent and only checks. ``--json`` prints one JSON object per line. Exit code 0 when nothing is missing.
"""

from __future__ import annotations

import argparse
import secrets

from airflow_provider_m365mail.cli.doctor import add_connection_arguments, settings_loader
from airflow_provider_m365mail.cli.events import Events

CONSENT_TIMEOUT_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the flags of consent."""
    add_connection_arguments(parser)
    parser.add_argument("--verify-only", action="store_true",
                        help="do not ask for consent: only check the roles the app's tokens carry")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line instead of text")


def run(args: argparse.Namespace) -> int:
    """Ask for admin consent (unless --verify-only) and check the roles; return 0 when none is missing."""
    from airflow_provider_m365mail.core.auth.consent import admin_consent_url, check_consent, needed_roles
    from airflow_provider_m365mail.core.auth.loopback import LoopbackRedirect
    from airflow_provider_m365mail.core.auth.tokens import clear_applications
    from airflow_provider_m365mail.core.run_sync import run_sync

    events = Events(args.json)

    try:
        settings = settings_loader(args)()
        needed_roles(settings)  # refuses a connection that is not app-only before anything is opened
        if not args.verify_only:
            with LoopbackRedirect() as loopback:
                state = secrets.token_urlsafe(16)
                url = admin_consent_url(settings, loopback.redirect_uri, state)
                events.offer_url("admin_consent",
                                 f"An administrator opens this URL in a browser on this host and accepts:\n{url}",
                                 consent_uri=url)
                answer = loopback.wait(CONSENT_TIMEOUT_S) or {"error": "timeout"}
            if answer.get("state") != state or answer.get("admin_consent") != "True":
                reason = answer.get("error_description") or answer.get("error") or "the answer did not match"
                events.say("failed", f"FAILED: consent not granted: {reason}", error=reason)
                return 1
        clear_applications()  # a token fetched before the consent would still lack the roles
        check = run_sync(check_consent(settings))
    except Exception as exc:
        return events.failed(exc)
    missing = [{"role": r.role, "api": r.api, "why": r.why, "fix": r.fix} for r in check.missing]
    lines = [f"The app's tokens carry: {', '.join(check.granted) or 'no roles'}."]
    lines += [f"MISSING {r['role']} ({r['api']}), needed for {r['why']}. Fix: {r['fix']}" for r in missing]
    events.say("verified", "\n".join(lines + ([] if missing else ["Every role the connection needs is granted."])),
               granted=list(check.granted), missing=missing)
    return 1 if missing else 0

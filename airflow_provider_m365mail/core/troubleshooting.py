"""Generate ``docs/troubleshooting.md`` from ``KNOWN_REPLIES`` and link an error to its entry there.

The page is never edited by hand: ``python -m airflow_provider_m365mail.core.troubleshooting docs/troubleshooting.md``
rewrites it, and a test fails when the committed page and the catalogue disagree. Every entry has a stable HTML
anchor (``smtp-5-7-139``, ``graph-erroraccessdenied``, ``entra-aadsts7000215``) that ``m365mail doctor`` prints.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from airflow_provider_m365mail.core.errors import (
    KNOWN_REPLIES,
    KnownReply,
    M365MailError,
    ReplySource,
    parse_enhanced_status,
)

PAGE = "troubleshooting.md"
_SECTIONS = {
    ReplySource.SMTP: (
        "SMTP replies (Exchange Online)",
        "Replies to SMTP client submission (SMTP AUTH), direct send and relay. Python's smtplib and aiosmtplib "
        "report refusals at MAIL FROM, RCPT TO and after DATA; replies marked NDR under When arrive later, as a "
        "non-delivery report in the sender's mailbox.",
    ),
    ReplySource.GRAPH: (
        "Microsoft Graph errors",
        "`error.code` values (or HTTP statuses) of `POST /users/{id}/sendMail` and the draft / upload-session calls.",
    ),
    ReplySource.ENTRA: (
        "Microsoft Entra ID sign-in errors (AADSTS)",
        "Errors of the token request (`/oauth2/v2.0/token`) MSAL makes before SMTP XOAUTH2 or Graph.",
    ),
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def _base_anchor(entry: KnownReply) -> str:
    if entry.source is ReplySource.GRAPH:
        key = entry.code or f"http-{entry.http_status}"
    elif entry.source is ReplySource.ENTRA:
        key = entry.code or ""
    else:
        key = entry.enhanced_status or parse_enhanced_status(entry.example) or entry.code or ""
    return _slug(f"{entry.source.value}-{key}")


def anchors() -> dict[KnownReply, str]:
    """Return each catalogue entry's anchor; entries sharing a code are numbered in table order (-2, -3 ...)."""
    seen: Counter[str] = Counter()
    result: dict[KnownReply, str] = {}
    for entry in KNOWN_REPLIES:
        base = _base_anchor(entry)
        seen[base] += 1
        result[entry] = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return result


def entry_for(error: M365MailError) -> KnownReply | None:
    """Return the catalogue entry an error was classified from (its hint is the entry's), if any."""
    if not error.hint:
        return None
    matches = [e for e in KNOWN_REPLIES if error.hint == f"{e.meaning}. {e.fix}"]
    exact = [e for e in matches if error.code == e.code or error.enhanced_status == e.enhanced_status]
    found = exact or matches
    return found[0] if found else None


def anchor_for(error: M365MailError) -> str | None:
    """Return ``troubleshooting.md#<anchor>`` for an error that matches a catalogue entry."""
    entry = entry_for(error)
    return f"{PAGE}#{anchors()[entry]}" if entry is not None else None


def _title(entry: KnownReply) -> str:
    if entry.source is ReplySource.SMTP:
        reply_code = entry.example.split(" ", 1)[0]
        code = " ".join(p for p in (reply_code, entry.enhanced_status or parse_enhanced_status(entry.example)) if p)
    elif entry.source is ReplySource.GRAPH:
        code = f"{entry.http_status} {entry.code}" if entry.code else f"HTTP {entry.http_status}"
    else:
        code = entry.code or ""
    return f"{code}: {entry.meaning}"


def _entry_markdown(entry: KnownReply, anchor: str) -> str:
    retry = "yes, the provider retries it" if entry.transient else "no: fix the cause first"
    return "\n".join(
        [
            f'<a id="{anchor}"></a>',
            "",
            f"### {_title(entry)}",
            "",
            "```text",
            entry.example,
            "```",
            "",
            f"- **When:** {entry.stage}",
            f"- **Meaning:** {entry.meaning}.",
            f"- **Fix:** {entry.fix}.",
            f"- **Retried:** {retry} (raised as `{entry.error}`).",
            "",
        ]
    )


def render() -> str:
    """Return the whole troubleshooting page."""
    named = anchors()
    parts = [
        "# Troubleshooting by error code",
        "",
        "<!-- Generated from airflow_provider_m365mail/core/reply_catalogue.py: do not edit by hand. Regenerate "
        "with `python -m airflow_provider_m365mail.core.troubleshooting docs/troubleshooting.md`. -->",
        "",
        "Every reply below is recognised by the provider: the exception it raises carries the code and the hint "
        "shown here, and `m365mail doctor` links to the entry. Run the doctor first; it tests each step (DNS, "
        "port, TLS, token, sign-in, Send As) and says which one fails:",
        "",
        "```bash",
        "m365mail doctor --conn-id m365mail_default",
        "```",
        "",
        "Errors without a code here (a port that does not answer, a certificate that is not trusted) are explained "
        "in [the doctor's page](doctor.md).",
        "",
    ]
    for source, (title, intro) in _SECTIONS.items():
        parts += [f"## {title}", "", intro, ""]
        parts += [_entry_markdown(e, named[e]) for e in KNOWN_REPLIES if e.source is source]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    """Write the page to the path given, or print it."""
    if argv:
        Path(argv[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Link an error to its entry of the troubleshooting page, and write an entry as that page shows it.

Every catalogue entry has a stable HTML anchor (``smtp-5-7-139``, ``graph-erroraccessdenied``,
``entra-aadsts7000215``) that ``m365mail doctor`` prints; ``docs_gen/troubleshooting_page.py`` writes the page.
"""

from __future__ import annotations

import re
from collections import Counter

from airflow_provider_m365mail.core.errors import (
    KNOWN_REPLIES,
    KnownReply,
    M365MailError,
    ReplySource,
    parse_enhanced_status,
)

PAGE = "troubleshooting.md"
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def _base_anchor(entry: KnownReply) -> str:
    if entry.source in (ReplySource.GRAPH, ReplySource.ACS):
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
    elif entry.source in (ReplySource.GRAPH, ReplySource.ACS):
        code = f"{entry.http_status} {entry.code}" if entry.code else f"HTTP {entry.http_status}"
    else:
        code = entry.code or ""
    return f"{code}: {entry.meaning}"


def entry_markdown(entry: KnownReply, anchor: str) -> str:
    """Return one entry as the troubleshooting page shows it (Markdown, with its anchor)."""
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

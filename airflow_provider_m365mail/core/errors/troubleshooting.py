"""Link an error to its entry of the troubleshooting page, find entries by code, and write an entry as shown.

Every catalogue entry has a stable HTML anchor (``smtp-5-7-139``, ``graph-erroraccessdenied``,
``entra-aadsts7000215``); ``docs_gen/troubleshooting_page.py`` writes the page. The page is not in the installed
package, so ``m365mail doctor`` and ``send-test`` name ``m365mail explain CODE``, which prints the entry from here.
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
from airflow_provider_m365mail.core.errors.classify import status_matches

PAGE = "troubleshooting.md"
DOCS_URL = "https://airflow-provider-m365mail.readthedocs.io/en/latest/"
_REPLY_CODE = re.compile(r"^[245]\d\d$")
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def _base_anchor(entry: KnownReply) -> str:
    if entry.source in (ReplySource.GRAPH, ReplySource.ACS):
        key = entry.code or f"http-{entry.http_status}"
    elif entry.source in (ReplySource.ENTRA, ReplySource.PROXY):
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
    elif entry.source is ReplySource.PROXY:
        code = f"HTTP {entry.code}" if (entry.code or "").isdigit() else f"proxy {entry.code}"
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


def find_entries(query: str) -> list[KnownReply]:
    """Return the catalogue entries a code or a pasted reply names, most specific first.

    Accepts an enhanced status ("5.7.60", with or without its reply code "535 5.7.139" or the whole reply text),
    a Graph error code with or without its HTTP status ("ErrorSendAsDenied", "403 ErrorAccessDenied", "429"),
    an Entra code ("AADSTS7000215" or "7000215") or an entry's anchor ("smtp-5-7-139-2").
    """
    text = query.strip()
    by_anchor = [entry for entry, anchor in anchors().items() if anchor == text.casefold().lstrip("#")]
    if by_anchor:
        return by_anchor
    tokens = re.split(r"[\s:;,]+", text)
    reply_code = next((t for t in tokens if _REPLY_CODE.match(t)), None)
    status = parse_enhanced_status(text)
    words = {t.casefold() for t in tokens if t and not t[0].isdigit()}
    numbers = {f"aadsts{t}" for t in tokens if t.isdigit() and len(t) > 3}
    found: list[KnownReply] = []
    for entry in KNOWN_REPLIES:
        if entry.source is ReplySource.SMTP:
            entry_status = entry.enhanced_status or parse_enhanced_status(entry.example)
            same_reply_code = reply_code is None or entry.example.startswith(reply_code)
            if status and entry_status and status_matches(entry_status, status) and same_reply_code:
                found.append(entry)
        elif entry.source is ReplySource.GRAPH:
            if (entry.code and entry.code.casefold() in words) or (
                not words and reply_code is not None and str(entry.http_status) == reply_code
            ):
                found.append(entry)
        elif entry.code and entry.code.casefold() in words | numbers:
            found.append(entry)
    # A pasted reply's text picks among entries sharing a code ("535 5.7.139 ... basic authentication is disabled").
    by_text = [e for e in found if e.pattern and re.search(e.pattern, text, re.IGNORECASE)]
    return by_text or found


def explain_key(entry: KnownReply) -> str:
    """Return what to pass to ``m365mail explain`` to get exactly this entry: its code, or its anchor if shared."""
    if entry.source is ReplySource.SMTP:
        key = entry.enhanced_status or parse_enhanced_status(entry.example) or ""
    else:
        key = entry.code or str(entry.http_status)
    return key if find_entries(key) == [entry] else anchors()[entry]


def explain_command(entry: KnownReply) -> str:
    """Return the command that prints this entry: ``m365mail explain 5.7.60``."""
    return f"m365mail explain {explain_key(entry)}"


def where_to_read(docs: str) -> str:
    """Turn a ``page.md#anchor`` reference into what a user can follow from an installed package.

    A troubleshooting entry becomes its ``m365mail explain`` command (the online page follows); another page
    becomes its URL in the published documentation.
    """
    page, _, anchor = docs.partition("#")
    url = f"{DOCS_URL}{page.removesuffix('.md')}/" + (f"#{anchor}" if anchor else "")
    if page == PAGE:
        entry = next((e for e, a in anchors().items() if a == anchor), None)
        if entry is not None:
            return f"run `{explain_command(entry)}` (or read {url})"
    return f"read {url}"

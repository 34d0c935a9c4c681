"""``m365mail explain CODE``: print what a server reply means and what fixes it, from the installed package.

The troubleshooting page is generated from the reply catalogue the package carries, so the same entry is here
when the documentation is not (an air-gapped worker, a wheel without docs).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the code to explain."""
    parser.add_argument(
        "code",
        nargs="+",
        help='a reply code or a pasted reply: "5.7.60", "535 5.7.139", "ErrorSendAsDenied", "AADSTS7000215"',
    )


def run(args: argparse.Namespace) -> int:
    """Print each matching troubleshooting entry; return 1 when none matches."""
    from airflow_provider_m365mail.core.errors.troubleshooting import (
        DOCS_URL,
        PAGE,
        anchors,
        entry_markdown,
        find_entries,
    )

    query = " ".join(args.code)
    entries = find_entries(query)
    if not entries:
        print(f"No troubleshooting entry matches {query!r}. Pass the enhanced status code (\"5.7.60\"), the Graph "
              f"error code (\"ErrorAccessDenied\") or the Entra code (\"AADSTS7000215\"); every entry is listed at "
              f"{DOCS_URL}{PAGE.removesuffix('.md')}/")
        return 1
    all_anchors = anchors()
    for entry in entries:
        anchor = all_anchors[entry]
        _, _, body = entry_markdown(entry, anchor).partition("\n\n")  # drop the HTML anchor line
        print(body.rstrip("\n"))
        print(f"- **Online:** {DOCS_URL}{PAGE.removesuffix('.md')}/#{anchor}\n")
    return 0

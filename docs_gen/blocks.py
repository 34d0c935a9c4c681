"""Replace a generated block, kept between two marker comments, inside a hand-written page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def replace_block(page: str, begin: str, end: str, block: str) -> str:
    """Return ``page`` with the text from ``begin`` to ``end`` (markers included) replaced by ``block``."""
    start, stop = page.find(begin), page.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the page has no {begin!r} ... {end!r} block to fill")
    return page[:start] + block + page[stop + len(end) :]


def rewrite_page(argv: list[str], update: Callable[[str], str]) -> int:
    """Rewrite the page named in ``argv`` (default: docs/connection.md) with ``update``; return the exit code."""
    path = Path(argv[0] if argv else "docs/connection.md")
    path.write_text(update(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0

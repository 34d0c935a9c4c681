"""A generated block, kept between two marker comments inside a hand-written page, and the command rewriting it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GeneratedBlock:
    """The text ``render()`` returns (markers included) belongs between ``begin`` and ``end`` in a page."""

    begin: str
    end: str
    render: Callable[[], str]

    def update(self, page: str) -> str:
        """Return ``page`` with the block between the markers replaced by ``render()``."""
        start, stop = page.find(self.begin), page.find(self.end)
        if start < 0 or stop < start:
            raise ValueError(f"the page has no {self.begin!r} ... {self.end!r} block to fill")
        return page[:start] + self.render() + page[stop + len(self.end) :]

    def main(self, argv: list[str]) -> int:
        """Rewrite the block in the page named in ``argv`` (default: docs/connection.md); return the exit code."""
        path = Path(argv[0] if argv else "docs/connection.md")
        path.write_text(self.update(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0

"""Find the fenced code blocks of README.md and docs/, with the skip reason an HTML comment before one may give.

A block that cannot run here is marked in the Markdown, on the line right before its fence:
``<!-- docs-test: skip reason="PowerShell, runs in Exchange Online" -->``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                    re.MULTILINE | re.DOTALL)
_SKIP = re.compile(r'<!--\s*docs-test:\s*skip\s+reason="(?P<reason>[^"]+)"\s*-->\s*$')
# Languages whose blocks show output or markup rather than code to run.
NOT_CODE = {"text", "html"}
# block id -> ("passed" | "failed" | "skipped", skip reason): filled as the blocks run, summed up at the end
RESULTS: dict[str, tuple[str, str]] = {}


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: where it is, its language, its text (dedented) and why it is skipped, if it is."""

    page: Path
    line: int
    lang: str
    code: str
    skip_reason: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}:{self.lang or 'none'}"


def blocks(pages: list[Path] = PAGES) -> list[CodeBlock]:
    """Return every fenced block of ``pages`` in page order."""
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rpartition("\n")[2]
            skip = _SKIP.search(before)
            indent = len(match.group("indent"))
            body = "".join(row[indent:] if row[:indent].isspace() else row
                           for row in match.group("body").splitlines(keepends=True))
            found.append(CodeBlock(page, line, match.group("lang").lower(), body,
                                   skip.group("reason") if skip else None))
    return found

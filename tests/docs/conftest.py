"""Count the documentation's code blocks as they run, and print one summary line at the end of the session."""

from __future__ import annotations

from typing import Any

import pytest
from doc_blocks import RESULTS as DOCS_RESULTS


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not DOCS_RESULTS:
        return
    outcomes = [outcome for outcome, _ in DOCS_RESULTS.values()]
    ran = outcomes.count("passed") + outcomes.count("failed")
    skipped = sorted((block, reason) for block, (outcome, reason) in DOCS_RESULTS.items() if outcome == "skipped")
    terminalreporter.write_line(
        f"docs code blocks: {ran} ran, {outcomes.count('passed')} passed, {outcomes.count('failed')} failed, "
        f"{len(skipped)} skipped" + ("" if not skipped else ": " + "; ".join(f"{b} ({r})" for b, r in skipped))
    )

"""Debian's Chromium, headless, driven by Playwright for Python (its own browser download cannot reach the internet)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from real_parts import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """Launch Chromium for the block. Playwright's sync API runs an event loop in this thread meanwhile: run
    async code, and ``run_sync``, only outside the block."""
    if not CHROMIUM.exists():
        unavailable(f"needs {CHROMIUM}: apt-get install chromium (listed in .ci/apt-packages)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

"""Skip a test whose real third-party part (a Debian package, root) is missing, or fail it where CI requires them.

CI sets ``M365MAIL_REAL_PARTS=required`` (``.ci/run``): there a missing Postfix, Chromium or proxy is a broken
installation that must turn the run red, not a skip nobody reads. Elsewhere the test is skipped, saying why.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip (or, where real parts are required, fail) the current test because ``reason``."""
    if os.environ.get("M365MAIL_REAL_PARTS") == "required":
        pytest.fail(f"a real part the run requires is missing: {reason}", pytrace=False)
    pytest.skip(reason)

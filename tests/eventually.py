"""Wait for something another thread or process does next (the sandbox closing a session), without a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], *, within_s: float = 20.0) -> None:
    """Return once ``condition()`` holds; fail if it still does not after ``within_s`` (a bound for a loaded
    machine, not a measurement)."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {within_s} s"
        await asyncio.sleep(0.05)

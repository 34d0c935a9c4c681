"""Run a coroutine to completion from synchronous code, on an event loop of its own."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def run_sync(coro: Awaitable[T]) -> T:
    """Run ``coro`` on a new private event loop and return its result (like ``asyncio.run``).

    The loop is closed afterwards, with its async generators and default executor shut down, and the thread's
    current event loop is left untouched. Called from inside a running loop, it refuses with ``RuntimeError``:
    blocking that loop would stall every other task on it, so await the async method instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if inspect.iscoroutine(coro):
            coro.close()  # never awaited: close it so Python does not warn about it
        raise RuntimeError(
            "run_sync() cannot be called from a running event loop; await the async method instead "
            "(for example `await hook.asend(...)` rather than `hook.send(...)`)"
        )
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            _cancel_pending(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_provider_m365mail.core.run_sync import run_sync


async def _answer(value: int) -> int:
    await asyncio.sleep(0)
    return value


def test_run_sync_returns_the_coroutine_result() -> None:
    assert run_sync(_answer(42)) == 42


def test_run_sync_propagates_exceptions() -> None:
    async def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_sync(boom())


def test_run_sync_uses_a_private_loop_each_time_and_closes_it() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def grab() -> None:
        loops.append(asyncio.get_running_loop())

    run_sync(grab())
    run_sync(grab())
    assert loops[0] is not loops[1]
    assert all(loop.is_closed() for loop in loops)


def test_run_sync_leaves_the_threads_current_loop_alone() -> None:
    mine = asyncio.new_event_loop()
    asyncio.set_event_loop(mine)
    try:
        run_sync(_answer(1))
        assert asyncio.get_event_loop_policy().get_event_loop() is mine
    finally:
        asyncio.set_event_loop(None)
        mine.close()


def test_run_sync_shuts_down_worker_threads_started_by_to_thread() -> None:
    before = {t.ident for t in threading.enumerate()}

    async def in_thread() -> str:
        return await asyncio.to_thread(lambda: threading.current_thread().name)

    name = run_sync(in_thread())
    assert name != threading.current_thread().name
    assert not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]


def test_run_sync_cancels_tasks_left_running() -> None:
    cancelled = []

    async def leaves_a_task() -> None:
        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)

    run_sync(leaves_a_task())
    assert cancelled == [True]


async def test_run_sync_refuses_inside_a_running_loop() -> None:
    coro = _answer(1)
    with pytest.raises(RuntimeError, match="await the async method"):
        run_sync(coro)
    # the refused coroutine was closed, so it cannot be awaited by mistake later
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        await coro

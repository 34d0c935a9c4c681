"""SendAsPermissionTrigger: it survives serialisation without secrets, and probes without stalling its event loop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from eventually import eventually

from airflow_provider_m365mail.airflow_compat import import_string
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.triggers.send_as import SendAsPermissionTrigger, next_wait, utc_iso

MAILBOX = "alerts@contoso.com"
# Importing the Graph SDK on the loop would stall it for 1.5-2 s, and a token request made on it for TOKEN_DELAY_S; a
# probe's own work takes ~10 ms. Garbage collections pause every thread of the process whoever triggers them (the
# Graph SDK's ~1,100 model modules, loading in their worker thread, provoke one of 0.15-0.4 s): the ticker
# subtracts them and reports the largest apart.
MAX_LOOP_LAG_S = 0.25
TOKEN_DELAY_S = 1.0

# Run in a fresh interpreter so that nothing is imported or cached yet, as in a triggerer that meets its first
# probe: a 10 ms ticker records how late it wakes up while the trigger probes until the grant goes live.
LAG_SCRIPT = """
import asyncio, gc, json, sys, time
from airflow_provider_m365mail.triggers.send_as import SendAsPermissionTrigger

collections = []  # (start, end) of every garbage collection, in any thread

def on_gc(phase, info):
    if phase == "start":
        on_gc.started = time.perf_counter()
    else:
        collections.append((on_gc.started, time.perf_counter()))

def collecting(start, end):
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in collections)

async def main():
    trigger = SendAsPermissionTrigger(**json.loads(sys.argv[1]))
    lags, running = [], True

    async def ticker():
        while running:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((started, time.perf_counter()))

    gc.callbacks.append(on_gc)
    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    events = trigger.run()
    event = await anext(events)
    await events.aclose()
    running = False
    await ticking
    print(json.dumps({
        "event": event.payload,
        "max_lag": max(end - start - 0.01 - collecting(start, end) for start, end in lags),
        "max_gc_pause": max(b - a for a, b in collections),
        "ticks": len(lags),
    }))

asyncio.run(main())
"""


def trigger_kwargs(conn_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "conn_id": conn_id, "mailbox": MAILBOX, "permission": "send_as", "probe": "auto", "probe_recipient": None,
        "poke_interval": 0.5, "exponential_backoff": False, "max_wait": None, "timeout_at": time.time() + 60,
        **changes,
    }


def connection_env(sandbox: Sandbox, name: str, conn_id: str) -> dict[str, str]:
    connection = sandbox.settings["airflow_connections"][name]
    connection = {**connection, "extra": {**connection["extra"], "allowed_senders": "*@contoso.com"}}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection)}


def test_serialize_round_trips_through_its_classpath_without_secrets(m365_sandbox: Sandbox) -> None:
    kwargs = trigger_kwargs("m365mail_graph", probes=1, first_probe_at="2026-01-01T00:00:00+00:00")
    trigger = SendAsPermissionTrigger(**kwargs)

    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))

    assert classpath == "airflow_provider_m365mail.triggers.send_as.SendAsPermissionTrigger"
    assert type(rebuilt) is SendAsPermissionTrigger
    assert rebuilt.serialize() == (classpath, kwargs)
    text = json.dumps(kwargs)
    secrets = [m365_sandbox.settings["client_secret"], *(m.get("password") for m in m365_sandbox.settings["mailboxes"])]
    assert not [s for s in secrets if s and s in text]


def test_backoff_doubles_the_wait_up_to_max_wait() -> None:
    waits = [next_wait(2, n, exponential_backoff=True, max_wait=10) for n in range(1, 6)]
    assert waits == [2, 4, 8, 10, 10]
    assert next_wait(2, 5, exponential_backoff=False, max_wait=None) == 2


@pytest.mark.parametrize(
    ("connection", "method", "delay_s"),
    # The Graph SDK takes a few seconds to load (in a worker thread) before the first probe.
    [("smtp_oauth2", "envelope+message", 6.0), ("graph", "message", 12.0)],
)
# The first token request hangs, then fails (504): the probe that needs it waits in a thread, and the next one works.
@pytest.mark.sandbox(faults=[{"target": "token", "kind": "timeout", "retry_after_s": TOKEN_DELAY_S}])
def test_probing_until_live_keeps_the_event_loop_responsive(
    m365_sandbox: Sandbox, connection: str, method: str, delay_s: float
) -> None:
    app = m365_sandbox.settings["client_id"]

    def grant_later() -> None:
        state = m365_sandbox.state
        state.update_tenant(apps=tuple(replace(a, graph_scope=("airflow@contoso.com",)) for a in state.tenant.apps))
        state.grant(app, MAILBOX, "send_as", delay_s)
        state.add_to_graph_scope(app, MAILBOX, delay_s)

    m365_sandbox.call(grant_later)
    done = subprocess.run(
        [sys.executable, "-c", LAG_SCRIPT, json.dumps(trigger_kwargs("probe"))],
        env={**os.environ, **connection_env(m365_sandbox, connection, "probe")},
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    report = result["event"]["report"]
    assert (result["event"]["status"], report["method"]) == ("live", method)
    assert report["probes"] >= 2  # it waited, probing, while the ticker ran
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["faults_fired"]) == 1  # the token request did hang
    assert result["max_lag"] < MAX_LOOP_LAG_S, result
    print(f"{connection}: {report['probes']} probes, max loop lag {result['max_lag'] * 1000:.0f} ms "
          f"(garbage collections apart; the longest took {result['max_gc_pause'] * 1000:.0f} ms)")


async def test_a_connection_without_an_account_ends_with_a_failed_event(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in connection_env(m365_sandbox, "direct_send", "probe_direct").items():
        monkeypatch.setenv(key, value)

    event = await anext(SendAsPermissionTrigger(**trigger_kwargs("probe_direct")).run())

    assert event.payload["status"] == "failed"
    assert "extra.smtp_mode" in event.payload["message"]


class SteppedClock:
    """A clock that stands still while a probe runs and jumps over each wait at once, recording it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


async def test_the_deadline_ends_with_a_timeout_event(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in connection_env(m365_sandbox, "smtp_oauth2", "probe_smtp").items():
        monkeypatch.setenv(key, value)
    clock = SteppedClock()

    trigger = SendAsPermissionTrigger(**trigger_kwargs("probe_smtp", timeout_at=clock.now + 1.5), clock=clock)
    events = trigger.run()
    event = await anext(events)
    await events.aclose()

    assert (event.payload["status"], event.payload["probes"]) == ("timeout", 4)
    assert clock.waits == [0.5, 0.5, 0.5]  # a probe every poke_interval, the last one at the deadline
    assert "5.7.60" in event.payload["message"]
    assert m365_sandbox.messages() == []


async def test_after_the_sensors_probe_the_trigger_waits_before_probing_again(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in connection_env(m365_sandbox, "smtp_oauth2", "probe_smtp").items():
        monkeypatch.setenv(key, value)
    clock = SteppedClock()

    deferred = trigger_kwargs("probe_smtp", probes=1, poke_interval=5.0, timeout_at=clock.now + 1.0)
    event = await anext(SendAsPermissionTrigger(**deferred, clock=clock).run())

    # It waits (until the deadline, which comes before the interval ends), probes once, and gives up.
    assert (event.payload["status"], event.payload["probes"]) == ("timeout", 2)
    assert clock.waits == [1.0]
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["smtp_sessions"]) == 1


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "timeout", "stage": "mail", "retry_after_s": 60}])
async def test_cancelling_the_trigger_mid_probe_closes_its_connection(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in connection_env(m365_sandbox, "smtp_oauth2", "probe_smtp").items():
        monkeypatch.setenv(key, value)
    probing = asyncio.ensure_future(anext(SendAsPermissionTrigger(**trigger_kwargs("probe_smtp")).run()))
    await eventually(lambda: replies_held(m365_sandbox) == 1, within_s=20)  # the server stalls at MAIL FROM

    probing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probing

    # The server still holds its reply: the cancelled probe left no QUIT waiting on it, and closed its connection.
    assert replies_held(m365_sandbox) == 1
    await eventually(lambda: open_smtp_sessions(m365_sandbox) == 0, within_s=20)


def replies_held(sandbox: Sandbox) -> int:
    return sandbox.call(lambda: sandbox.state.smtp_replies_held)


def open_smtp_sessions(sandbox: Sandbox) -> int:
    return sandbox.call(sandbox.state.open_smtp_sessions)


@pytest.mark.parametrize("moment", ["2026-11-30T08:00:00.123456Z", "2026-11-30T09:00:00.123456+01:00",
                                    datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=timezone.utc)])
def test_reschedule_dates_read_the_same_as_text_or_datetime(moment: datetime | str) -> None:
    assert utc_iso(moment) == "2026-11-30T08:00:00.123+00:00"

"""The fan-out example DAG on a real CeleryExecutor deployment: 300 messages to 300 recipients as one mailbox.

Two Celery workers of 4 processes each run the mapped send tasks (30 recipients each) in the mailbox's pool (made by
``m365mail pool --create``: 3 slots, Exchange's concurrent SMTP connections); every task process is a fresh one, and
all of them share the mailbox's minute window through ``rate_limit_storage`` on the deployment's Redis and one
token through ``token_cache_path``. The sandbox allows the mailbox 120 messages in any 60 s, and everything below is
judged from its own records (what it stored, when, and what it refused).

The achieved rate is the mean number of messages the sandbox accepted per full 60 s window, the windows laid end to
end from the first accepted message (a window the run ended in does not count): a sender keeping exactly to the
limit scores 120 whether it bursts at each window's start or spreads evenly.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery_deployment import celery_deployment
from eventually import eventually
from proxy_servers import free_port
from real_parts import unavailable

from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow, sandbox_connections, tail
from airflow_provider_m365mail.sandbox.server import Sandbox

DAG_ID, RUN_ID = "example_m365mail_fan_out", "fan-out-300"
LIMIT, WINDOW_S, RECIPIENTS, CHUNK = 120, 60.0, 300, 30
RUN_TIMEOUT_S = 420.0  # a failure bound for a loaded machine, not a measurement


@dataclass(frozen=True)
class FanOutRun:
    """What the deployment did and what the sandbox recorded."""

    run_state: str
    task_states: dict[str, int]
    messages: list[dict[str, Any]]
    stats: dict[str, int]
    wall_s: float
    start_up_s: float

    @property
    def received(self) -> list[float]:
        return sorted(m["received_at"] for m in self.messages)

    def busiest_window(self) -> int:
        received = self.received
        return max(sum(1 for t in received if start <= t < start + WINDOW_S) for start in received)

    def achieved_per_minute(self) -> float:
        """Return the mean messages per full 60 s window from the first accepted message (see the module doc)."""
        received = self.received
        windows = int((received[-1] - received[0]) // WINDOW_S)
        assert windows >= 1, "the run took less than one window: nothing to measure a rate over"
        in_full_windows = sum(1 for t in received if t < received[0] + windows * WINDOW_S)
        return in_full_windows / windows * (60.0 / WINDOW_S)


def _query(database: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, args).fetchall()


def _run_state(database: Path) -> str | None:
    rows = _query(database, "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, RUN_ID)
    return str(rows[0][0]) if rows else None


def _cli(airflow: LocalAirflow, *args: str) -> None:
    done = airflow.cli(*args)
    assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{tail(done)}"


def _create_pool(airflow: LocalAirflow) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from airflow_provider_m365mail.cli.main import main; sys.exit(main())",
         "pool", "--conn-id", "m365mail_default", "--create"],
        env=airflow.env(), cwd=airflow.home, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0 and "3 slots" in done.stdout, done.stdout + done.stderr[-2000:]


@pytest.fixture(scope="module")
def celery_provider() -> None:
    """Skip, or fail where real parts are required, without the Celery provider (the dev extra installs it).

    Its metadata, not an import: importing Airflow here would set up Airflow's logging in the test process.
    """
    try:
        version("apache-airflow-providers-celery")
    except PackageNotFoundError:
        unavailable("apache-airflow-providers-celery is missing: pip install 'airflow-provider-m365mail[dev]'")


@pytest.fixture(scope="module")
def fan_out_run(
    celery_provider: None, m365_sandbox_session: Sandbox, redis_session: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FanOutRun]:
    started = time.monotonic()
    with redis.Redis.from_url(redis_session) as client:
        client.flushall()
    home = tmp_path_factory.mktemp("celery-airflow")
    connections = sandbox_connections(m365_sandbox_session.settings)
    default = connections["m365mail_default"]
    connections["m365mail_default"] = {**default, "extra": {
        **default["extra"], "rate_limit_storage": redis_session, "max_messages_per_minute": LIMIT,
        "max_connections": 1, "token_cache_path": str(home / "m365mail-tokens.json"),
    }}
    admin = httpx.Client(base_url=m365_sandbox_session.settings["admin_url"],
                         verify=m365_sandbox_session.client_context(), trust_env=False)
    with admin:
        admin.post("/reset").raise_for_status()
        admin.post("/tenant", json={"limits": {"messages_per_window": LIMIT, "window_s": WINDOW_S}}).raise_for_status()
        with celery_deployment(home, redis_url=redis_session, api_port=free_port(), connections=connections) as airflow:
            start_up_s = time.monotonic() - started
            _create_pool(airflow)
            asyncio.run(eventually(
                lambda: bool(_query(airflow.database, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID)),
                within_s=RUN_TIMEOUT_S,
            ))
            _cli(airflow, "dags", "trigger", DAG_ID, "--run-id", RUN_ID)
            asyncio.run(eventually(
                lambda: _run_state(airflow.database) in ("success", "failed"), within_s=RUN_TIMEOUT_S
            ))
            states = dict(_query(airflow.database, "SELECT state, count(*) FROM task_instance WHERE dag_id = ? "
                                                   "AND run_id = ? GROUP BY state", DAG_ID, RUN_ID))
            run = FanOutRun(
                run_state=_run_state(airflow.database) or "missing",
                task_states=states,
                messages=admin.get("/messages").raise_for_status().json(),
                stats=admin.get("/stats").raise_for_status().json(),
                wall_s=time.monotonic() - started,
                start_up_s=start_up_s,
            )
    print(
        f"\ncelery fan-out: {len(run.messages)} messages, busiest 60 s window {run.busiest_window()} "
        f"(limit {LIMIT}), achieved {run.achieved_per_minute():.1f}/min over full windows, sending "
        f"{run.received[-1] - run.received[0]:.1f} s, throttled {run.stats['throttled']}, token requests "
        f"{run.stats['token_requests']}, start-up {run.start_up_s:.0f} s, wall time {run.wall_s:.0f} s",
        flush=True,
    )
    yield run


def test_the_fan_out_run_succeeds_with_every_mapped_task(fan_out_run: FanOutRun) -> None:
    assert fan_out_run.run_state == "success", fan_out_run.task_states
    assert fan_out_run.task_states == {"success": 1 + RECIPIENTS // CHUNK}


def test_all_300_recipients_got_their_message_exactly_once(fan_out_run: FanOutRun) -> None:
    recipients = sorted(r for m in fan_out_run.messages for r in m["envelope_to"])
    assert recipients == sorted(f"customer{i:03d}@example.org" for i in range(RECIPIENTS))
    assert len({m["message_id"] for m in fan_out_run.messages}) == RECIPIENTS


def test_the_mailbox_kept_to_its_limit_and_was_never_throttled(fan_out_run: FanOutRun) -> None:
    assert fan_out_run.stats["throttled"] == 0
    assert fan_out_run.busiest_window() <= LIMIT


def test_every_task_process_shared_one_token(fan_out_run: FanOutRun) -> None:
    assert fan_out_run.stats["token_requests"] == 1


def test_the_workers_together_sent_at_nearly_the_limit(fan_out_run: FanOutRun) -> None:
    assert fan_out_run.achieved_per_minute() >= 0.9 * LIMIT

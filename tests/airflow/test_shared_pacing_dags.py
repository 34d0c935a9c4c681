"""Three separate Airflow processes (own homes) sending as one mailbox at once, through one shared Redis; and the
Airflow pool that keeps such a mailbox's parallel sends within Exchange's concurrency limit.

The sandbox accepts 9 messages per 2 s window from the mailbox, so three workers each keeping to 9 on their own would
send up to 27 in a window and be refused (554 5.2.2). Sharing ``rate_limit_storage`` they keep to 9 together, and
sharing ``token_cache_path`` they ask for one token.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow, sandbox_connections
from airflow_provider_m365mail.sandbox.server import Sandbox

TEST_DAGS = Path(__file__).parent / "dags"
LIMIT, WINDOW_S, WORKERS, MESSAGES = 9, 2.0, 3, 15


@pytest.fixture(scope="module")
def three_workers(
    dag_runner: Any, m365_sandbox_session: Sandbox, redis_session: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[subprocess.CompletedProcess[str]], list[dict[str, Any]], dict[str, int]]:
    with redis.Redis.from_url(redis_session) as client:
        client.flushall()
    folder = tmp_path_factory.mktemp("shared-pacing")
    envs = [{"M365MAIL_TEST_WORKER": str(n), "M365MAIL_TEST_BARRIER": str(folder), "M365MAIL_TEST_WINDOW_S":
             str(WINDOW_S)} for n in range(WORKERS)]
    shared = {"rate_limit_storage": redis_session, "max_messages_per_minute": LIMIT,
              "token_cache_path": str(folder / "tokens.json")}
    with httpx.Client(base_url=m365_sandbox_session.settings["admin_url"], verify=m365_sandbox_session.client_context(),
                      trust_env=False) as admin:
        admin.post("/reset").raise_for_status()
        admin.post("/tenant", json={"limits": {"messages_per_window": LIMIT, "window_s": WINDOW_S}}).raise_for_status()
        processes = dag_runner.run_at_once(
            "m365mail_shared_pacing", envs, barrier=folder, dags_folder=TEST_DAGS,
            extra_changes={"m365mail_default": shared},
        )
        messages = admin.get("/messages").raise_for_status().json()
        stats = admin.get("/stats").raise_for_status().json()
    return processes, messages, stats


def test_three_processes_deliver_45_messages_each_once(
    three_workers: tuple[list[subprocess.CompletedProcess[str]], list[dict[str, Any]], dict[str, int]],
) -> None:
    processes, messages, _ = three_workers
    assert [p.returncode for p in processes] == [0] * WORKERS, [p.stderr[-3000:] for p in processes]
    subjects = sorted(m["subject"] for m in messages)
    expected = sorted(f"worker {w} message {i}" for w in range(WORKERS) for i in range(MESSAGES))
    assert subjects == expected
    assert len({m["message_id"] for m in messages}) == WORKERS * MESSAGES


def test_no_window_held_more_than_the_mailboxes_limit_and_nothing_was_throttled(
    three_workers: tuple[list[subprocess.CompletedProcess[str]], list[dict[str, Any]], dict[str, int]],
) -> None:
    _, messages, stats = three_workers
    received = sorted(m["received_at"] for m in messages)
    busiest = max(sum(1 for t in received if start <= t < start + WINDOW_S) for start in received)
    assert busiest <= LIMIT
    assert stats["throttled"] == 0
    assert received[-1] - received[0] >= (WORKERS * MESSAGES // LIMIT - 1) * WINDOW_S  # paced, not just lucky


def test_the_three_processes_made_one_token_request(
    three_workers: tuple[list[subprocess.CompletedProcess[str]], list[dict[str, Any]], dict[str, int]],
) -> None:
    assert three_workers[2]["token_requests"] == 1


def test_pool_create_makes_airflow_hold_a_pool_sized_for_the_mailbox(
    airflow_home: Path, m365_sandbox_session: Sandbox
) -> None:
    airflow = LocalAirflow(home=airflow_home, connections=sandbox_connections(m365_sandbox_session.settings))
    created = subprocess.run(
        [sys.executable, "-c", "import sys; from airflow_provider_m365mail.cli.main import main; sys.exit(main())",
         "pool", "--conn-id", "m365mail_default", "--create"],
        env=airflow.env(), cwd=airflow_home, capture_output=True, text=True, check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr[-2000:]
    listed = airflow.cli("pools", "get", "m365mail-airflow-contoso.com", "--output", "json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    (pool,) = json.loads(listed.stdout[listed.stdout.index("["):])
    assert (pool["pool"], int(pool["slots"])) == ("m365mail-airflow-contoso.com", 3)

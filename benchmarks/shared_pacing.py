"""Measure the sending rate several worker processes reach as one mailbox through a shared Redis, against the limit.

The sandbox enforces ``--limit`` messages per ``--window-s`` for the mailbox (Exchange Online: 30 per 60 s). For 1,
2 and 4 worker processes, each sends its share of ``--messages`` at the same moment through one ``rate_limit_storage``
Redis and one ``token_cache_path``, with the Mailer's window set to the sandbox's. The sandbox's timestamps give the
rate reached once the first window's burst is out (``(messages - limit) / (last - first)``), the busiest window,
its throttling replies and its token requests. Prints ``rate_ratio_vs_limit=<x>``, the lowest over the worker
counts (1.0: the limit exactly; never above it while no window holds more than the limit).

    python benchmarks/shared_pacing.py [--limit 30] [--window-s 60] [--messages 90] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox_process import UNTHROTTLED_LIMITS, admin, running_sandbox

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from redis_server import running_redis  # the tests' Redis runner: one way to start it

WORKER_COUNTS = (1, 2, 4)


def _send(connection: dict[str, Any], worker: int, count: int, window_s: float, go: Path) -> None:
    """In this worker process: wait for the go, then send ``count`` messages as the connection's mailbox."""
    from airflow_provider_m365mail.core import Mailer, MailSettings, OutgoingMessage, resolve_identity

    settings = MailSettings.from_connection_fields(
        host=connection["host"], port=connection["port"], login=connection["login"],
        password=connection["password"], extra=connection["extra"],
    )
    identity = resolve_identity(settings)
    messages = [(OutgoingMessage.create(to=f"user{i}@contoso.com", subject=f"worker {worker} message {i}",
                                        text="x"), identity) for i in range(count)]
    go.parent.joinpath(f"ready-{worker}").touch()
    while not go.exists():
        time.sleep(0.005)
    asyncio.run(Mailer(settings, rate_window_s=window_s).send_many(messages))


def _run(
    settings: dict[str, Any], redis_url: str, workers: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """Send ``args.messages`` split over ``workers`` processes at once; return what the sandbox saw."""
    admin(settings, "POST", "/reset")
    admin(settings, "POST", "/tenant", {"limits": {**UNTHROTTLED_LIMITS, "messages_per_window": args.limit,
                                                   "window_s": args.window_s}})
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushall()
    run_folder = folder / f"workers-{workers}"
    run_folder.mkdir()
    base = settings["airflow_connections"]["smtp_oauth2"]
    connection = {**base, "extra": {**base["extra"], "rate_limit_storage": redis_url,
                                    "max_messages_per_minute": args.limit,
                                    "token_cache_path": str(run_folder / "tokens.json")}}
    go = run_folder / "go"
    shares = [args.messages // workers + (1 if n < args.messages % workers else 0) for n in range(workers)]
    children = [
        subprocess.Popen([sys.executable, "-W", "ignore", __file__, "--worker", json.dumps(
            {"connection": connection, "worker": n, "count": share, "window_s": args.window_s, "go": str(go)})])
        for n, share in enumerate(shares)
    ]
    while len(list(run_folder.glob("ready-*"))) < workers:
        if any(child.poll() not in (None, 0) for child in children):
            raise RuntimeError("a worker process failed before it was ready")
        time.sleep(0.01)
    go.touch()
    if any(child.wait() != 0 for child in children):
        raise RuntimeError("a worker process failed")
    received = sorted(m["received_at"] for m in admin(settings, "GET", "/messages"))
    stats = admin(settings, "GET", "/stats")
    if len(received) != args.messages:
        raise RuntimeError(f"the sandbox received {len(received)} of {args.messages} messages")
    span = received[-1] - received[0]
    return {
        "per_minute": (args.messages - args.limit) / span * 60 if span > 0 else float("inf"),
        "busiest": max(sum(1 for t in received if s <= t < s + args.window_s) for s in received),
        "throttled": stats["throttled"],
        "token_requests": stats["token_requests"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--messages", type=int, default=90)
    parser.add_argument("--smoke", action="store_true", help="6 messages per 1 s window, 18 messages per run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        _send(job["connection"], job["worker"], job["count"], job["window_s"], Path(job["go"]))
        return 0
    if args.smoke:
        args.limit, args.window_s, args.messages = 6, 1.0, 18
    limit_per_minute = args.limit * 60 / args.window_s
    ratios = []
    with (
        tempfile.TemporaryDirectory(prefix="m365mail-bench-redis-") as tmp,
        running_redis(Path(tmp)) as redis_url,
        running_sandbox() as settings,
    ):
        for workers in WORKER_COUNTS:
            seen = _run(settings, redis_url, workers, args, Path(tmp))
            ratios.append(seen["per_minute"] / limit_per_minute)
            print(f"{workers} worker(s): {seen['per_minute']:.1f} messages/min, limit {limit_per_minute:.1f}/min "
                  f"({args.limit} per {args.window_s:g} s); busiest window {seen['busiest']}; "
                  f"throttled {seen['throttled']}; token requests {seen['token_requests']}")
    print(f"rate_ratio_vs_limit={min(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure what the delivery ledger costs a send: time added per message, and writes for a 1,000-message run.

Both sides send the same mail merge (one small message per recipient, ``send_separately``) through
``Mailer.deliver`` to the sandbox's submission port over one connection, its tenant set not to throttle:

- ``no_ledger``: as on Airflow before 3.3;
- ``ledger``: with a ``DeliveryLedger`` whose store is a SQLite database committing every write, as Airflow's
  task state store does in its metadata database (through the task supervisor, which adds a local round trip).

The two alternate over ``--repeat`` rounds, so a noisy moment on a shared machine hits both alike. Prints the
time per message of each (median of the rounds), ``ledger_ms_added_per_message``, the ratio
``ledger_time_ratio_vs_no_ledger=<x>`` (ledger / no ledger; 1.0 means free) and
``task_state_writes_per_1000_messages`` (each a round trip to the task state store).

    python benchmarks/ledger_cost.py [--messages 1000] [--repeat 3] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox_process import UNTHROTTLED_LIMITS, running_sandbox


class SqliteLedgerStore:
    """A ``LedgerStore`` committing each write to a SQLite database, off the event loop, and counting writes."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS task_state (key TEXT PRIMARY KEY, value TEXT)")
        self.writes = 0

    async def load(self) -> Any:
        row = await asyncio.to_thread(
            lambda: self._db.execute("SELECT value FROM task_state WHERE key = 'ledger'").fetchone()
        )
        return None if row is None else json.loads(row[0])

    async def save(self, value: dict[str, Any]) -> None:
        def write() -> None:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO task_state VALUES ('ledger', ?)", (json.dumps(value),))

        await asyncio.to_thread(write)
        self.writes += 1


def _send(settings: Any, n: int, store: SqliteLedgerStore | None) -> float:
    """Send ``n`` messages separately; return the seconds it took."""
    from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger
    from airflow_provider_m365mail.core.delivery.mailer import Mailer
    from airflow_provider_m365mail.core.identity import resolve_identity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

    message = OutgoingMessage.create(to=[f"customer{i:04d}@example.org" for i in range(n)], subject="Statement",
                                     text="Your statement is ready.")
    ledger = DeliveryLedger(store) if store is not None else None
    started = time.perf_counter()
    account = asyncio.run(
        Mailer(settings, ledger=ledger).deliver([(message, resolve_identity(settings))], separately=True)
    )
    seconds = time.perf_counter() - started
    if len(account.delivered_now) != n:
        raise RuntimeError(f"{len(account.delivered_now)} of {n} messages delivered")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages per send")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each side's median is kept")
    parser.add_argument("--smoke", action="store_true", help="50 messages, one round")
    args = parser.parse_args()
    n, repeat = (50, 1) if args.smoke else (args.messages, args.repeat)

    from airflow_provider_m365mail.core.settings import MailSettings

    with running_sandbox({"limits": UNTHROTTLED_LIMITS}) as sandbox, tempfile.TemporaryDirectory() as tmp:
        connection = sandbox["airflow_connections"]["smtp_basic"]
        settings = MailSettings.from_connection_fields(
            host=connection["host"], port=connection["port"], login=connection["login"],
            password=connection["password"], extra={**connection["extra"], "max_messages_per_minute": 10**9},
        )
        _send(settings, 1, None)  # warm up: imports, TLS context, first connection
        plain: list[float] = []
        ledgered: list[float] = []
        writes = 0
        for round_number in range(repeat):
            plain.append(_send(settings, n, None))
            store = SqliteLedgerStore(Path(tmp) / f"state-{round_number}.db")
            ledgered.append(_send(settings, n, store))
            writes = store.writes
    per_plain, per_ledger = statistics.median(plain) / n, statistics.median(ledgered) / n
    print(f"messages={n} rounds={repeat}")
    print(f"no_ledger: {per_plain * 1000:.3f} ms per message")
    print(f"ledger: {per_ledger * 1000:.3f} ms per message, {writes} task state writes")
    print(f"ledger_ms_added_per_message={(per_ledger - per_plain) * 1000:.3f}")
    print(f"task_state_writes_per_1000_messages={writes * 1000 // n}")
    print(f"ledger_time_ratio_vs_no_ledger={per_ledger / per_plain:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

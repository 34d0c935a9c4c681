"""Keep a send's delivery ledger in Airflow 3.3's task state store, so a retried task delivers only what is left.

``context["task_state_store"]`` keeps JSON values per task instance (DAG, run, task, map index) in the metadata
database, across tries and clears, reachable from any worker. The ledger is one value under one key per purpose
(the operator's send, each alert a notifier sends). Older Airflow has no task state store: ``ledger_for``
returns None, says so in one log line, and a retry falls back on the Graph Sent Items lookup and Exchange's
duplicate detection, as before.

The ledger follows ``[state_store] default_retention_days`` (30 days by default): a task cleared after that sends
as if for the first time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger

log = logging.getLogger(__name__)

LEDGER_KEY = "m365mail_delivery"


class TaskStateLedgerStore:
    """A ``LedgerStore`` over a task instance's ``task_state_store`` (its ``aget``/``aset`` when it has them)."""

    def __init__(self, task_state_store: Any, key: str = LEDGER_KEY) -> None:
        self._store = task_state_store
        self._key = key

    async def load(self) -> Any:
        aget = getattr(self._store, "aget", None)
        if aget is not None:
            return await aget(self._key)
        return await asyncio.to_thread(self._store.get, self._key)

    async def save(self, value: dict[str, Any]) -> None:
        aset = getattr(self._store, "aset", None)
        if aset is not None:
            await aset(self._key, value)
        else:  # Airflow 3.3.x offers only the blocking form; its channel to the supervisor is thread-safe
            await asyncio.to_thread(self._store.set, self._key, value)


def ledger_for(context: Mapping[str, Any], key: str = LEDGER_KEY, *, explain: bool = True) -> DeliveryLedger | None:
    """Return the delivery ledger of the task instance ``context`` belongs to, or None before Airflow 3.3.

    ``explain`` logs why there is none (callbacks of DAG runs and deadline alerts have no task instance, and so
    no store, on any Airflow: they leave it off).
    """
    from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger

    store = context.get("task_state_store")
    if store is None:
        if not explain:
            return None
        log.info(
            "this Airflow has no task state store (3.3+): a retry cannot skip what an earlier try delivered; it "
            "relies on Exchange's duplicate detection and, over Graph, on the Sent Items lookup"
        )
        return None
    return DeliveryLedger(TaskStateLedgerStore(store, key))

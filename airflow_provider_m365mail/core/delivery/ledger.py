"""Remember across tries which messages of a send went out, so a retried task delivers only what is left.

A ``DeliveryLedger`` keeps, for one send (one Airflow task instance), the Message-IDs the server accepted and the
recipients it refused, in a ``LedgerStore``: any place that keeps one JSON value and outlives the process (Airflow's
task state store, through the adapter in the Airflow layer). The ``Mailer`` reads it once when a try starts,
skips what it lists and records each accepted message as it goes.

Writes are batched: the record reaches the store when ``flush_every`` messages are waiting, when the oldest of them
has waited ``flush_after_s`` seconds, before the sender waits for anything (a rate limit, a server's Retry-After)
and when the send ends. A crash therefore loses at most the last few seconds' record, and those messages keep their
Message-IDs, so Exchange's duplicate detection (and, over Graph, the Sent Items lookup) still covers them.

A send that delivered everything is *finished*. Sending it again is a decision, not a retry: ``new_generation``
starts a new send generation whose messages get new Message-IDs (``with_generation``), so neither the ledger nor
Exchange's duplicate detection holds them back.

Message-IDs are stored as 16-hex-digit SHA-256 prefixes: 1,000 messages fit in about 19 KB, within Airflow's
default 64 KB per value.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_m365mail.core.message.outgoing import make_message_id

LEDGER_FORMAT = 1
FLUSH_EVERY = 100  # messages recorded before the record is written
FLUSH_AFTER_S = 2.0  # age of the oldest unwritten record that forces a write
_REPLY_CHARS = 200


class LedgerStore(Protocol):
    """Keep one JSON value for one send across tries and processes."""

    async def load(self) -> Any:
        """Return the value saved last, or None when nothing was saved."""
        ...

    async def save(self, value: dict[str, Any]) -> None:
        """Replace the saved value."""
        ...


class MemoryLedgerStore:
    """A ``LedgerStore`` in memory: for tests, benchmarks and callers that keep the object between tries."""

    def __init__(self) -> None:
        self.value: dict[str, Any] | None = None
        self.saves = 0

    async def load(self) -> Any:
        return self.value

    async def save(self, value: dict[str, Any]) -> None:
        self.value = value
        self.saves += 1


def message_key(message_id: str) -> str:
    """Return the short form a Message-ID is recorded under."""
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:16]


def with_generation(message_id: str, generation: int, domain: str) -> str:
    """Return the Message-ID a message has in send generation ``generation`` (generation 0 keeps its own)."""
    if generation == 0:
        return message_id
    return make_message_id(f"{message_id}|generation {generation}", domain)


@dataclass
class _Record:
    generation: int = 0
    delivered: set[str] = field(default_factory=set)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    finished: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "format": LEDGER_FORMAT,
            "generation": self.generation,
            "finished": self.finished,
            "delivered": sorted(self.delivered),
            "refused": {address: [code, reply] for address, (code, reply) in self.refused.items()},
        }

    @classmethod
    def from_json(cls, value: Any) -> _Record:
        if not isinstance(value, Mapping) or value.get("format") != LEDGER_FORMAT:
            return cls()
        refused = value.get("refused") or {}
        return cls(
            generation=int(value.get("generation") or 0),
            delivered={str(key) for key in value.get("delivered") or ()},
            refused={str(a): (int(r[0]), str(r[1])) for a, r in refused.items() if isinstance(r, list) and len(r) == 2},
            finished=bool(value.get("finished")),
        )


class DeliveryLedger:
    """What one send has delivered so far, read when a try starts and written, batched, as it goes."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        flush_every: int = FLUSH_EVERY,
        flush_after_s: float = FLUSH_AFTER_S,
    ) -> None:
        self._store = store
        self._clock = clock
        self._flush_every = flush_every
        self._flush_after_s = flush_after_s
        self._record = _Record()
        self._pending = 0
        self._oldest_pending: float | None = None
        self._writing = asyncio.Lock()

    @property
    def generation(self) -> int:
        """The send generation this try belongs to (0 until someone asks to send again)."""
        return self._record.generation

    @property
    def finished(self) -> bool:
        """Whether an earlier try of this generation delivered everything."""
        return self._record.finished

    @property
    def refused(self) -> Mapping[str, tuple[int, str]]:
        """Recipients the server refused in this generation: address -> (code, reply)."""
        return self._record.refused

    async def load(self) -> None:
        """Read what earlier tries recorded (nothing, on the first try)."""
        self._record = _Record.from_json(await self._store.load())
        self._pending, self._oldest_pending = 0, None

    def delivered(self, message_id: str) -> bool:
        """Tell whether an earlier try of this generation had ``message_id`` accepted."""
        return message_key(message_id) in self._record.delivered

    async def new_generation(self) -> None:
        """Start sending everything again, under new Message-IDs, and write that down at once."""
        self._record = _Record(generation=self._record.generation + 1)
        await self.flush(force=True)

    async def record(self, message_id: str, refused: Mapping[str, tuple[int, str]]) -> None:
        """Record that the server accepted ``message_id`` (and refused ``refused``); write when a batch is due."""
        self._record.delivered.add(message_key(message_id))
        for address, (code, reply) in refused.items():
            self._record.refused[address] = (code, " ".join(reply.split())[:_REPLY_CHARS])
        self._pending += 1
        if self._oldest_pending is None:
            self._oldest_pending = self._clock()
        if self._pending >= self._flush_every or self._clock() - self._oldest_pending >= self._flush_after_s:
            await self.flush()

    async def finish(self) -> None:
        """Mark the generation delivered in full and write the record."""
        self._record.finished = True
        await self.flush(force=True)

    async def flush(self, *, force: bool = False) -> None:
        """Write what was recorded since the last write (``force``: write even if nothing was).

        Writes happen one at a time, each of the record as it is then, so a write from one connection's worker
        never lands after a newer one and what is recorded meanwhile stays due for the next write.
        """
        async with self._writing:
            if not self._pending and not force:
                return
            written = self._pending
            await self._store.save(self._record.as_json())
            self._pending -= written
            if not self._pending:
                self._oldest_pending = None

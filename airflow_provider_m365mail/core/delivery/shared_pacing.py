"""Count a mailbox's sends in a store every worker reaches, so its limit holds across processes and hosts.

``rate_limit_storage`` names the store as the ``limits`` library spells it (``redis://``, ``rediss://``,
``redis+sentinel://``, ``redis+cluster://``, ``valkey://``...), and ``limits`` builds the client for it (sentinel
discovery, cluster, TLS, Valkey). The window kept there is not ``limits``' moving window, though: that counts a
send when it is *claimed*, by the client's clock, and has no way to release or re-date an entry. A send claimed at
0 s and accepted by the server at 5 s then leaves that window at 60 s while the server counts it until 65 s: with
latencies that vary, some 60 s span of the server's holds more than the limit. Here, as in one process
(``SendingRate``), a claim takes an in-flight lease, and the send counts from the moment it *finished*, by the
store's own clock (Redis ``TIME``), so hosts whose clocks disagree still agree on the window. A worker killed
mid-send holds its lease for at most ``LEASE_S``. A hold the server asked for (421, Graph 429) is stored too, so
every worker waits it out.

The store also keeps each mailbox's recipients of the rolling day (Exchange's 10,000), summed over every worker: a
send reserves its recipients there before it starts (refused when they would pass the limit), and gives them back if
it fails.

A store that cannot be reached never blocks sending: each call returns None, the process paces on its own count
(``SendingRate`` keeps it all along), one warning says so, and the store is tried again after ``RETRY_STORE_S``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.hosts import without_credentials

log = logging.getLogger(__name__)

LEASE_S = 300.0  # longest a claimed send may run before its slot is given back (a worker killed mid-send)
RETRY_STORE_S = 30.0  # how long a store that failed is left alone before it is tried again
POLL_S = 0.01  # how often a claim waiting on other workers' in-flight sends asks again
_SOCKET_TIMEOUT_S = 2.0  # a store that does not answer in this time counts as down

# KEYS: finished sends (zset, score = when it finished), in-flight sends (zset, score = lease end), hold (string).
# ARGV: now ("" = the store's clock), window, limit, lease, member. Returns {"ok"|"wait"|"hold", seconds}.
_CLAIM = """
local now = tonumber(ARGV[1])
if not now then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local window, limit, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hold = tonumber(redis.call('GET', KEYS[3]) or '0')
if hold > now then return {'hold', string.format('%.6f', hold - now)} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now - window))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.6f', now))
local finished, flying = redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])
if finished + flying < limit then
  redis.call('ZADD', KEYS[2], string.format('%.6f', now + lease), ARGV[5])
  redis.call('PEXPIRE', KEYS[2], math.ceil((lease + window) * 1000))
  return {'ok', '0'}
end
if finished + flying > limit or finished == 0 then return {'wait', ARGV[6]} end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {'wait', string.format('%.6f', tonumber(oldest[2]) + window - now)}
"""
# KEYS: finished, in-flight. ARGV: now ("" = the store's clock), window, member.
_FINISH = """
local now = tonumber(ARGV[1])
if not now then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""
# KEYS: hold. ARGV: now ("" = the store's clock), seconds. Extends the hold, never shortens it.
_HOLD = """
local now = tonumber(ARGV[1])
if not now then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local untill = now + tonumber(ARGV[2])
if untill > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.6f', untill), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1)
end
return 1
"""
# KEYS: the mailbox's recipients (zset, member = "<id>:<count>", score = when reserved).
# ARGV: now ("" = the store's clock), day, limit, count, member.
# Returns {"ok", used with these} or {"full", used, seconds until they fit (-1: never, more than the limit)}.
_RECIPIENTS = """
local now = tonumber(ARGV[1])
if not now then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local day, limit, count = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now - day))
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do used = used + tonumber(string.match(entries[i], ':(%d+)$')) end
if used + count <= limit then
  redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(day * 1000))
  return {'ok', tostring(used + count)}
end
local left = used
for i = 1, #entries, 2 do
  left = left - tonumber(string.match(entries[i], ':(%d+)$'))
  if left + count <= limit then
    return {'full', tostring(used), string.format('%.6f', tonumber(entries[i + 1]) + day - now)}
  end
end
return {'full', tostring(used), '-1'}
"""
# KEYS: the mailbox's recipients. ARGV: member. Gives a failed send's recipients back.
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


class SharedStore:
    """One ``rate_limit_storage`` store: its client, its scripts, and whether it answered lately.

    ``clock`` (epoch seconds) replaces the store's clock, for tests that move time by hand.
    """

    def __init__(
        self, uri: str, *, clock: Callable[[], float] | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._uri = uri
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._scripts: dict[str, Any] | None = None
        self._errors: tuple[type[BaseException], ...] = (OSError,)
        self._down_until = 0.0
        self._down = False

    @property
    def shown(self) -> str:
        """The URI without credentials, for log lines."""
        return without_credentials(self._uri) or "rate_limit_storage"

    def claim(self, key: str, limit: int, window_s: float, member: str) -> tuple[float, bool] | None:
        """Claim a slot for ``member``: ``(0, False)`` when claimed, else ``(wait, held by the server)``.

        None: the store cannot be reached, the caller paces on its own count.
        """
        reply = self._run(
            "claim", _keys(key), [self._now(), window_s, limit, LEASE_S, member, POLL_S]
        )
        if reply is None:
            return None
        verdict, seconds = (part.decode() if isinstance(part, bytes) else str(part) for part in reply)
        return (0.0, False) if verdict == "ok" else (max(float(seconds), POLL_S), verdict == "hold")

    def finish(self, key: str, window_s: float, member: str) -> None:
        """Count ``member``'s send as finished now (the server has counted it)."""
        self._run("finish", _keys(key)[:2], [self._now(), window_s, member])

    def hold(self, key: str, seconds: float) -> None:
        """Hold every worker's next send from this mailbox for ``seconds`` (the server asked for the wait)."""
        self._run("hold", _keys(key)[2:], [self._now(), seconds])

    def reserve_recipients(
        self, mailbox: str, count: int, limit: int, day_s: float, member: str
    ) -> tuple[bool, int, float | None] | None:
        """Reserve ``count`` recipients of ``mailbox``'s rolling day: ``(reserved, used, seconds until they fit)``.

        ``used`` includes these recipients when reserved; the wait is None when ``count`` alone passes ``limit``.
        ``member`` ends in ``:<count>``. None: the store cannot be reached, the caller counts on its own.
        """
        reply = self._run("recipients", [_day_key(mailbox)], [self._now(), day_s, limit, count, member])
        if reply is None:
            return None
        verdict, used, *wait = (part.decode() if isinstance(part, bytes) else str(part) for part in reply)
        frees_in = float(wait[0]) if wait else 0.0
        return verdict == "ok", int(used), None if frees_in < 0 else frees_in

    def release_recipients(self, mailbox: str, member: str) -> None:
        """Give back the recipients ``member`` reserved (its send failed)."""
        self._run("release", [_day_key(mailbox)], [member])

    def _now(self) -> str:
        return "" if self._clock is None else f"{self._clock():.6f}"

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        with self._lock:
            if self._down and self._monotonic() < self._down_until:
                return None
        try:
            scripts = self._connect()
            reply = scripts[name](keys=keys, args=args)
        except ConfigurationError:
            raise
        except self._errors as exc:
            self._note_down(exc)
            return None
        with self._lock:
            came_back, self._down = self._down, False
        if came_back:
            log.warning("rate_limit_storage %s answers again: sends are counted there again", self.shown)
        return reply

    def _connect(self) -> dict[str, Any]:
        with self._lock:
            if self._scripts is not None:
                return self._scripts
        try:
            from limits.errors import ConfigurationError as LimitsConfigurationError
            from limits.storage import storage_from_string
        except ImportError as exc:
            raise _needs_client() from exc
        try:
            storage = storage_from_string(
                self._uri, socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S
            )
        except LimitsConfigurationError as exc:
            raise _needs_client() from exc
        errors = storage.base_exceptions
        self._errors = (OSError, *(errors if isinstance(errors, tuple) else (errors,)))
        client = storage.get_connection()  # type: ignore[union-attr]
        scripts = {name: client.register_script(body) for name, body in _SCRIPTS.items()}
        with self._lock:
            self._scripts = scripts
        return scripts

    def _note_down(self, error: BaseException) -> None:
        with self._lock:
            warn = not self._down
            self._down, self._down_until = True, self._monotonic() + RETRY_STORE_S
        if warn:
            log.warning(
                "rate_limit_storage %s cannot be reached (%s): each process now paces sends on its own count, "
                "so several workers together may exceed the mailbox's limit; trying the store again every %.0f s",
                self.shown,
                type(error).__name__,
                RETRY_STORE_S,
            )


_SCRIPTS = {"claim": _CLAIM, "finish": _FINISH, "hold": _HOLD, "recipients": _RECIPIENTS, "release": _RELEASE}


def _keys(key: str) -> list[str]:
    """Return the store keys of one mailbox's window; the braces keep them in one Redis Cluster slot."""
    return [f"m365mail:{{{key}}}:finished", f"m365mail:{{{key}}}:in-flight", f"m365mail:{{{key}}}:hold"]


def _day_key(mailbox: str) -> str:
    """Return the store key of a mailbox's rolling-day recipients, whichever server or API sends as it."""
    return f"m365mail:{{recipients|{mailbox.casefold()}}}:day"


def _needs_client() -> ConfigurationError:
    return ConfigurationError(
        "extra.rate_limit_storage",
        "a shared store needs the limits library and the redis (or valkey) client",
        hint="pip install 'airflow-provider-m365mail[redis]', or set rate_limit_storage to memory://",
    )


_stores: dict[str, SharedStore] = {}
_stores_lock = threading.Lock()


def shared_store(uri: str) -> SharedStore:
    """Return the process's ``SharedStore`` for ``uri`` (one client and one outage state per store)."""
    with _stores_lock:
        store = _stores.get(uri)
        if store is None:
            store = _stores[uri] = SharedStore(uri)
        return store


def forget_shared_stores() -> None:
    """Forget every store's client and outage state (tests that start stores of their own)."""
    with _stores_lock:
        _stores.clear()

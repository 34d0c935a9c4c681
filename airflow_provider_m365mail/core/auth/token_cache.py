"""Keep MSAL's token cache in one file that every process on a host (or on a shared volume) uses.

The file holds refresh tokens, so it is created with mode 0600 in a folder created with mode 0700, and it is
replaced atomically: a reader never sees half a file. Entra ID hands out a new refresh token with every refresh
and retires the old one, so a process must read the cache, refresh and write the new token back without another
process refreshing in between: ``locked(path)`` holds an exclusive lock on ``<path>.lock`` around that cycle.
Held around every token acquisition, app-only too, it also makes processes that start together ask for one token:
the others find it in the file. Airflow runs on POSIX hosts only, so the lock is ``fcntl.flock`` (the kernel
releases it when a process dies); nothing beyond the standard library is needed.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.secret import Secret

if TYPE_CHECKING:
    from msal import SerializableTokenCache

FIELD = "extra.token_cache_path"


@dataclass(frozen=True)
class CachedSignIn:
    """A mailbox's sign-in as the cache holds it: its current refresh token and when Entra ID issued that token
    (at the sign-in, or at the latest refresh, which hands out a new one)."""

    username: str
    refresh_token: Secret
    issued_at: float  # Unix time


def cached_sign_in(path: str | os.PathLike[str], username: str) -> CachedSignIn | None:
    """Return the newest refresh token the cache at ``path`` holds for ``username``, or None if it holds none."""
    import msal

    cache = load_cache(path)
    kinds = msal.TokenCache.CredentialType
    homes = {a["home_account_id"] for a in cache.search(kinds.ACCOUNT)
             if str(a.get("username", "")).casefold() == username.casefold()}
    tokens = [t for t in cache.search(kinds.REFRESH_TOKEN) if t.get("home_account_id") in homes]
    if not tokens:
        return None
    newest = max(tokens, key=lambda t: float(t.get("last_modification_time") or 0))
    return CachedSignIn(username, Secret(newest["secret"]), float(newest.get("last_modification_time") or 0))


def load_cache(path: str | os.PathLike[str], cache: SerializableTokenCache | None = None) -> SerializableTokenCache:
    """Return the cache stored at ``path`` (empty if there is no file yet), read into ``cache`` when given."""
    import msal

    cache = cache if cache is not None else msal.SerializableTokenCache()
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = "{}"
    except OSError as exc:
        raise ConfigurationError(FIELD, f"cannot read the token cache {file}: {exc.strerror}",
                                 hint="the worker's user must be able to read and write that file") from exc
    try:
        cache.deserialize(text or "{}")
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigurationError(FIELD, f"{file} is not an MSAL token cache",
                                 hint="delete the file and sign in again with `m365mail login`") from exc
    return cache


def save_cache(path: str | os.PathLike[str], cache: SerializableTokenCache) -> None:
    """Write ``cache`` to ``path`` atomically, readable by its owner only."""
    file = Path(path).expanduser()
    text = cache.serialize()
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # mkstemp creates it with mode 0600
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigurationError(FIELD, f"cannot write the token cache {file}: {exc.strerror}",
                                 hint="the worker's user must be able to write to that folder") from exc


@contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the cache's exclusive lock (``<path>.lock``) for a read-refresh-write cycle across processes."""
    file = Path(path).expanduser()
    lock = file.with_name(file.name + ".lock")
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(FIELD, f"cannot lock the token cache {file}: {exc.strerror}",
                                 hint="the worker's user must be able to write to that folder") from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


"""Keep MSAL's token cache in a file that every worker process on a host (or a shared volume) reads and writes.

Without it each process asks Entra ID for its own token, and a delegated refresh token that Entra rotates in one
process is lost to the others. ``msal-extensions`` persists the cache (``token_cache_path``) under a file lock and
reloads it when another process changed it. The file holds access and refresh tokens in plain text, so it is kept
at mode 0600, owner only, and its content never reaches a log line. One acquisition at a time per cache file
(``one_acquisition_at_a_time``): processes that start together make one token request, the others find its token
in the file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.errors import ConfigurationError

if TYPE_CHECKING:
    from msal_extensions import PersistedTokenCache

_OWNER_ONLY = 0o600


def persisted_token_cache(path: str) -> PersistedTokenCache:
    """Return an MSAL token cache persisted in ``path`` (created owner-only), shared by every process using it."""
    from msal_extensions import FilePersistence, PersistedTokenCache

    location = owner_only_file(path)
    return PersistedTokenCache(FilePersistence(str(location)))


def owner_only_file(path: str) -> Path:
    """Create ``path`` (and its folder) if missing, with mode 0600; return it. Refuse what cannot be made so."""
    location = Path(path).expanduser()
    try:
        location.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(location, os.O_RDWR | os.O_CREAT, _OWNER_ONLY))
        os.chmod(location, _OWNER_ONLY)  # a file that existed keeps its mode otherwise
    except OSError as exc:
        raise ConfigurationError(
            "extra.token_cache_path",
            f"cannot keep the token cache at {path}: {exc.strerror}",
            hint="give a file path the worker's user may create and write, on local disk or a shared volume",
        ) from exc
    return location


@contextmanager
def one_acquisition_at_a_time(path: str | None) -> Iterator[None]:
    """Hold an exclusive lock next to the cache file ``path`` while a token is acquired (nothing when None).

    The lock is the kernel's (``flock``): a process that dies releases it.
    """
    if path is None:
        yield
        return
    lock_path = owner_only_file(f"{Path(path).expanduser()}.acquire.lock")
    with open(lock_path, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

"""The token cache file every process on a host shares: owner-only, replaced atomically, locked across processes."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

import msal
import pytest

from airflow_provider_m365mail.core.auth.token_cache import load_cache, locked, save_cache
from airflow_provider_m365mail.core.errors import ConfigurationError


def _cache_with_refresh_token(secret: str) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    cache.deserialize(json.dumps({"RefreshToken": {"k": {
        "credential_type": "RefreshToken", "secret": secret, "home_account_id": "u.t", "environment": "e",
        "client_id": "c", "target": "SMTP.Send"}}}))
    return cache


def test_a_saved_cache_is_owner_only_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "caches" / "alice.json"
    save_cache(path, _cache_with_refresh_token("rt-1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [entry] = list(load_cache(path).search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert entry["secret"] == "rt-1"
    assert sorted(p.name for p in path.parent.iterdir()) == ["alice.json"]  # no temporary file left behind


def test_loading_into_a_cache_replaces_what_it_held(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    save_cache(path, _cache_with_refresh_token("rotated"))
    held = _cache_with_refresh_token("old")
    load_cache(path, held)
    assert [e["secret"] for e in held.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)] == ["rotated"]
    assert not held.has_state_changed


def test_a_missing_file_is_an_empty_cache_and_a_foreign_one_names_the_extra(tmp_path: Path) -> None:
    assert list(load_cache(tmp_path / "none.json").search(msal.TokenCache.CredentialType.ACCOUNT)) == []
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ConfigurationError) as caught:
        load_cache(tmp_path / "bad.json")
    assert caught.value.field == "extra.token_cache_path"


def _lock_is_free(path: Path) -> bool:
    """Try the lock through a file description of our own, as another process would (flock locks descriptions)."""
    descriptor = os.open(str(path) + ".lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


def test_the_lock_keeps_another_holder_out_until_released(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    with locked(path):
        assert not _lock_is_free(path)
    assert _lock_is_free(path)

"""The token cache file every process on a host shares: owner-only, replaced atomically, locked across processes,
and used by separate Python processes asking the sandbox for tokens at once."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import msal
import pytest
from connection_settings import settings_for

from airflow_provider_m365mail.core.auth.token_cache import load_cache, locked, save_cache
from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.sandbox.server import Sandbox


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


# One worker process: build the settings, say it is ready, wait for the go, ask for a token.
WORKER = """
import asyncio, hashlib, json, sys, time
from pathlib import Path
from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.settings import MailSettings

conn, ready, go = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
settings = MailSettings.from_connection_fields(
    host=conn.get("host"), port=conn.get("port"), login=conn.get("login"), password=conn.get("password"),
    extra=conn["extra"],
)
ready.touch()
while not go.exists():
    time.sleep(0.005)
token = asyncio.run(TokenSource(settings).get_token(settings.exchange_scope))
print(hashlib.sha256(token.token.encode()).hexdigest())  # which token, without showing it
"""


def tokens_in_processes(
    sandbox: Sandbox, folder: Path, count: int, fields: dict[str, str | None] | None = None, **extra: str
) -> list[str]:
    """Run ``count`` processes that ask for a token at the same moment; return what each printed.

    ``fields`` replaces the connection's ``login``, ``password`` ...; ``extra`` is merged into its extras.
    """
    conn = {**sandbox.settings["airflow_connections"]["smtp_oauth2"], **(fields or {})}
    conn["extra"] = {**conn["extra"], **extra}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    go = folder / "go"
    readies = [folder / f"ready-{i}" for i in range(count)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(conn), str(ready), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for ready in readies
    ]
    while not all(ready.exists() for ready in readies):  # every process imported and parsed: start them together
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.01)
    go.touch()
    outputs = [w.communicate(timeout=60) for w in workers]
    assert [w.returncode for w in workers] == [0] * count, outputs
    return [out + err for out, err in outputs]


@pytest.mark.parametrize(("cache", "requests"), [(True, 1), (False, 4)], ids=["shared-cache", "each-process-alone"])
def test_worker_processes_sharing_a_token_cache_make_one_token_request(
    m365_sandbox: Sandbox, tmp_path: Path, cache: bool, requests: int
) -> None:
    cache_file = tmp_path / "cache" / "m365mail-tokens.json"
    extra = {"token_cache_path": str(cache_file)} if cache else {}
    outputs = tokens_in_processes(m365_sandbox, tmp_path, 4, **extra)
    assert m365_sandbox.state.stats["token_requests"] == requests
    assert len({out.split()[0] for out in outputs}) == (1 if cache else 4)  # one token, or four
    if cache:
        assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
        assert '"AccessToken"' in cache_file.read_text()
    secret = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]["password"]
    assert not [out for out in outputs if secret in out]


def test_a_delegated_sign_in_is_shared_by_processes_through_the_cache_file(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    client_id = m365_sandbox.settings["client_id"]
    state = m365_sandbox.state
    refresh = m365_sandbox.call(
        lambda: state.refresh_tokens.issue(client_id, "alice@contoso.com", ["SMTP.Send"], now=state.clock())
    )
    cache_file = tmp_path / "tokens.json"
    outputs = tokens_in_processes(
        m365_sandbox, tmp_path, 3, fields={"login": "alice@contoso.com", "password": None},
        auth_type="oauth2_delegated", refresh_token=refresh, client_secret=m365_sandbox.settings["client_secret"],
        from_email="alice@contoso.com", token_cache_path=str(cache_file),
    )
    assert m365_sandbox.state.stats["token_requests"] == 1  # the others signed in from the file
    assert len(set(outputs)) == 1
    assert '"RefreshToken"' in cache_file.read_text()  # the rotated refresh token, kept for the next process
    assert not [out for out in outputs if refresh in out]


def test_an_existing_cache_file_is_made_owner_only(m365_sandbox: Sandbox, tmp_path: Path) -> None:
    cache_file = tmp_path / "tokens.json"
    cache_file.touch(mode=0o644)
    os.chmod(cache_file, 0o644)
    tokens_in_processes(m365_sandbox, tmp_path, 1, token_cache_path=str(cache_file))
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600


def test_a_token_cache_path_is_refused_where_no_token_is_used(m365_sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="uses no tokens") as caught:
        settings_for(m365_sandbox, "smtp_basic", token_cache_path=str(tmp_path / "tokens.json"))
    assert caught.value.field == "extra.token_cache_path"

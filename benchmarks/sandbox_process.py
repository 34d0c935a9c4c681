"""What every benchmark shares: the sandbox in a process of its own, its admin API, and measuring in fresh processes.

Benchmarks run as ``python benchmarks/NAME.py``, so this module is imported by its bare name.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Limits that let a benchmark send as fast as it can: the point is our speed, not the tenant's throttling.
UNTHROTTLED_LIMITS: dict[str, int] = {
    "messages_per_window": 1_000_000,
    "recipients_per_day": 1_000_000_000,
    "smtp_concurrent_connections": 1000,
    "graph_concurrent_requests": 1000,
}


def start_sandbox(
    state_dir: Path, tenant: Mapping[str, Any] | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start ``m365mail sandbox`` in its own process, apply ``tenant`` changes; return it and its settings."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_m365mail.cli.main", "sandbox", "--state-dir", str(state_dir)],
        stdout=subprocess.DEVNULL,
    )
    settings_file = state_dir / "settings.json"
    deadline = time.monotonic() + 60
    while not settings_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.2)
    settings: dict[str, Any] = json.loads(settings_file.read_text())
    try:
        if tenant:
            admin(settings, "POST", "/tenant", tenant)
    except BaseException:
        process.kill()
        raise
    return process, settings


@contextlib.contextmanager
def running_sandbox(tenant: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Run a sandbox in a throwaway state folder for the ``with`` block; yield its settings."""
    with tempfile.TemporaryDirectory(prefix="m365mail-bench-") as tmp:
        process, settings = start_sandbox(Path(tmp) / "sandbox", tenant)
        try:
            yield settings
        finally:
            process.terminate()
            process.wait(timeout=30)


def admin(settings: Mapping[str, Any], method: str, path: str, body: Any = None) -> Any:
    """Call the sandbox's admin API (``/stats``, ``/reset``, ``/tenant`` ...) and return its JSON answer."""
    import httpx

    context = ssl.create_default_context(cafile=settings["ca_file"])
    with httpx.Client(verify=context, trust_env=False) as client:
        response = client.request(method, f"{settings['admin_url']}{path}", json=body)
    if response.is_error:
        raise RuntimeError(f"sandbox admin {method} {path}: HTTP {response.status_code}: {response.text[:500]}")
    return response.json()


def realistic_trust_store(settings: Mapping[str, Any]) -> str:
    """Write the system's CA bundle plus the sandbox CA to one file and return its path.

    Clients then load a trust store of production size (about 150 CAs, which OpenSSL 3 takes tens of
    milliseconds to parse), not the sandbox's single CA, and still verify the sandbox's certificate. The system
    bundle is OpenSSL's built-in path, not ``SSL_CERT_FILE``, which a benchmark may have pointed at an earlier
    server's bundle (since deleted, which left the next server's store with one CA).
    """
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    if not system.is_file():
        raise RuntimeError(f"no system CA bundle at {system} (install the Debian package ca-certificates)")
    bundle = Path(settings["ca_file"]).with_name("system-plus-sandbox-ca.pem")
    system_pems = system.read_text(encoding="utf-8")
    bundle.write_text(system_pems + "\n" + Path(settings["ca_file"]).read_text(encoding="utf-8"), encoding="utf-8")
    return str(bundle)


def run_child(script: str, args: list[str], *, extra_path: str | None = None,
              env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``script`` with ``args`` in a fresh interpreter; return the JSON object on its last output line."""
    child_env = {**os.environ, **(env or {})}
    if extra_path:
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, child_env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-W", "ignore", script, *args],
                          check=False, capture_output=True, text=True, env=child_env)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def unimportable(module: str, extra_path: str | None = None) -> str | None:
    """Return why ``module`` cannot be imported in a fresh process (with ``extra_path``), or None when it can."""
    env = dict(os.environ, PYTHONPATH=extra_path or os.environ.get("PYTHONPATH", ""))
    probe = subprocess.run([sys.executable, "-W", "ignore", "-c", f"import {module}"],
                           check=False, capture_output=True, text=True, env=env)
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or ["import failed"])[-1]


AZURE_HINT = ("install apache-airflow-providers-microsoft-azure apart (pip install --no-deps --target DIR ...; its "
              "kiota-http pin conflicts with msgraph-sdk's) and pass --azure-provider-path DIR")

"""A real Airflow api-server (REST API and UI) for the session, and headless Chromium to drive its UI.

The server runs from a throwaway AIRFLOW_HOME on SQLite with the simple auth manager: one admin whose password the
fixture writes to the passwords file, and ``[core] test_connection`` enabled. It starts once per session (about
half a minute); readiness is the server's own "Uvicorn running" line, not a poll. Screenshots go to
``$M365MAIL_SCREENSHOTS`` or a temporary folder, printed once.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow_api import ADMIN, AirflowApiServer, AirflowUi
from headless_chromium import launched_chromium
from secret_scan import SecretScan

from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow
from airflow_provider_m365mail.sandbox.server import Sandbox

READY_LINE = "Uvicorn running on"
START_TIMEOUT_S = 240  # a failure bound for a loaded machine, not a measurement


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _copy_until_ready(process: subprocess.Popen[str], log: Path, ready: threading.Event) -> None:
    """Copy the server's output to ``log``; set ``ready`` at its "Uvicorn running" line (or when it exits)."""
    assert process.stdout is not None
    with log.open("w", encoding="utf-8") as sink:
        for line in process.stdout:
            sink.write(line)
            sink.flush()
            if READY_LINE in line:
                ready.set()
    ready.set()


@pytest.fixture(scope="session")
def airflow_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    """Run ``airflow api-server`` on a loopback port for the whole session."""
    home = tmp_path_factory.mktemp("airflow-api")
    password = secrets.token_urlsafe(12)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({ADMIN: password}), encoding="utf-8")
    port = _free_port()
    airflow = LocalAirflow(
        home,
        config={
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
            "SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        },
    )
    airflow.migrate()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1",
         "--apps", "core"],
        env=airflow.env(), cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    log = home / "api-server.log"
    ready = threading.Event()
    copier = threading.Thread(target=_copy_until_ready, args=(process, log, ready), daemon=True)
    copier.start()
    try:
        assert ready.wait(START_TIMEOUT_S), "the api-server did not start"
        assert process.poll() is None, f"the api-server exited:\n{log.read_text()[-3000:]}"
        yield AirflowApiServer(f"http://127.0.0.1:{port}", password, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        copier.join(timeout=10)


@pytest.fixture(scope="session")
def api_token(airflow_api_server: AirflowApiServer) -> str:
    """Return one admin token for the session's REST calls."""
    return airflow_api_server.token()


@pytest.fixture
def airflow_rest(
    airflow_api_server: AirflowApiServer, api_token: str, secret_scan: SecretScan
) -> Iterator[httpx.Client]:
    """Return a REST client signed in as the admin; every /api/v2 answer goes to the test's secret scan."""

    def scan(response: httpx.Response) -> None:
        response.read()
        secret_scan.output(f"{response.request.method} {response.request.url.path}", response.text)

    with httpx.Client(
        base_url=f"{airflow_api_server.base_url}/api/v2", headers={"Authorization": f"Bearer {api_token}"},
        trust_env=False, timeout=120, event_hooks={"response": [scan]},
    ) as client:
        yield client


@pytest.fixture
def conn_id(airflow_rest: httpx.Client) -> Iterator[str]:
    """Return a fresh connection id; the connection is deleted afterwards."""
    name = f"m365mail_{uuid.uuid4().hex[:8]}"
    yield name
    airflow_rest.delete(f"/connections/{name}")


@pytest.fixture(scope="session")
def served_form(airflow_api_server: AirflowApiServer, api_token: str) -> dict[str, dict[str, Any]]:
    """Return the m365mail form's extra fields as the api-server serves them to the UI (name -> field)."""
    with httpx.Client(base_url=airflow_api_server.base_url, trust_env=False, timeout=120) as client:
        answer = client.get("/ui/connections/hook_meta", headers={"Authorization": f"Bearer {api_token}"})
    answer.raise_for_status()
    (ours,) = [hook for hook in answer.json() if hook["connection_type"] == "m365mail"]
    fields: dict[str, dict[str, Any]] = ours["extra_fields"]
    return fields


@pytest.fixture(scope="session")
def served_secret_fields(served_form: dict[str, dict[str, Any]]) -> list[str]:
    """Return the extras the served form asks for as passwords: the ones Airflow must never hand back."""
    return [name for name, field in served_form.items() if field["schema"].get("format") == "password"]


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """Return the folder screenshots go to (``$M365MAIL_SCREENSHOTS`` or a temporary one), printed once."""
    folder = Path(os.environ.get("M365MAIL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Launch Debian's Chromium headless through Playwright, once per module: Playwright's sync API keeps an event
    loop running in this thread while it is open, where the async tests of later modules could not run theirs."""
    with launched_chromium() as browser:
        yield browser


def _new_context(chromium: Any) -> Any:
    """Open a browser context (its own cookies); the sandbox's throwaway CA is not in Chromium's store."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, ignore_https_errors=True,
                                   accept_downloads=True)
    context.set_default_timeout(60_000)
    return context


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """Return a fresh browser page in a context of its own."""
    context = _new_context(chromium)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def _signed_in_context(chromium: Any, airflow_api_server: AirflowApiServer) -> Iterator[Any]:
    """Sign in to the Airflow UI once per module (each sign-in loads the whole UI)."""
    context = _new_context(chromium)
    try:
        page = context.new_page()
        airflow_api_server.sign_in(page)
        page.close()
        yield context
    finally:
        context.close()


@pytest.fixture
def airflow_ui(_signed_in_context: Any, airflow_api_server: AirflowApiServer, screenshots: Path) -> Iterator[AirflowUi]:
    """Return a new page, signed in to the Airflow UI."""
    page = _signed_in_context.new_page()
    try:
        yield AirflowUi(page, airflow_api_server, screenshots)
    finally:
        page.close()


@pytest.fixture
def sandbox_connection(m365_sandbox: Sandbox) -> dict[str, Any]:
    """Return the sandbox's app-only OAuth2 SMTP connection, as Airflow's REST API takes a connection."""
    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    return {
        "conn_type": "m365mail",
        "host": connection["host"],
        "port": connection["port"],
        "login": connection.get("login"),
        "password": connection.get("password"),
        "extra": json.dumps(connection["extra"]),
    }

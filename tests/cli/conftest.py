"""Fixtures of the command-line tests: sandbox connections handed over as ``AIRFLOW_CONN_*`` variables."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_m365mail.core.auth.tokens import clear_applications
from airflow_provider_m365mail.sandbox.server import Sandbox

# The in-process runs import Airflow: keep it away from ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="m365mail-tests-airflow-"))

FIELDS = ("host", "port", "login", "password")


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    """Start every test without MSAL applications: they cache the sandbox's refusals across tests."""
    clear_applications()


@pytest.fixture
def use_connection(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Publish a sandbox connection as ``AIRFLOW_CONN_<CONN_ID>`` and return it (Airflow's JSON form).

    ``use_connection("smtp_oauth2", "m365mail_x", port=1, cloud="usgov")``: ``host``, ``port``, ``login`` and
    ``password`` replace those fields, any other keyword is an extra.
    """

    def use(name: str, conn_id: str = "m365mail_cli", **overrides: Any) -> dict[str, Any]:
        conn = dict(m365_sandbox.settings["airflow_connections"][name])
        conn.update({key: overrides.pop(key) for key in FIELDS if key in overrides})
        conn["extra"] = {**conn["extra"], **overrides}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn

    return use


@pytest.fixture
def secrets(m365_sandbox: Sandbox) -> list[str]:
    """Return every credential of the sandbox: none may appear in a command's output."""
    settings = m365_sandbox.settings
    found = {m["password"] for m in settings["mailboxes"] if m.get("password")}
    found.add(settings["client_secret"])
    return sorted(s for s in found if s)

"""`m365mail login --update-connection` refuses, before any sign-in starts, a connection Airflow does not read from
its metadata database, saying where it comes from and what to do instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.sandbox.server import Sandbox


def short_device_codes(sandbox: Sandbox) -> None:
    """Make a sign-in the command wrongly started end within a second or two instead of hanging the test."""
    sandbox.call(lambda: sandbox.state.update_tenant(device_code_lifetime_s=1, device_code_interval_s=1))


def only_event(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    [line] = capsys.readouterr().out.splitlines()  # no device code was asked for and shown
    event: dict[str, Any] = json.loads(line)
    return event


def test_a_connection_from_an_environment_variable_is_refused_naming_the_variable(
        m365_sandbox: Sandbox, use_connection: Callable[..., dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    short_device_codes(m365_sandbox)
    use_connection("smtp_delegated", "m365mail_from_env")
    assert main(["login", "--conn-id", "m365mail_from_env", "--update-connection", "--json"]) == 1
    failed = only_event(capsys)
    assert failed["event"] == "failed" and "AIRFLOW_CONN_M365MAIL_FROM_ENV" in failed["error"]
    assert "without --update-connection" in failed["error"]  # the hint: the token cache keeps the sign-in


def test_a_connection_from_a_secrets_backend_is_refused_naming_the_backend(
        m365_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    short_device_codes(m365_sandbox)
    connections = tmp_path / "connections.json"
    connections.write_text(json.dumps({"m365mail_vault": m365_sandbox.settings["airflow_connections"]
                                       ["smtp_delegated"]}))
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections_file_path": str(connections)}))
    assert main(["login", "--conn-id", "m365mail_vault", "--update-connection", "--json"]) == 1
    failed = only_event(capsys)
    assert failed["event"] == "failed" and "secrets backend LocalFilesystemBackend" in failed["error"]


def test_a_connection_given_as_json_is_refused(m365_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    connection = json.dumps(m365_sandbox.settings["airflow_connections"]["smtp_delegated"])
    assert main(["login", "--conn-json", connection, "--update-connection", "--json"]) == 1
    assert "--conn-id" in only_event(capsys)["error"]

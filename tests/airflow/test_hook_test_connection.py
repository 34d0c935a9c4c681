"""M365MailHook.test_connection (the UI's Test button): the doctor's cheap checks, the first failure with its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION
from airflow_provider_m365mail.core.auth.tokens import clear_applications
from airflow_provider_m365mail.hooks.m365mail import M365MailHook
from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow
from airflow_provider_m365mail.sandbox.server import Sandbox


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    """MSAL applications cache the sandbox's refusals: start every test without them."""
    clear_applications()


def check_connection(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, name: str, **changes: Any) -> tuple[bool, str]:
    """Run test_connection on the sandbox connection ``name``; ``changes`` replace fields, or extras."""
    connection = dict(sandbox.settings["airflow_connections"][name])
    fields = {key: changes.pop(key) for key in ("host", "port", "login", "password") if key in changes}
    connection = {**connection, **fields, "extra": {**connection["extra"], **changes}}
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_UI", json.dumps(connection))
    return M365MailHook("m365mail_ui").test_connection()



def secrets_in(text: str, sandbox: Sandbox, *more: str) -> list[str]:
    known = [sandbox.settings["client_secret"], sandbox.settings["basic_user"]["password"], *more]
    return [secret for secret in known if secret in text]


def test_a_working_smtp_connection_passes_and_lists_what_was_checked(
    monkeypatch: pytest.MonkeyPatch, m365_sandbox: Sandbox
) -> None:
    ok, message = check_connection(monkeypatch, m365_sandbox, "smtp_oauth2")

    assert ok, message
    assert message.startswith("Connection settings: smtp to 127.0.0.1:")
    assert "OAuth2 token: token for https://outlook.office365.com/.default" in message
    assert "SMTP EHLO / AUTH: " in message and "authenticated as airflow@contoso.com (XOAUTH2)" in message
    assert "TCP:" not in message and "MX" not in message  # the cheap subset: one connection, no mail DNS
    assert m365_sandbox.messages() == []
    assert not secrets_in(message, m365_sandbox)


def test_a_working_graph_connection_passes(monkeypatch: pytest.MonkeyPatch, m365_sandbox: Sandbox) -> None:
    ok, message = check_connection(monkeypatch, m365_sandbox, "graph")

    assert ok, message
    assert "Graph sendMail access: " in message
    assert m365_sandbox.messages() == []


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
def test_smtp_auth_disabled_fails_with_the_powershell_fix(
    monkeypatch: pytest.MonkeyPatch, m365_sandbox: Sandbox
) -> None:
    ok, message = check_connection(monkeypatch, m365_sandbox, "smtp_oauth2")

    assert not ok
    assert message.startswith("SMTP EHLO / AUTH failed: [5.7.139] ")
    assert "Fix: SMTP AUTH is disabled" in message and "Set-CASMailbox" in message
    assert not secrets_in(message, m365_sandbox)


def test_a_wrong_client_secret_fails_at_the_token_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, m365_sandbox: Sandbox
) -> None:
    ok, message = check_connection(monkeypatch, m365_sandbox, "smtp_oauth2", password="Not-The-Client-Secret-1")

    assert not ok
    assert message.startswith("OAuth2 token failed: [AADSTS7000215] ")
    assert "Fix: " in message and "Secret ID" in message
    assert not secrets_in(message, m365_sandbox, "Not-The-Client-Secret-1")


def test_a_closed_port_fails_the_sign_in_with_a_fix(
    monkeypatch: pytest.MonkeyPatch, m365_sandbox: Sandbox, free_port: int
) -> None:
    ok, message = check_connection(monkeypatch, m365_sandbox, "smtp_basic", port=free_port)

    assert not ok
    assert message.startswith("SMTP EHLO / AUTH failed: ")
    assert str(free_port) in message and " Fix: " in message
    assert not secrets_in(message, m365_sandbox)


@pytest.mark.parametrize(
    ("connection", "changes", "field"),
    [
        ("smtp_basic", {"security": "tls13"}, "extra.security"),
        ("graph", {"proxy": "http//proxyuser:Pr0xy-Secret@proxy:3128"}, "extra.proxy"),
        ("graph", {"proxy": "ftp://proxyuser:Pr0xy-Secret@proxy"}, "extra.proxy"),
    ],
)
def test_an_invalid_setting_fails_naming_the_field_never_its_credentials(
    monkeypatch: pytest.MonkeyPatch, m365_sandbox: Sandbox, connection: str, changes: dict[str, str], field: str
) -> None:
    ok, message = check_connection(monkeypatch, m365_sandbox, connection, **changes)

    assert not ok
    assert message.startswith(f"Connection settings failed: {field}")
    assert " Fix: " in message
    assert "Pr0xy-Secret" not in message and "proxyuser" not in message


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
def test_airflow_connections_test_shows_the_failure_and_its_fix(m365_sandbox: Sandbox, tmp_path: Path) -> None:
    airflow = LocalAirflow(
        tmp_path / "airflow",
        {"m365mail_ui": m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]},
        config={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
    )

    done = airflow.cli("connections", "test", "m365mail_ui")

    output = " ".join(done.stdout.split())  # Airflow wraps long lines
    # `airflow connections test` exits 1 on a failed test from Airflow 3.3; before, it only prints the failure.
    assert done.returncode == (1 if AIRFLOW_VERSION >= (3, 3) else 0), done.stderr
    assert "Connection failed! SMTP EHLO / AUTH failed: [5.7.139] " in output
    assert "Fix: SMTP AUTH is disabled" in output and "Set-CASMailbox" in output
    assert not secrets_in(done.stdout + done.stderr, m365_sandbox)

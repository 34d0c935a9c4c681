"""The Sandbox server object: settings.json, restarts on the same state, thread lifecycle and error reporting."""

from __future__ import annotations

import json
import logging
import smtplib
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from airflow_provider_m365mail.sandbox import replies
from airflow_provider_m365mail.sandbox.server import Sandbox, SandboxError

SERVICE = "airflow@contoso.com"
PASSWORD = "Sandbox-Passw0rd!"
MESSAGE = f"From: {SERVICE}\r\nMessage-ID: <restart@test>\r\nSubject: kept\r\n\r\nbody\r\n"


def send_basic(sandbox: Sandbox) -> None:
    with smtplib.SMTP("127.0.0.1", sandbox.settings["smtp"]["submission_port"], timeout=10) as conn:
        conn.starttls(context=sandbox.client_context())
        conn.login(SERVICE, PASSWORD)
        conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)


def test_settings_file_describes_the_running_servers(m365_sandbox: Sandbox) -> None:
    settings = json.loads(m365_sandbox.settings_file.read_text(encoding="utf-8"))
    assert settings == m365_sandbox.settings
    assert Path(settings["ca_file"]) == m365_sandbox.ca_file
    smtp = settings["smtp"]
    for port_key in ("submission_port", "ssl_port", "direct_send_port", "relay_port"):
        with socket.create_connection((smtp["host"], smtp[port_key]), timeout=5) as raw:
            if port_key == "ssl_port":
                with m365_sandbox.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    assert tls.recv(512).startswith(b"220 ")
            else:
                assert raw.recv(512).startswith(b"220 ")
    port = int(settings["authority_host"].rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, m365_sandbox.client_context().wrap_socket(
        raw, server_hostname="127.0.0.1"
    ) as tls:
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    assert settings["graph_endpoint"] == f"https://127.0.0.1:{port}/v1.0"
    assert settings["basic_user"] == {"address": SERVICE, "password": PASSWORD}


def test_settings_carry_ready_made_airflow_connections(m365_sandbox: Sandbox) -> None:
    settings = m365_sandbox.settings
    connections = settings["airflow_connections"]
    basic = connections["smtp_basic"]
    assert (basic["host"], basic["port"], basic["login"], basic["password"]) == (
        "127.0.0.1", settings["smtp"]["submission_port"], SERVICE, PASSWORD,
    )
    assert basic["extra"] == {
        "smtp_mode": "submission", "security": "starttls", "auth_type": "basic",
        "ca_bundle": settings["ca_file"], "from_email": SERVICE,
        "allowed_senders": "reports@contoso.com,data-team@contoso.com",
    }
    oauth = connections["smtp_oauth2"]
    assert (oauth["login"], oauth["password"]) == (SERVICE, settings["client_secret"])
    assert oauth["extra"]["auth_type"] == "oauth2_app"
    assert oauth["extra"]["authority_host"] == settings["authority_host"]
    assert oauth["extra"]["client_id"] == settings["client_id"]
    assert connections["smtp_ssl"]["extra"]["security"] == "ssl"
    delegated = connections["smtp_delegated"]
    assert (delegated["login"], delegated["password"]) == ("alice@contoso.com", None)
    assert delegated["extra"]["auth_type"] == "oauth2_delegated" and "refresh_token" not in delegated["extra"]
    cache = m365_sandbox.state_dir / "token-caches" / "smtp_delegated.json"
    assert delegated["extra"]["token_cache_path"] == str(cache)
    assert connections["smtp_ssl"]["port"] == settings["smtp"]["ssl_port"]
    assert connections["direct_send"]["extra"] == {
        "smtp_mode": "direct_send", "security": "starttls",
        "ca_bundle": settings["ca_file"], "from_email": "alerts@contoso.com",
    }
    assert connections["relay"]["port"] == settings["smtp"]["relay_port"]
    graph = connections["graph"]
    assert (graph["login"], graph["password"]) == (settings["basic_user"]["address"], settings["client_secret"])
    assert graph["extra"]["client_id"] == settings["client_id"]
    assert graph["extra"]["graph_endpoint"] == settings["graph_endpoint"]
    assert all(c["conn_type"] == "m365mail" for c in connections.values())


def test_restart_on_the_same_state_dir_keeps_accepted_messages(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as first:
        send_basic(first)
        [before] = first.messages()
    assert not first.settings_file.exists(), "a stopped sandbox must not leave settings.json behind"

    with Sandbox(tmp_path) as second:
        [after] = second.messages()
        assert after == before
        assert second.parsed(after.id)["Message-ID"] == "<restart@test>"
        assert second.settings_file.exists()


def sandbox_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "m365mail-sandbox"}


def test_start_in_thread_reraises_a_startup_error_and_leaves_no_thread(tmp_path: Path) -> None:
    running_before = sandbox_threads()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sandbox = Sandbox(tmp_path, smtp_port=taken.getsockname()[1])
        with pytest.raises(OSError):
            sandbox.start_in_thread()
    assert sandbox_threads() == running_before


def test_a_failure_inside_the_sandbox_reaches_the_test(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as sandbox:
        (sandbox.state_dir / "messages").rename(sandbox.state_dir / "moved")  # storing will fail
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send_basic(sandbox)
        assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == replies.SERVER_ERROR
        with pytest.raises(SandboxError) as raised:
            sandbox.raise_server_errors()
        assert isinstance(raised.value.__cause__, FileNotFoundError)
        sandbox.raise_server_errors()  # reported once


def test_errors_logged_by_other_threads_are_not_the_sandbox_s(m365_sandbox: Sandbox) -> None:
    logging.getLogger("airflow_provider_m365mail.sandbox.web").error("elsewhere", exc_info=ValueError("x"))
    m365_sandbox.raise_server_errors()
    logger = logging.getLogger("airflow_provider_m365mail.sandbox.web")
    m365_sandbox.call(lambda: logger.error("inside", exc_info=ValueError("inside")))
    with pytest.raises(SandboxError):
        m365_sandbox.raise_server_errors()


def test_call_runs_on_the_sandbox_loop_thread(m365_sandbox: Sandbox) -> None:
    assert m365_sandbox.call(lambda: threading.current_thread().name) == "m365mail-sandbox"


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False}, faults=[{"target": "graph", "kind": "reply", "code": 503}])
def test_the_sandbox_marker_prepares_the_tenant_and_reset_restores_it(m365_sandbox: Sandbox) -> None:
    state = m365_sandbox.state
    assert m365_sandbox.call(lambda: (state.tenant.smtp_auth_enabled, [f.code for f in state.faults])) == (
        False, [503],
    )
    m365_sandbox.reset()
    assert m365_sandbox.call(lambda: (state.tenant.smtp_auth_enabled, state.faults)) == (True, [])


def test_the_plugin_imports_no_server_libraries() -> None:
    probe = (
        "import sys, airflow_provider_m365mail.sandbox.plugin; "
        "print(sorted(m for m in ('aiohttp', 'aiosmtpd', 'trustme', 'jwt', 'airflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


"""``m365mail doctor`` end to end: the command reads an Airflow connection and names the failing check and its fix.

Connections reach the command as ``AIRFLOW_CONN_*`` variables (no metadata database), the checks talk to the
sandbox, and ``--json`` output is validated against the schema published in docs/doctor.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trustme
from airflow.providers_manager import ProvidersManager
from doctor_schema import doctor_schema

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow
from airflow_provider_m365mail.sandbox.server import Sandbox

DOCS = Path(__file__).resolve().parents[2] / "docs"
M365MAIL = Path(sys.executable).with_name("m365mail")
SMTP_AUTH_OFF = pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
UseConnection = Callable[..., dict[str, Any]]  # the use_connection fixture


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``m365mail doctor ARGS --json`` in this process; return the exit code, the validated JSON and stdout."""
    code = main(["doctor", *args, "--json"])
    out = capsys.readouterr().out
    data: dict[str, Any] = json.loads(out)
    jsonschema.validate(data, doctor_schema())
    return code, data, out


def the_check(data: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in data["checks"] if c["name"] == name]
    return dict(found)


def anchor_exists(docs_link: str) -> bool:
    page, _, anchor = docs_link.partition("#")
    return f'id="{anchor}"' in (DOCS / page).read_text(encoding="utf-8")


def test_a_healthy_connection_prints_every_check_and_exits_0(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    secrets: list[str], m365_sandbox: Sandbox,
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    use_connection("smtp_oauth2")

    code = main(["doctor", "--conn-id", "m365mail_cli"])

    out = capsys.readouterr().out
    assert code == 0
    for title in ("Connection settings", "DNS: server address", "TCP: port reachable", "TLS: version and certificate",
                  "OAuth2 token", "SMTP EHLO / AUTH"):
        assert re.search(rf"PASS\s+│ {re.escape(title)}", out), title
    assert "authenticated as airflow@contoso.com (XOAUTH2)" in out
    assert out.rstrip().endswith("OK: 6 passed, 0 warning(s), 0 failed, 3 skipped")
    assert not [s for s in secrets if s in out]
    assert m365_sandbox.messages() == []


# failure state -> (sandbox connection, overrides, extra flags, failing check, its code, words of its fix)
FAILURES: dict[str, tuple[str, dict[str, Any], list[str], str, str | None, str]] = {
    "smtp_auth_disabled": ("smtp_oauth2", {}, [], "server", "5.7.139", "Set-CASMailbox"),
    "wrong_client_secret": ("smtp_oauth2", {"password": "not-the-secret-value"}, [], "token", "AADSTS7000215",
                            "Secret ID"),
    "wrong_password": ("smtp_basic", {"password": "Wrong-Passw0rd-123"}, [], "server", "5.7.3", "password"),
    "no_send_as": ("smtp_basic", {"allowed_senders": "*@contoso.com"}, ["--send-as", "alerts@contoso.com"],
                   "send_as", "5.7.60", "Add-RecipientPermission"),
    "port_closed": ("smtp_oauth2", {"port": "free"}, [], "tcp", None, "587"),
    "certificate_of_another_ca": ("smtp_oauth2", {"ca_bundle": "other"}, [], "tls", None, "ca_bundle"),
    "wrong_cloud": ("smtp_oauth2", {"cloud": "usgov"}, [], "token", "AADSTS500011", "extra.cloud"),
}


@pytest.mark.parametrize(
    "state",
    [pytest.param(name, marks=SMTP_AUTH_OFF if name == "smtp_auth_disabled" else ()) for name in FAILURES],
)
def test_each_failure_names_the_check_its_code_and_fix(
    state: str, *, use_connection: UseConnection, capsys: pytest.CaptureFixture[str], free_port: int,
    tmp_path: Path, secrets: list[str], m365_sandbox: Sandbox,
) -> None:
    name, overrides, flags, failing, code, fix_words = FAILURES[state]
    if overrides.get("port") == "free":
        overrides = {**overrides, "port": free_port}
    if overrides.get("ca_bundle") == "other":
        other_ca = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other_ca))
        overrides = {**overrides, "ca_bundle": str(other_ca)}
    use_connection(name, **overrides)

    exit_code, data, out = run_json(capsys, "--conn-id", "m365mail_cli", *flags)

    assert (exit_code, data["ok"], data["exit_code"]) == (1, False, 1)
    first_failure = next(c for c in data["checks"] if c["status"] == "fail")
    assert first_failure["name"] == failing
    assert first_failure["code"] == code
    assert fix_words in first_failure["fix"]
    assert anchor_exists(first_failure["docs"]), first_failure["docs"]
    assert not [s for s in [*secrets, overrides.get("password", "")] if s and s in out]
    assert m365_sandbox.messages() == []


def test_the_table_shows_the_fix_and_the_troubleshooting_link(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    use_connection("smtp_oauth2", cloud="usgov")

    code = main(["doctor", "--conn-id", "m365mail_cli"])

    out = capsys.readouterr().out
    assert code == 1
    assert re.search(r"FAIL\s+│ OAuth2 token\s+│ \[AADSTS500011\] ", out)
    assert "OAuth2 token: run `m365mail explain AADSTS500011`" in out
    assert re.search(r"SKIP\s+│ Server sign-in\s+│ skipped: OAuth2 token did not pass", out)
    assert out.rstrip().endswith("FAILED: 4 passed, 0 warning(s), 1 failed, 4 skipped")


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "reply", "stage": "auth", "code": 535,
                               "message": "5.7.3 Authentication unsuccessful [am0pr01ca0001.prod.outlook.com]"}])
def test_the_table_shows_server_replies_verbatim_brackets_included(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    use_connection("smtp_oauth2")  # XOAUTH2 only: no second mechanism to fall back on

    code = main(["doctor", "--conn-id", "m365mail_cli"])

    assert code == 1
    assert "535 5.7.3 Authentication unsuccessful [am0pr01ca0001.prod.outlook.com]" in capsys.readouterr().out


def test_granted_send_as_passes(use_connection: UseConnection, capsys: pytest.CaptureFixture[str]) -> None:
    use_connection("smtp_basic")

    code, data, _ = run_json(capsys, "--conn-id", "m365mail_cli", "--send-as", "reports@contoso.com")

    assert code == 0
    assert the_check(data, "send_as")["status"] == "pass"
    assert the_check(data, "send_as")["title"] == "Send As reports@contoso.com"


def test_graph_connection_passes_and_reports_https(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    use_connection("graph")

    code, data, _ = run_json(capsys, "--conn-id", "m365mail_cli")

    assert code == 0
    assert (data["connection"]["transport"], data["connection"]["security"]) == ("graph", "https")
    assert the_check(data, "server")["title"] == "Graph sendMail access"


def test_send_as_over_graph_sends_one_marked_probe_message(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    use_connection("graph")

    code, data, _ = run_json(capsys, "--conn-id", "m365mail_cli", "--send-as", "reports@contoso.com")

    assert code == 0
    assert the_check(data, "send_as")["detail"] == "live (message): probe message accepted: 202 Accepted"
    (probe,) = m365_sandbox.messages()
    assert probe.subject == "[m365mail probe] send as reports@contoso.com"
    assert probe.envelope_to == ("airflow@contoso.com",)


def test_a_sender_outside_allowed_senders_fails_before_any_probe(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    def smtp_sessions() -> int:
        return m365_sandbox.call(lambda: m365_sandbox.state.stats["smtp_sessions"])

    use_connection("smtp_basic")
    run_json(capsys, "--conn-id", "m365mail_cli")
    without_probe = smtp_sessions()

    code, data, _ = run_json(capsys, "--conn-id", "m365mail_cli", "--send-as", "alerts@contoso.com")

    send_as = the_check(data, "send_as")
    assert code == 1
    assert (send_as["title"], send_as["status"]) == ("Send As alerts@contoso.com", "fail")
    assert "allowed_senders" in send_as["fix"]
    assert smtp_sessions() == 2 * without_probe  # the probe never connected


def test_conn_json_needs_no_airflow_connection(
    m365_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = json.dumps(m365_sandbox.settings["airflow_connections"]["smtp_basic"])

    code, data, _ = run_json(capsys, "--conn-json", connection)

    assert code == 0
    assert data["connection"]["auth_type"] == "basic"


def test_an_unknown_conn_id_fails_the_settings_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = run_json(capsys, "--conn-id", "m365mail_nowhere")

    assert code == 1
    settings = the_check(data, "settings")
    assert settings["status"] == "fail" and "m365mail_nowhere" in settings["detail"]
    assert "--conn-json" in settings["fix"]
    assert {c["status"] for c in data["checks"][1:]} == {"skip"}
    assert data["connection"] == {}


def test_invalid_conn_json_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = run_json(capsys, "--conn-json", "{not json")

    assert code == 1
    assert the_check(data, "settings")["detail"].startswith("--conn-json: not valid JSON")


@pytest.mark.parametrize(
    "argv",
    [["doctor", "--probe-mode", "sometimes"], ["doctor", "--conn-id"], ["doctor", "--no-such-flag"], ["doctor-x"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: m365mail" in capsys.readouterr().err


def local_airflow(tmp_path: Path, sandbox: Sandbox, name: str) -> LocalAirflow:
    """Return a private Airflow whose ``m365mail_cli`` connection is the sandbox's ``name`` (never migrated)."""
    return LocalAirflow(tmp_path / "airflow", {"m365mail_cli": sandbox.settings["airflow_connections"][name]})


@SMTP_AUTH_OFF
def test_the_installed_command_prints_clean_json_and_exits_1(
    m365_sandbox: Sandbox, tmp_path: Path, secrets: list[str]
) -> None:
    airflow = local_airflow(tmp_path, m365_sandbox, "smtp_oauth2")
    airflow.home.mkdir()

    done = subprocess.run(
        [str(M365MAIL), "doctor", "--conn-id", "m365mail_cli", "--json"],
        env=airflow.env(), capture_output=True, text=True, timeout=120, check=False,
    )

    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)  # Airflow's own log lines go to stderr, never into the JSON
    jsonschema.validate(data, doctor_schema())
    server = the_check(data, "server")
    assert (server["status"], server["code"]) == ("fail", "5.7.139")
    assert not [s for s in secrets if s in done.stdout + done.stderr]


@pytest.mark.skipif(
    not hasattr(ProvidersManager, "cli_command_functions"), reason="providers add CLI commands from Airflow 3.2"
)
def test_airflow_m365mail_commands_run_through_airflows_cli(m365_sandbox: Sandbox, tmp_path: Path) -> None:
    airflow = local_airflow(tmp_path, m365_sandbox, "smtp_oauth2")

    healthy = airflow.cli("m365mail", "doctor", "--conn-id", "m365mail_cli", "--json")
    broken = airflow.cli("m365mail", "doctor", "--conn-id", "m365mail_nowhere", "--json")
    sent = airflow.cli("m365mail", "send-test", "--conn-id", "m365mail_cli", "--to", "bob@contoso.com")

    assert healthy.returncode == 0, healthy.stderr
    data = json.loads(healthy.stdout)
    jsonschema.validate(data, doctor_schema())
    assert data["ok"] and the_check(data, "server")["status"] == "pass"
    assert broken.returncode == 1
    assert the_check(json.loads(broken.stdout), "settings")["status"] == "fail"
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "Server reply: 250 " in sent.stdout
    assert [m.envelope_to for m in m365_sandbox.messages()] == [("bob@contoso.com",)]


def test_a_send_as_grant_to_the_login_mailbox_fails_app_only_xoauth2_and_names_the_service_principal(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    # Granted as the Send As how-to once said: to the mailbox. Basic passes; app-only XOAUTH2 needs the app's grant.
    m365_sandbox.call(lambda: m365_sandbox.state.grant("airflow@contoso.com", "alerts@contoso.com", "send_as"))
    use_connection("smtp_basic", "m365mail_basic", allowed_senders="*@contoso.com")
    conn = use_connection("smtp_oauth2", "m365mail_app", allowed_senders="*@contoso.com")

    _, basic, _ = run_json(capsys, "--conn-id", "m365mail_basic", "--send-as", "alerts@contoso.com")
    code, app_only, _ = run_json(capsys, "--conn-id", "m365mail_app", "--send-as", "alerts@contoso.com")

    assert the_check(basic, "send_as")["status"] == "pass"
    assert code == 1
    check = the_check(app_only, "send_as")
    assert (check["status"], check["code"]) == ("fail", "5.7.60")
    assert check["fix"].startswith(
        "for app-only XOAUTH2 the trustee is the app's Exchange service principal, not airflow@contoso.com"
    )
    assert f"Get-ServicePrincipal -Identity {conn['extra']['client_id']}" in check["fix"]

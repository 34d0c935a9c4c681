"""M365MailHook against the sandbox, in this process: connections come from AIRFLOW_CONN_* variables."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trustme

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION, redact
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageValidationError,
    SendAsDeniedError,
)
from airflow_provider_m365mail.core.settings import AuthType, Security
from airflow_provider_m365mail.core.settings.secret import Secret
from airflow_provider_m365mail.hooks.m365mail import M365MailHook
from airflow_provider_m365mail.sandbox.server import Sandbox


def use_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, connection: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


@pytest.fixture
def oauth2_hook(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> M365MailHook:
    use_connection(monkeypatch, "m365mail_default", m365_sandbox.settings["airflow_connections"]["smtp_oauth2"])
    return M365MailHook()


def stat(sandbox: Sandbox, name: str) -> int:
    return sandbox.call(lambda: sandbox.state.stats[name])


def test_settings_come_from_the_connection_once(oauth2_hook: M365MailHook, m365_sandbox: Sandbox) -> None:
    settings = oauth2_hook.get_settings()
    assert settings.port == m365_sandbox.settings["smtp"]["submission_port"]
    assert settings.auth_type is AuthType.OAUTH2_APP
    assert settings.security is Security.STARTTLS
    assert settings.client_secret == Secret(m365_sandbox.settings["client_secret"])
    assert oauth2_hook.get_settings() is settings
    assert oauth2_hook.get_conn() is settings


async def test_async_settings_read_the_same_connection(oauth2_hook: M365MailHook) -> None:
    settings = await oauth2_hook.aget_settings()
    assert settings.auth_type is AuthType.OAUTH2_APP
    assert await oauth2_hook.aget_settings() is settings


def test_empty_form_fields_mean_the_default(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_basic"]
    use_connection(
        monkeypatch,
        "m365mail_form",
        {**connection, "extra": {**connection["extra"], "security": None, "cloud": "", "timeout": None}},
    )
    settings = M365MailHook("m365mail_form").get_settings()
    assert settings.security is Security.STARTTLS
    assert settings.timeout == 30.0


def test_every_secret_of_the_connection_is_masked_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    pem = trustme.CA().issue_cert("airflow.contoso.com").private_key_and_cert_chain_pem.bytes().decode()
    use_connection(
        monkeypatch,
        "m365mail_cert",
        {
            "conn_type": "m365mail",
            "login": "airflow@contoso.com",
            "extra": {
                "auth_type": "oauth2_app",
                "tenant_id": "contoso.com",
                "client_id": "app-1234",
                "certificate_private_key": pem,
            },
        },
    )
    settings = M365MailHook("m365mail_cert").get_settings()
    (secret,) = settings.secrets  # Airflow itself masks only extras whose names sound secret; this one does not
    assert secret.startswith("-----BEGIN EC PRIVATE KEY-----")
    assert redact(f"before {secret} after") == "before *** after"


def test_a_wrong_setting_fails_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch,
        "m365mail_bad",
        {"conn_type": "m365mail", "host": "smtp.office365.com", "port": 465, "extra": {"security": "starttls"}},
    )
    with pytest.raises(ConfigurationError) as raised:
        M365MailHook("m365mail_bad").get_settings()
    assert raised.value.field in {"port", "extra.security"}


def test_send_delivers_and_returns_the_message_id(oauth2_hook: M365MailHook, m365_sandbox: Sandbox) -> None:
    message_id = oauth2_hook.derive_message_id("dag/run/task/-1", from_email="reports@contoso.com")
    returned = oauth2_hook.send(
        to="Zoë Müller <alice@contoso.com>",
        subject="Grüße",
        text_content="plain",
        html_content="<p>html</p>",
        from_email="reports@contoso.com",
        message_id=message_id,
    )
    (stored,) = m365_sandbox.messages()
    assert returned == [message_id] == [stored.message_id]
    assert message_id.endswith("@contoso.com>")
    parsed = m365_sandbox.parsed(stored.id)
    assert parsed["From"].addresses[0].addr_spec == "reports@contoso.com"
    assert parsed["Subject"] == "Grüße"
    assert parsed["To"].addresses[0].display_name == "Zoë Müller"
    assert stored.principal == "airflow@contoso.com"  # the XOAUTH2 mailbox


def test_the_message_id_depends_on_the_seed_only(oauth2_hook: M365MailHook) -> None:
    first = oauth2_hook.derive_message_id("d/r/t/-1", from_email="reports@contoso.com")
    assert oauth2_hook.derive_message_id("d/r/t/-1", from_email="reports@contoso.com") == first
    assert oauth2_hook.derive_message_id("d/r/t/0", from_email="reports@contoso.com") != first


async def test_asend_runs_on_the_callers_loop(oauth2_hook: M365MailHook, m365_sandbox: Sandbox) -> None:
    returned = await oauth2_hook.asend(to="bob@contoso.com", subject="async", text_content="from a loop")
    assert returned == [m.message_id for m in m365_sandbox.messages()]


async def test_send_refuses_to_block_a_running_loop(oauth2_hook: M365MailHook, m365_sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="asend"):
        oauth2_hook.send(to="bob@contoso.com", subject="blocked", text_content="never sent")
    assert m365_sandbox.messages() == []


def test_bad_input_fails_before_any_network_io(oauth2_hook: M365MailHook, m365_sandbox: Sandbox) -> None:
    with pytest.raises(MessageValidationError) as raised:
        oauth2_hook.send(to="bob@contoso.com", subject="Report\r\nBcc: eve@fabrikam.com", text_content="x")
    assert raised.value.field == "subject"
    with pytest.raises(ConfigurationError) as outside:
        oauth2_hook.send(to="bob@contoso.com", subject="x", text_content="x", from_email="mallory@contoso.com")
    assert outside.value.field == "from_email"
    assert stat(m365_sandbox, "smtp_sessions") == stat(m365_sandbox, "token_requests") == 0


def test_send_as_without_the_grant_fails_with_the_exchange_code(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_basic"]
    extra = {**connection["extra"], "allowed_senders": "alerts@contoso.com"}
    use_connection(monkeypatch, "m365mail_basic", {**connection, "extra": extra})
    with pytest.raises(SendAsDeniedError) as raised:
        M365MailHook("m365mail_basic").send(
            to="bob@contoso.com", subject="x", text_content="x", from_email="alerts@contoso.com"
        )
    assert raised.value.enhanced_status == "5.7.60"
    assert "Add-RecipientPermission" in str(raised.value)
    assert m365_sandbox.messages() == []


def test_test_connection_signs_in_and_sends_nothing(oauth2_hook: M365MailHook, m365_sandbox: Sandbox) -> None:
    ok, detail = oauth2_hook.test_connection()
    assert ok, detail
    assert stat(m365_sandbox, "smtp_sessions") == 1
    assert m365_sandbox.messages() == []


def test_test_connection_reports_the_servers_refusal_without_the_secret(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_basic"]
    use_connection(monkeypatch, "m365mail_wrong", {**connection, "password": "Wrong-Passw0rd-123"})
    ok, detail = M365MailHook("m365mail_wrong").test_connection()
    assert not ok
    assert "535" in detail
    assert "Wrong-Passw0rd-123" not in detail
    assert m365_sandbox.messages() == []


def test_an_unknown_client_secret_is_an_authentication_error(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    use_connection(monkeypatch, "m365mail_secret", {**connection, "password": "not-the-client-secret"})
    with pytest.raises(AuthenticationError) as raised:
        M365MailHook("m365mail_secret").send(to="bob@contoso.com", subject="x", text_content="x")
    assert raised.value.code == "AADSTS7000215"
    assert "not-the-client-secret" not in str(raised.value)


def test_reading_the_connection_masks_only_secrets_and_never_warns_of_short_ones(m365_sandbox: Sandbox) -> None:
    import os
    import subprocess
    import sys

    connection = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    assert all(len(str(v)) >= 5 for v in connection["extra"].values())  # Airflow's masker sees every extra
    script = (
        "from airflow_provider_m365mail.airflow_compat import redact\n"
        "from airflow_provider_m365mail.hooks.m365mail import M365MailHook\n"
        "settings = M365MailHook('m365mail_plain').get_settings()\n"
        "print(redact(f'{settings.transport.value} {settings.smtp_mode.value} {settings.client_secret}'))\n"
    )
    env = {**os.environ, "AIRFLOW_CONN_M365MAIL_PLAIN": json.dumps(connection)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert "too short" not in done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "smtp submission ***"


@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 2),
    reason="Airflow before 3.2 refuses a connection whose extra is not a JSON object before any hook sees it",
)
@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ('{"transport": "smtp", "timeout": 30,}', r"extra: not valid JSON: .* \(character \d+\)"),
        ('["transport", "smtp"]', "extra: must be a JSON object of settings, not an array"),
    ],
)
def test_an_extra_that_is_not_a_json_object_is_named_as_the_problem(
    monkeypatch: pytest.MonkeyPatch, extra: str, match: str
) -> None:
    use_connection(monkeypatch, "m365mail_broken", {"conn_type": "m365mail", "host": "127.0.0.1", "extra": extra})
    with pytest.raises(ConfigurationError, match=match) as raised:
        M365MailHook("m365mail_broken").get_settings()
    assert raised.value.field == "extra"
    assert "IP address" not in str(raised.value)


def test_one_path_as_files_is_one_attachment(
    oauth2_hook: M365MailHook, m365_sandbox: Sandbox, tmp_path: Any
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n", encoding="utf-8")
    oauth2_hook.send(to="bob@contoso.com", subject="Report", text_content="attached", files=str(report))
    (stored,) = m365_sandbox.messages()
    parts = [p.get_filename() for p in m365_sandbox.parsed(stored.id).walk() if p.get_filename()]
    assert parts == ["report.csv"]

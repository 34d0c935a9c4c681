"""The doctor against the sandbox: each failure state names the failing check, its code and its fix."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trustme
from connection_settings import settings_for

from airflow_provider_m365mail.core.doctor.checks import tls
from airflow_provider_m365mail.core.doctor.diagnosis import CheckReport, Diagnosis, DoctorOptions, Status, diagnose
from airflow_provider_m365mail.core.doctor.dns import DnsLookup
from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.server import Sandbox

ALLOW = {"allowed_senders": "*@contoso.com"}


async def doctor(sandbox: Sandbox, name: str, options: DoctorOptions | None = None, **overrides: Any) -> Diagnosis:
    return await diagnose(lambda: settings_for(sandbox, name, **overrides), options)


def statuses(diagnosis: Diagnosis) -> dict[str, str]:
    return {check.name: check.status.value for check in diagnosis.checks}


def check(diagnosis: Diagnosis, name: str) -> CheckReport:
    (found,) = [c for c in diagnosis.checks if c.name == name]
    return found


async def test_smtp_oauth2_passes_every_check_and_sends_nothing(m365_sandbox: Sandbox) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2")

    assert diagnosis.ok and diagnosis.exit_code == 0
    assert statuses(diagnosis) == {
        "settings": "pass", "dns": "pass", "mx": "skip", "spf": "skip", "tcp": "pass", "tls": "pass",
        "sign_in": "skip", "token": "pass", "server": "pass",
    }
    assert check(diagnosis, "tls").detail.startswith("TLSv1.")
    assert "XOAUTH2" in check(diagnosis, "server").detail
    assert m365_sandbox.messages() == []


async def test_graph_passes_every_check(m365_sandbox: Sandbox) -> None:
    diagnosis = await doctor(m365_sandbox, "graph")

    assert diagnosis.ok
    assert statuses(diagnosis)["server"] == statuses(diagnosis)["token"] == "pass"
    assert "graph.microsoft.com/.default" in check(diagnosis, "token").detail
    assert diagnosis.connection["transport"] == "graph"
    assert m365_sandbox.messages() == []


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
async def test_smtp_auth_disabled_for_the_tenant_is_5_7_139_with_set_casmailbox(m365_sandbox: Sandbox) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2")

    server = check(diagnosis, "server")
    assert server.status is Status.FAIL and server.code == "5.7.139"
    assert "Set-CASMailbox" in (server.fix or "")
    assert server.docs == "troubleshooting.md#smtp-5-7-139"
    assert diagnosis.exit_code == 1
    assert statuses(diagnosis)["token"] == "pass"


async def test_smtp_auth_disabled_for_the_mailbox_is_5_7_139(m365_sandbox: Sandbox) -> None:
    def disable() -> None:
        state = m365_sandbox.state
        mailboxes = tuple(
            replace(m, smtp_auth_enabled=False) if m.address == "airflow@contoso.com" else m
            for m in state.tenant.mailboxes
        )
        state.update_tenant(mailboxes=mailboxes)

    m365_sandbox.call(disable)
    server = check(await doctor(m365_sandbox, "smtp_basic"), "server")

    assert (server.status, server.code) == (Status.FAIL, "5.7.139")
    assert "disabled for the Mailbox" in server.detail


async def test_wrong_client_secret_is_aadsts7000215_and_skips_the_sign_in(m365_sandbox: Sandbox) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2", password="not-the-secret-value")

    token = check(diagnosis, "token")
    assert (token.status, token.code) == (Status.FAIL, "AADSTS7000215")
    assert "Secret ID" in (token.fix or "")
    assert token.docs == "troubleshooting.md#entra-aadsts7000215"
    assert check(diagnosis, "server").status is Status.SKIP
    assert "OAuth2 token did not pass" in check(diagnosis, "server").detail
    assert "not-the-secret-value" not in json.dumps(diagnosis.as_json())


async def test_missing_send_as_is_5_7_60_with_add_recipientpermission(m365_sandbox: Sandbox) -> None:
    options = DoctorOptions(send_as="alerts@contoso.com")
    diagnosis = await doctor(m365_sandbox, "smtp_basic", options, **ALLOW)

    send_as = check(diagnosis, "send_as")
    assert (send_as.status, send_as.code) == (Status.FAIL, "5.7.60")
    assert send_as.detail.startswith("not_yet (envelope)")
    assert "Add-RecipientPermission" in (send_as.fix or "")
    assert diagnosis.exit_code == 1
    assert m365_sandbox.messages() == []


async def test_granted_send_as_passes_over_the_envelope(m365_sandbox: Sandbox) -> None:
    options = DoctorOptions(send_as="reports@contoso.com")
    diagnosis = await doctor(m365_sandbox, "smtp_basic", options)

    assert check(diagnosis, "send_as").status is Status.PASS
    assert diagnosis.ok
    assert m365_sandbox.messages() == []


async def test_closed_port_fails_tcp_and_skips_what_needs_it(m365_sandbox: Sandbox, free_port: int) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2", port=free_port)

    tcp = check(diagnosis, "tcp")
    assert tcp.status is Status.FAIL and "refused" in tcp.detail
    assert "587" in (tcp.fix or "")
    assert statuses(diagnosis)["tls"] == statuses(diagnosis)["server"] == "skip"
    assert statuses(diagnosis)["token"] == "pass"  # independent of the SMTP server


async def test_certificate_from_another_ca_fails_tls(m365_sandbox: Sandbox, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2", ca_bundle=str(other_ca))

    tls = check(diagnosis, "tls")
    assert tls.status is Status.FAIL
    assert "certificate not accepted" in tls.detail and str(other_ca) in tls.detail
    assert "ca_bundle" in (tls.fix or "")
    assert statuses(diagnosis)["server"] == "skip"


async def test_wrong_cloud_asks_for_an_unknown_resource(m365_sandbox: Sandbox) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2", cloud="usgov")

    token = check(diagnosis, "token")
    assert (token.status, token.code) == (Status.FAIL, "AADSTS500011")
    assert "outlook.office365.us" in token.detail
    assert "extra.cloud" in (token.fix or "")


def test_basic_auth_to_exchange_online_is_a_settings_warning() -> None:
    from airflow_provider_m365mail.core.doctor.checks import coherence

    settings = MailSettings.from_connection_fields(
        host="smtp.office365.com", port=587, login="airflow@contoso.com", password="x", extra={"auth_type": "basic"}
    )
    report = coherence(settings)
    assert report.status is Status.WARN
    assert "oauth2_app" in (report.fix or "")


async def test_a_host_of_another_cloud_fails_the_settings_check() -> None:
    def usgov_host() -> MailSettings:
        return MailSettings.from_connection_fields(
            host="smtp.office365.us", port=587, login="airflow@contoso.com", password="x",
            extra={"auth_type": "oauth2_app", "tenant_id": "contoso.com", "client_id": "c", "cloud": "global"},
        )

    settings_check = (await diagnose(usgov_host)).checks[0]
    assert settings_check.status is Status.FAIL
    assert settings_check.detail.startswith("extra.cloud:")
    assert "'usgov'" in (settings_check.fix or "")


async def test_invalid_settings_fail_first_and_skip_everything(m365_sandbox: Sandbox) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_oauth2", security="tls13")

    assert statuses(diagnosis)["settings"] == "fail"
    assert {s for name, s in statuses(diagnosis).items() if name != "settings"} == {"skip"}
    assert "extra.security" in check(diagnosis, "settings").detail
    assert diagnosis.connection == {}


async def test_json_form_has_the_documented_keys() -> None:
    def broken() -> MailSettings:
        raise ConfigurationError("extra.transport", "unknown transport 'ews'")

    data = json.loads(json.dumps((await diagnose(broken)).as_json()))

    assert set(data) == {"ok", "exit_code", "connection", "summary", "checks"}
    assert (data["ok"], data["exit_code"]) == (False, 1)
    assert set(data["summary"]) == {"pass", "warn", "fail", "skip"}
    for item in data["checks"]:
        assert set(item) == {"name", "title", "status", "detail", "fix", "code", "docs"}
        assert item["status"] in {"pass", "warn", "fail", "skip"}


async def test_implicit_tls_reports_the_version_and_the_sandbox_certificate(m365_sandbox: Sandbox) -> None:
    tls = check(await doctor(m365_sandbox, "smtp_ssl"), "tls")

    assert tls.status is Status.PASS
    assert tls.detail.startswith("TLSv1.") and "issued by m365mail sandbox" in tls.detail


async def test_a_certificate_about_to_expire_is_a_warning(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", not_after=datetime.now(timezone.utc) + timedelta(days=3))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_context)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings = MailSettings.from_connection_fields(
        host="127.0.0.1", port=server.sockets[0].getsockname()[1], login="a@contoso.com", password="x",
        extra={"security": "ssl", "auth_type": "basic", "ca_bundle": str(ca_file)},
    )
    async with server:
        report = await tls(settings, DoctorOptions(), DnsLookup())

    assert report.status is Status.WARN
    assert re.search(r"expires in [23] days", report.detail)
    assert "about to expire" in (report.fix or "")

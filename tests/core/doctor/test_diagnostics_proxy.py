"""The doctor through a real proxy: each check says which proxy it used, never its password, and a refused proxy
login is reported with the 407 entry of the troubleshooting page."""

from __future__ import annotations

import json

import pytest
from connection_settings import settings_for
from proxy_servers import PROXY_PASSWORD, PROXY_USER, ProxyServer

from airflow_provider_m365mail.core.doctor.diagnosis import Diagnosis, DoctorOptions, Status, diagnose
from airflow_provider_m365mail.sandbox.server import Sandbox

NO_MAIL_DNS = DoctorOptions(mail_dns=False)


async def doctor(sandbox: Sandbox, name: str, proxy: str) -> Diagnosis:
    return await diagnose(lambda: settings_for(sandbox, name, proxy=proxy), NO_MAIL_DNS)


@pytest.mark.parametrize("name", ["smtp_oauth2", "smtp_ssl", "graph"])
async def test_each_network_check_names_the_proxy_it_went_through(
    m365_sandbox: Sandbox, http_proxy: ProxyServer, name: str
) -> None:
    diagnosis = await doctor(m365_sandbox, name, http_proxy.url())
    shown = f"through proxy http://127.0.0.1:{http_proxy.port}"  # the URL without its user and password
    checks = {c.name: c for c in diagnosis.checks}
    assert diagnosis.ok, [c for c in diagnosis.checks if c.status is Status.FAIL]
    for check in ("tcp", "tls", "server"):
        assert shown in checks[check].detail, (check, checks[check].detail)
    if name != "smtp_ssl":
        assert shown in checks["token"].detail
    assert diagnosis.connection["proxy"] == shown.removeprefix("through proxy ")
    assert PROXY_PASSWORD not in json.dumps(diagnosis.as_json()) and PROXY_USER not in json.dumps(diagnosis.as_json())


async def test_a_refused_proxy_login_points_at_its_troubleshooting_entry(
    m365_sandbox: Sandbox, http_proxy: ProxyServer
) -> None:
    diagnosis = await doctor(m365_sandbox, "smtp_basic", http_proxy.url(password="bad-px-pw"))
    tcp = next(c for c in diagnosis.checks if c.name == "tcp")
    assert tcp.status is Status.FAIL
    assert tcp.code == "407"
    assert tcp.docs == "troubleshooting.md#proxy-407"
    assert "bad-px-pw" not in json.dumps(diagnosis.as_json())


@pytest.mark.parametrize("name", ["graph", "ews"])
async def test_an_https_proxy_skips_the_tunnel_checks_and_the_sign_in_goes_through_it(
    m365_sandbox: Sandbox, free_port: int, name: str
) -> None:
    diagnosis = await doctor(m365_sandbox, name, f"https://u:https-px@127.0.0.1:{free_port}")
    checks = {c.name: c for c in diagnosis.checks}
    for check in ("tcp", "tls"):  # no tunnel of the doctor's own: TLS to the proxy is the HTTP clients' job
        assert checks[check].status is Status.SKIP, checks[check]
        assert f"through proxy https://127.0.0.1:{free_port}" in checks[check].detail
    last = "server" if name == "ews" else "token"  # nothing listens there: the first request through it fails
    assert checks[last].status is Status.FAIL and checks[last].code == "unreachable", checks[last]
    assert "https-px" not in json.dumps(diagnosis.as_json())

"""DNS checks against a real DNS server on 127.0.0.1 (dnspython on the wire), never a mocked resolver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from connection_settings import settings_for

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.core.doctor.diagnosis import Diagnosis, DoctorOptions, Nameserver, Status, diagnose
from airflow_provider_m365mail.core.doctor.dns import DnsLookup, judge_spf
from airflow_provider_m365mail.sandbox.server import Sandbox

MX = "contoso-com.mail.protection.outlook.com"
GOOD_SPF = "v=spf1 include:spf.protection.outlook.com ip4:203.0.113.0/24 -all"
ZONE: dict[tuple[str, str], tuple[str, ...]] = {
    ("smtp.contoso.test", "A"): ("127.0.0.1",),
    ("contoso.com", "MX"): (f"20 backup.{MX}.", f"10 {MX}."),
    ("contoso.com", "TXT"): ('"google-site-verification=abc"', f'"{GOOD_SPF}"'),
    ("fabrikam.com", "MX"): ("10 mx.fabrikam.com.",),
    ("fabrikam.com", "TXT"): ('"v=spf1 ip4:198.51.100.1 -all"',),
}


class ZoneServer(asyncio.DatagramProtocol):
    """Answer queries from ``ZONE``: NXDOMAIN for unknown names, an empty answer for a known name's other types."""

    def __init__(self, zone: Mapping[tuple[str, str], tuple[str, ...]]) -> None:
        self.zone = zone
        self.names = {name for name, _ in zone}
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[tuple[str, str]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").casefold()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        values = self.zone.get((name, rdtype))
        if values:
            response.answer.append(dns.rrset.from_text(question.name, 300, "IN", rdtype, *values))
        elif name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[Nameserver, ZoneServer]]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(lambda: ZoneServer(ZONE), local_addr=("127.0.0.1", 0))
    try:
        yield Nameserver("127.0.0.1", transport.get_extra_info("sockname")[1]), server
    finally:
        transport.close()


def by_name(diagnosis: Diagnosis) -> dict[str, Any]:
    return {check.name: check for check in diagnosis.checks}


async def test_lookups_answer_addresses_mx_in_preference_order_and_spf(
    dns_server: tuple[Nameserver, ZoneServer],
) -> None:
    nameserver, server = dns_server
    lookup = DnsLookup(nameserver)

    assert (await lookup.addresses("smtp.contoso.test")).records == ("127.0.0.1",)
    missing = await lookup.addresses("nowhere.contoso.test")
    assert missing.missing and not missing.records
    assert (await lookup.mx_hosts("contoso.com")).records == (MX, f"backup.{MX}")
    _, verdict = await lookup.spf("contoso.com", "203.0.113.7")
    assert (verdict.record, verdict.includes_microsoft, verdict.sending_ip_allowed) == (GOOD_SPF, True, True)
    assert ("contoso.com", "MX") in server.queries


def test_spf_reading_follows_the_top_level_mechanisms() -> None:
    assert judge_spf(None, "203.0.113.7").record is None
    assert judge_spf("v=spf1 include:spf.protection.outlook.com -all", None).sending_ip_allowed is None
    assert judge_spf("v=spf1 +ip6:2001:db8::/32 -all", "2001:db8::25").sending_ip_allowed is True
    assert judge_spf("v=spf1 ip4:198.51.100.1 -all", "203.0.113.7").sending_ip_allowed is None
    assert not judge_spf("v=spf1 include:_spf.example.net -all", None).includes_microsoft


async def test_direct_send_checks_the_domains_mx_and_spf(
    m365_sandbox: Sandbox, dns_server: tuple[Nameserver, ZoneServer]
) -> None:
    nameserver, _ = dns_server
    options = DoctorOptions(nameserver=nameserver, sending_ip="203.0.113.7")
    checks = by_name(await diagnose(lambda: settings_for(m365_sandbox, "direct_send", from_email="reports@contoso.com"),
                                    options))

    assert checks["spf"].status is Status.PASS
    mx = checks["mx"]
    assert mx.status is Status.WARN  # the sandbox listens on 127.0.0.1, not on the MX
    assert mx.fix == f"set host to {MX}"
    assert checks["server"].status is Status.PASS


async def test_a_domain_outside_microsoft_365_gets_mx_and_spf_warnings(
    m365_sandbox: Sandbox, dns_server: tuple[Nameserver, ZoneServer]
) -> None:
    nameserver, _ = dns_server
    options = DoctorOptions(nameserver=nameserver, sending_ip="203.0.113.7")
    diagnosis = await diagnose(
        lambda: settings_for(m365_sandbox, "relay", from_email="alerts@fabrikam.com"), options
    )
    checks = by_name(diagnosis)

    assert checks["mx"].status is Status.WARN and "not Exchange Online" in checks["mx"].detail
    assert checks["spf"].status is Status.WARN
    assert "include:spf.protection.outlook.com" in checks["spf"].fix
    assert diagnosis.exit_code == 0  # warnings alone do not fail


async def test_a_host_missing_from_dns_fails_and_skips_the_connection_checks(
    m365_sandbox: Sandbox, dns_server: tuple[Nameserver, ZoneServer]
) -> None:
    nameserver, _ = dns_server
    diagnosis = await diagnose(
        lambda: settings_for(m365_sandbox, "smtp_basic", host="smtp.nowhere.test"), DoctorOptions(nameserver=nameserver)
    )
    checks = by_name(diagnosis)

    assert checks["dns"].status is Status.FAIL
    assert "does not exist in DNS" in checks["dns"].detail
    assert [checks[name].status for name in ("tcp", "tls", "server")] == [Status.SKIP] * 3
    assert diagnosis.exit_code == 1


async def test_a_host_in_dns_resolves_through_the_given_nameserver(
    m365_sandbox: Sandbox, dns_server: tuple[Nameserver, ZoneServer]
) -> None:
    nameserver, server = dns_server
    options = DoctorOptions(nameserver=nameserver, network_checks=False)
    checks = by_name(await diagnose(lambda: settings_for(m365_sandbox, "smtp_basic", host="smtp.contoso.test"),
                                    options))

    assert checks["dns"].status is Status.PASS
    assert checks["dns"].detail == "smtp.contoso.test -> 127.0.0.1"
    assert ("smtp.contoso.test", "A") in server.queries


def test_nameserver_flag_forms() -> None:
    assert Nameserver.parse("10.0.0.2") == Nameserver("10.0.0.2", 53)
    assert Nameserver.parse("127.0.0.1:5353") == Nameserver("127.0.0.1", 5353)
    assert Nameserver.parse("[::1]:5353") == Nameserver("::1", 5353)
    assert Nameserver.parse("::1") == Nameserver("::1", 53)


async def test_the_doctor_command_takes_the_nameserver_and_the_sending_ip(
    m365_sandbox: Sandbox, dns_server: tuple[Nameserver, ZoneServer], capsys: pytest.CaptureFixture[str]
) -> None:
    nameserver, server = dns_server
    relay = m365_sandbox.settings["airflow_connections"]["relay"]
    connection = {**relay, "extra": {**relay["extra"], "from_email": "alerts@fabrikam.com"}}
    argv = ["doctor", "--conn-json", json.dumps(connection), "--nameserver", f"{nameserver.address}:{nameserver.port}",
            "--sending-ip", "203.0.113.7", "--json"]

    code = await asyncio.to_thread(main, argv)  # the command runs its own loop; the DNS server answers on this one

    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)["checks"]}
    assert code == 0
    assert checks["spf"]["status"] == "warn"
    assert checks["spf"]["fix"].endswith('"v=spf1 include:spf.protection.outlook.com ip4:203.0.113.7 -all"')
    assert checks["mx"]["detail"] == "fabrikam.com MX is mx.fabrikam.com, not Exchange Online"
    assert {("fabrikam.com", "MX"), ("fabrikam.com", "TXT")} <= set(server.queries)

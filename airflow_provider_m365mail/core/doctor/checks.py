"""The doctor's checks, one function each, and what they share (endpoints, the check plan).

Each check takes the settings, the ``DoctorOptions`` and a ``DnsLookup`` and returns a ``CheckReport`` (both in
``report``); a check may raise ``M365MailError``, which the runner in ``diagnosis`` turns into a failure with the
error's hint. ``plan`` lists them in order with the checks each one needs to have passed; the TLS handshake itself
lives in ``tls_inspection``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import math
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_m365mail.core.auth.proxies import proxy_for, through_proxy
from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.doctor.dns import (
    MICROSOFT_MX_SUFFIX,
    MICROSOFT_SPF_INCLUDE,
    DnsLookup,
)
from airflow_provider_m365mail.core.doctor.hve import hve_fix
from airflow_provider_m365mail.core.doctor.report import CheckReport, DoctorOptions, Status, doctor_docs, error_report
from airflow_provider_m365mail.core.doctor.sign_in_age import TITLE as SIGN_IN_TITLE
from airflow_provider_m365mail.core.doctor.sign_in_age import sign_in  # noqa: F401 (the runner finds checks here)
from airflow_provider_m365mail.core.doctor.tls_inspection import certificate_summary, tls_handshake
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.acs import ACS_SCOPE
from airflow_provider_m365mail.core.settings.hosts import is_ip_literal, is_loopback, shown_proxy
from airflow_provider_m365mail.core.transports.proxy import open_tunnel

EXPIRY_WARNING_DAYS = 14

SERVER_TITLES = {
    TransportKind.SMTP: "SMTP EHLO / AUTH",
    TransportKind.GRAPH: "Graph sendMail access",
    TransportKind.EWS: "EWS sign-in (GetFolder)",
    TransportKind.ACS: "ACS Email sign-in (operation status)",
}


def describe_connection(settings: MailSettings) -> dict[str, Any]:
    """Return the connection's non-secret settings, as the doctor shows them."""
    host, port = server_endpoint(settings)
    return {
        "transport": settings.transport.value,
        "smtp_mode": settings.smtp_mode.value if settings.transport is TransportKind.SMTP else None,
        "host": host,
        "port": port,
        "security": settings.security.value if settings.transport is TransportKind.SMTP else "https",
        "auth_type": settings.auth_type.value,
        "login": settings.username,
        "cloud": settings.cloud.value,
        "from_email": settings.from_email,
        "proxy": shown_proxy(proxy) if (proxy := proxy_for(settings, host)) else None,
    }


def server_endpoint(settings: MailSettings) -> tuple[str, int]:
    """Return the host and port the connection sends to (the Graph endpoint's for transport graph)."""
    if settings.transport is TransportKind.GRAPH:
        url = urlsplit(settings.graph_endpoint)
        return url.hostname or "", url.port or 443
    return settings.host, settings.port


# -- building blocks the checks share ----------------------------------------------------------------------


async def system_addresses(host: str, port: int) -> tuple[str, ...]:
    """Resolve ``host`` the way a connection will (getaddrinfo: hosts file, then DNS); empty when it cannot."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def mail_domain(settings: MailSettings) -> str | None:
    """Return the sending domain (of from_email, else of the login), if any."""
    for address in (settings.from_email, settings.username):
        if address and "@" in address:
            return address.rpartition("@")[2].casefold()
    return None


def uses_mx(settings: MailSettings) -> bool:
    """Tell whether the connection submits to the tenant's MX (direct send and relay)."""
    return settings.transport is TransportKind.SMTP and settings.smtp_mode in (SmtpMode.DIRECT_SEND, SmtpMode.RELAY)


def is_microsoft_mx(host: str) -> bool:
    """Tell whether a host is an Exchange Online Protection MX."""
    return host.casefold().endswith(MICROSOFT_MX_SUFFIX)


def needs_tls(settings: MailSettings) -> bool:
    """Tell whether the connection negotiates TLS (always for Graph)."""
    return settings.transport is TransportKind.GRAPH or settings.security is not Security.NONE


def uses_oauth(settings: MailSettings) -> bool:
    """Tell whether the connection signs in with an Entra token."""
    return settings.auth_type in (AuthType.OAUTH2_APP, AuthType.OAUTH2_DELEGATED)


# -- the checks, in order ------------------------------------------------------------------------------------

TITLES = {
    "settings": "Connection settings",
    "dns": "DNS: server address",
    "mx": "DNS: domain MX",
    "spf": "DNS: domain SPF",
    "tcp": "TCP: port reachable",
    "tls": "TLS: version and certificate",
    "sign_in": SIGN_IN_TITLE,
    "token": "OAuth2 token",
    "server": "Server sign-in",
    "send_as": "Send As",
}


def plan(options: DoctorOptions) -> list[tuple[str, str, tuple[str, ...]]]:
    """Return (check, title, the checks it needs) in running order, after the settings check."""
    steps: list[tuple[str, tuple[str, ...]]] = [("dns", ())]
    if options.mail_dns:
        steps += [("mx", ()), ("spf", ())]
    if options.network_checks:
        steps += [("tcp", ("dns",)), ("tls", ("tcp",))]
    steps += [("sign_in", ()), ("token", ()), ("server", ("dns", "tcp", "tls", "token"))]
    if options.send_as is not None:
        steps.append(("send_as", ("server",)))
    return [(name, send_as_title(options) if name == "send_as" else TITLES[name], needs) for name, needs in steps]


def send_as_title(options: DoctorOptions) -> str:
    """Return the Send As check's title, which names the address probed."""
    return f"{TITLES['send_as']} {options.send_as}"


def coherence(settings: MailSettings) -> CheckReport:
    """Warn about settings that validate but will stop working (``MailSettings`` refuses incoherent ones)."""
    title = TITLES["settings"]
    connection = describe_connection(settings)
    detail = (
        f"{connection['transport']} to {connection['host']}:{connection['port']} ({connection['security']}), "
        f"auth {connection['auth_type']}, cloud {connection['cloud']}"
    )
    if settings.auth_type is AuthType.BASIC and settings.host.casefold().endswith((".office365.com", ".office365.us")):
        return CheckReport("settings", title, Status.WARN, f"{detail}; basic auth for SMTP AUTH is being retired",
                           fix="Exchange Online disables it by default from the end of December 2026: switch to "
                           "auth_type oauth2_app", docs=doctor_docs("settings"))
    return CheckReport("settings", title, Status.PASS, detail)


async def dns(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Resolve the server's name (through DNS, falling back to the system resolver and its hosts file)."""
    title = TITLES["dns"]
    host, port = server_endpoint(settings)
    if is_ip_literal(host) or is_loopback(host):
        return CheckReport("dns", title, Status.PASS, f"{host} needs no lookup (an IP address, or this machine)")
    found = await lookup.addresses(host)
    if found.records:
        return CheckReport("dns", title, Status.PASS, f"{host} -> {', '.join(found.records)}")
    if options.nameserver is None:
        local = await system_addresses(host, port)
        if local:
            return CheckReport("dns", title, Status.PASS, f"{host} -> {', '.join(local)} (system resolver)")
    what = "does not exist in DNS" if found.missing else f"could not be looked up ({found.error})"
    fix = "check the host spelling (Exchange Online: smtp.office365.com, direct send: the tenant MX)"
    if not found.missing:
        fix = "check the DNS servers this machine uses and that it can reach them"
    return CheckReport("dns", title, Status.FAIL, f"{host} {what}", fix=fix, docs=doctor_docs("dns"))


async def mx(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Direct send and relay: the sending domain's MX should be Exchange Online's, and the host should be it."""
    title, domain = TITLES["mx"], mail_domain(settings)
    if not uses_mx(settings) or domain is None:
        return CheckReport("mx", title, Status.SKIP, "only for direct send and relay (with a from_email)")
    found = await lookup.mx_hosts(domain)
    docs = doctor_docs("mx")
    if not found.records:
        what = "has no MX record" if found.missing else f"MX lookup failed ({found.error})"
        return CheckReport("mx", title, Status.WARN, f"{domain} {what}",
                           fix="add the MX shown in the Microsoft 365 admin center > Settings > Domains", docs=docs)
    listed = ", ".join(found.records)
    if not any(is_microsoft_mx(h) for h in found.records):
        return CheckReport("mx", title, Status.WARN, f"{domain} MX is {listed}, not Exchange Online",
                           fix="direct send and relay deliver to the tenant MX (*.mail.protection.outlook.com)",
                           docs=docs)
    if settings.host.casefold() not in {h.casefold() for h in found.records}:
        return CheckReport("mx", title, Status.WARN, f"{domain} MX is {listed}; the connection uses {settings.host}",
                           fix=f"set host to {found.records[0]}", docs=docs)
    return CheckReport("mx", title, Status.PASS, f"{domain} MX is {listed}")


async def spf(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Direct send and relay: the domain's SPF should include Microsoft 365 and the sending IP."""
    title, domain = TITLES["spf"], mail_domain(settings)
    if not uses_mx(settings) or domain is None:
        return CheckReport("spf", title, Status.SKIP, "only for direct send and relay (with a from_email)")
    found, verdict = await lookup.spf(domain, options.sending_ip)
    docs = doctor_docs("spf")
    ip_term = ""
    if options.sending_ip:
        ip_term = f" ip{ipaddress.ip_address(options.sending_ip).version}:{options.sending_ip}"
    wanted = f'"v=spf1 include:{MICROSOFT_SPF_INCLUDE}{ip_term} -all"'
    if verdict.record is None:
        what = f"lookup failed ({found.error})" if found.error and not found.missing else "no SPF record"
        return CheckReport("spf", title, Status.WARN, f"{domain}: {what}", fix=f"publish TXT {wanted}", docs=docs)
    if not verdict.includes_microsoft:
        return CheckReport("spf", title, Status.WARN, f"{domain}: {verdict.record}",
                           fix=f"add include:{MICROSOFT_SPF_INCLUDE}, e.g. {wanted}", docs=docs)
    if options.sending_ip and not verdict.sending_ip_allowed:
        return CheckReport("spf", title, Status.WARN,
                           f"{domain}: {verdict.record} does not list {options.sending_ip}",
                           fix=f"add{ip_term} to the record: {wanted}", docs=docs)
    note = "" if options.sending_ip else " (sending IP not checked: pass --sending-ip)"
    return CheckReport("spf", title, Status.PASS, f"{domain}: {verdict.record}{note}")


def _untunnelled(name: str, proxy: str | None) -> CheckReport | None:
    """Skip a check the doctor cannot run through an ``https://`` proxy (TLS to the proxy itself, which only the
    HTTP clients speak); the token and sign-in checks go through it as a send would."""
    if proxy is None or not proxy.lower().startswith("https://"):
        return None
    return CheckReport(name, TITLES[name], Status.SKIP,
                       f"not checked{through_proxy(proxy)}: the token and sign-in checks go through it")


async def tcp(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Open a TCP connection to the server's port."""
    title = TITLES["tcp"]
    host, port = server_endpoint(settings)
    docs = doctor_docs("tcp")
    proxy = proxy_for(settings, host)
    if (skipped := _untunnelled("tcp", proxy)) is not None:
        return skipped
    if proxy:  # the tunnel's failures are the proxy's, explained by its error
        (await open_tunnel(proxy, host, port, timeout=settings.timeout)).close()
        return CheckReport("tcp", title, Status.PASS, f"connected to {host}:{port}{through_proxy(proxy)}")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), settings.timeout)
    except asyncio.TimeoutError:
        return CheckReport("tcp", title, Status.FAIL, f"{host}:{port} did not answer within {settings.timeout:.0f} s",
                           fix="a firewall drops the port (many networks block 25; submission uses 587)", docs=docs)
    except ConnectionRefusedError:
        return CheckReport("tcp", title, Status.FAIL, f"{host}:{port} refused the connection (nothing listens)",
                           fix="check port (587 submission, 465 ssl, 25 direct send/relay) and that the server is up",
                           docs=docs)
    except OSError as exc:
        return CheckReport("tcp", title, Status.FAIL, f"{host}:{port}: {exc.strerror or exc}",
                           fix="check host, port and the network route", docs=docs)
    local = writer.get_extra_info("sockname")
    writer.close()
    source = f" from {local[0]}" if local else ""
    return CheckReport("tcp", title, Status.PASS, f"connected to {host}:{port}{source}")


async def tls(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Negotiate TLS as a send would and report the version and the certificate (chain, name, expiry)."""
    title = TITLES["tls"]
    docs = doctor_docs("tls")
    if not needs_tls(settings):
        return CheckReport("tls", title, Status.SKIP, "security is none: the connection is not encrypted")
    trust = f"extra.ca_bundle {settings.ca_bundle}" if settings.ca_bundle else "the system's CA store"
    host, port = server_endpoint(settings)
    starttls = settings.transport is TransportKind.SMTP and settings.security is Security.STARTTLS
    proxy = proxy_for(settings, host)
    if (skipped := _untunnelled("tls", proxy)) is not None:
        return skipped
    tunnel = await open_tunnel(proxy, host, port, timeout=settings.timeout) if proxy else None
    handshake = tls_handshake(host, port, make_ssl_context(settings), starttls=starttls, sock=tunnel)
    try:
        version, cert = await asyncio.wait_for(handshake, settings.timeout)
    except ssl.SSLCertVerificationError as exc:
        reason = getattr(exc, "verify_message", None) or str(exc)
        return CheckReport("tls", title, Status.FAIL, f"certificate not accepted: {reason} (trusting {trust})",
                           fix="use the server's DNS name as host; for a private CA put it in extra.ca_bundle",
                           docs=docs)
    except ssl.SSLError as exc:
        return CheckReport("tls", title, Status.FAIL, f"TLS negotiation failed: {exc.reason or exc}",
                           fix="check security: starttls for 587/25, ssl for 465; TLS 1.2+ is required", docs=docs)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        return CheckReport("tls", title, Status.FAIL, f"STARTTLS failed: {exc}",
                           fix="check that host and port are an SMTP server offering STARTTLS", docs=docs)
    except asyncio.TimeoutError:
        return CheckReport("tls", title, Status.FAIL, "the TLS handshake did not finish in time",
                           fix="check security matches the port (ssl on a STARTTLS port hangs)", docs=docs)
    summary, days = certificate_summary(cert)
    detail = f"{version}, {summary}"
    if not math.isnan(days) and days < EXPIRY_WARNING_DAYS:
        return CheckReport("tls", title, Status.WARN, f"{detail}: expires in {days:.0f} days",
                           fix="the server's certificate is about to expire: tell its administrator", docs=docs)
    return CheckReport("tls", title, Status.PASS, f"{detail} (trusted through {trust}){through_proxy(proxy)}")


async def token(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Get an access token for the scope the transport uses."""
    from airflow_provider_m365mail.core.auth.tokens import TokenSource
    from airflow_provider_m365mail.core.transports.smtp.transport import xoauth2_scope

    title = TITLES["token"]
    if not uses_oauth(settings):
        return CheckReport("token", title, Status.SKIP, f"auth_type {settings.auth_type.value} uses no token")
    scope = {TransportKind.GRAPH: settings.graph_scope, TransportKind.EWS: settings.ews_scope,
             TransportKind.ACS: ACS_SCOPE}.get(settings.transport) or xoauth2_scope(settings)
    got = await TokenSource(settings).get_token(scope)
    return CheckReport("token", title, Status.PASS, f"token for {scope} from {settings.authority_host} (expires in "
                       f"{got.expires_in():.0f} s){through_proxy(proxy_for(settings, settings.authority_host))}")


async def server(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Sign in over SMTP (EHLO, STARTTLS, AUTH, NOOP) or call Graph, sending nothing (the transport's check)."""
    from airflow_provider_m365mail.core.transports import make_transport

    title = SERVER_TITLES[settings.transport]
    result = await make_transport(settings).check()
    if result.error is not None:
        report = error_report("server", title, result.error)
        return dataclasses.replace(report, fix=hve_fix(settings, result.error) or report.fix)
    if not result.ok:
        return CheckReport("server", title, Status.FAIL, "; ".join(result.steps) or "the check did not complete",
                           docs=doctor_docs("server"))
    steps = [s for s in result.steps if not s.startswith(("got an access token", "QUIT"))]
    if settings.transport is not TransportKind.SMTP and (proxy := proxy_for(settings, server_endpoint(settings)[0])):
        steps.append(through_proxy(proxy).strip())  # SMTP's steps name their proxy already
    return CheckReport("server", title, Status.PASS, "; ".join(steps))


async def send_as(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Probe whether the connection may send as ``options.send_as`` (see ``core.probe``)."""
    from airflow_provider_m365mail.core.identity import resolve_identity
    from airflow_provider_m365mail.core.probe import ProbeMode, ProbeVerdict, probe_send_as

    title = send_as_title(options)
    identity = resolve_identity(settings, from_email=options.send_as)
    mode = options.probe_mode or ("envelope" if settings.transport is TransportKind.SMTP else "auto")
    outcome = await probe_send_as(settings, identity, mode=ProbeMode(mode), recipient=options.probe_recipient)
    verdict = f"{outcome.verdict.value} ({outcome.method})"
    if outcome.error is not None and outcome.verdict is not ProbeVerdict.LIVE:
        report = error_report("send_as", title, outcome.error)
        status = Status.WARN if outcome.verdict is ProbeVerdict.TRANSIENT else Status.FAIL
        # Missing, on the wrong principal or still propagating look the same to Exchange: name the right trustee.
        fix = f"{outcome.cause}; a new grant takes up to an hour to apply" if outcome.cause else report.fix
        return dataclasses.replace(report, status=status, fix=fix, detail=f"{verdict}: {report.detail}")
    status = {ProbeVerdict.LIVE: Status.PASS, ProbeVerdict.TRANSIENT: Status.WARN}.get(outcome.verdict, Status.FAIL)
    if status is Status.PASS:
        return CheckReport("send_as", title, status, f"{verdict}: {outcome.detail}")
    return CheckReport("send_as", title, status, f"{verdict}: {outcome.detail}",
                       fix="grant Send As (Add-RecipientPermission) and allow up to 60 minutes",
                       docs=doctor_docs("send_as"))

"""Look up what mail delivery to Microsoft 365 depends on in DNS: the server's address, the MX and the SPF record.

Direct send and relay submit to the tenant's MX (``<domain>-com.mail.protection.outlook.com``), and receivers trust
the mail only if the domain's SPF record includes ``spf.protection.outlook.com`` (and, for a relay or a device
sending directly, the sending IP). Lookups go through dnspython's async resolver; the nameserver is injectable so
that tests (and users with split-horizon DNS) can point it at a server of their choice.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MICROSOFT_SPF_INCLUDE = "spf.protection.outlook.com"
MICROSOFT_MX_SUFFIX = ".mail.protection.outlook.com"


@dataclass(frozen=True)
class Nameserver:
    """Where to send DNS queries instead of the system's resolvers."""

    address: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """Read ``IP`` or ``IP:PORT`` (``[IPv6]:PORT`` for IPv6)."""
        if text.startswith("["):
            address, _, port = text[1:].partition("]:")
            return cls(address, int(port) if port else 53)
        if text.count(":") == 1:
            address, _, port = text.partition(":")
            return cls(address, int(port))
        return cls(text)


@dataclass(frozen=True)
class LookupResult:
    """What a lookup found: ``records`` (empty when none exist) or the ``error`` that stopped it."""

    records: tuple[str, ...] = ()
    error: str | None = None
    missing: bool = False  # the name or record type does not exist (NXDOMAIN / no answer), as opposed to a failure


@dataclass(frozen=True)
class SpfVerdict:
    """The domain's SPF record and what it allows."""

    record: str | None
    includes_microsoft: bool
    sending_ip_allowed: bool | None  # None: no sending IP given, or only an include could allow it


class DnsLookup:
    """Run A/AAAA, MX and TXT queries through one resolver (the system's, or ``nameserver``)."""

    def __init__(self, nameserver: Nameserver | None = None, *, lifetime: float = 5.0) -> None:
        import dns.asyncresolver
        import dns.resolver

        if nameserver is None:
            try:
                self._resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:  # no /etc/resolv.conf: every lookup then fails clearly
                self._resolver = dns.asyncresolver.Resolver(configure=False)
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [nameserver.address]
            self._resolver.port = nameserver.port
        self._resolver.lifetime = lifetime
        self._resolver.timeout = min(2.0, lifetime)

    async def query(self, name: str, rdtype: str) -> LookupResult:
        """Return the records of one type as text; a missing name or type is ``missing``, not an error."""
        import dns.exception
        import dns.resolver

        try:
            answer = await self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as exc:
            return LookupResult(missing=True, error=_first_line(exc))
        except dns.exception.DNSException as exc:
            return LookupResult(error=_first_line(exc) or type(exc).__name__)
        return LookupResult(tuple(_rdata_text(rdata, rdtype) for rdata in answer))

    async def addresses(self, host: str) -> LookupResult:
        """Return the IPv4 and IPv6 addresses of ``host`` (an IP literal is its own answer)."""
        if _is_ip(host) or host.casefold() == "localhost":
            return LookupResult((host,))
        v4, v6 = await self.query(host, "A"), await self.query(host, "AAAA")
        records = v4.records + v6.records
        if records:
            return LookupResult(records)
        if v4.missing and v6.missing:
            return LookupResult(missing=True, error=v4.error)
        return LookupResult(error=v4.error if not v4.missing else v6.error)

    async def mx_hosts(self, domain: str) -> LookupResult:
        """Return the domain's MX hosts, most preferred first, without the trailing dot."""
        found = await self.query(domain, "MX")
        ranked = sorted((int(pref), host) for pref, _, host in (r.partition(" ") for r in found.records))
        return LookupResult(tuple(host for _, host in ranked), found.error, found.missing)

    async def spf(self, domain: str, sending_ip: str | None = None) -> tuple[LookupResult, SpfVerdict]:
        """Find the domain's SPF record and tell whether it includes Microsoft 365 and allows ``sending_ip``."""
        found = await self.query(domain, "TXT")
        records = [r for r in found.records if r.lower().startswith("v=spf1")]
        record = records[0] if records else None
        return found, judge_spf(record, sending_ip)


def judge_spf(record: str | None, sending_ip: str | None) -> SpfVerdict:
    """Read an SPF record's top-level mechanisms (``include:``, ``ip4:``, ``ip6:``); includes are not followed."""
    if record is None:
        return SpfVerdict(None, includes_microsoft=False, sending_ip_allowed=None)
    terms = [t.lstrip("+") for t in record.split()[1:]]
    includes = {t.split(":", 1)[1].casefold() for t in terms if t.lower().startswith("include:")}
    allowed: bool | None = None
    if sending_ip:
        ip = ipaddress.ip_address(sending_ip)
        networks = [t.split(":", 1)[1] for t in terms if t.lower().startswith(("ip4:", "ip6:"))]
        allowed = any(_network_holds(network, ip) for network in networks) or None
    return SpfVerdict(record, MICROSOFT_SPF_INCLUDE in includes, allowed)


def _network_holds(network: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ip in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _rdata_text(rdata: object, rdtype: str) -> str:
    if rdtype == "MX":
        return f"{rdata.preference} {str(rdata.exchange).rstrip('.')}"  # type: ignore[attr-defined]
    if rdtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    return str(rdata)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""

"""Check host names and URLs a connection points at, and recognise Microsoft's own endpoints.

Microsoft 365 wants DNS names (its certificates are issued for names, and ``smtp.office365.com`` resolves to
changing addresses), the submission endpoint and the MX endpoint accept different kinds of sending, and each
national cloud has its own hosts: knowing which host is which turns silent misrouting into a clear error.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.clouds import CLOUDS, Cloud

# SMTP AUTH (client submission) hosts per cloud, including the Exchange endpoint-list spellings.
SUBMISSION_HOSTS: dict[str, Cloud] = {
    "smtp.office365.com": Cloud.GLOBAL,
    "outlook.office365.com": Cloud.GLOBAL,
    "smtp.office365.us": Cloud.USGOV,
    "outlook.office365.us": Cloud.USGOV,
    "outlook-dod.office365.us": Cloud.USGOV_DOD,
    "smtp.partner.outlook.cn": Cloud.CHINA,
    "partner.outlook.cn": Cloud.CHINA,
}
# Tenant MX endpoints (direct send and relay), e.g. contoso-com.mail.protection.outlook.com.
MX_SUFFIXES = (".mail.protection.outlook.com", ".mail.protection.office365.us", ".mail.protection.partner.outlook.cn")

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_ip_literal(host: str) -> bool:
    """Tell whether ``host`` is an IPv4 or IPv6 address rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is this machine (localhost or a loopback address)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_mx_host(host: str) -> bool:
    """Tell whether ``host`` is a tenant MX endpoint of Exchange Online."""
    return host.lower().rstrip(".").endswith(MX_SUFFIXES)


def submission_cloud(host: str) -> Cloud | None:
    """Return the cloud whose SMTP AUTH endpoint ``host`` is, or None for other hosts."""
    return SUBMISSION_HOSTS.get(host.lower().rstrip("."))


def is_microsoft_host(host: str) -> bool:
    """Tell whether ``host`` is Microsoft 365's own (SMTP AUTH, tenant MX or Graph, in any cloud)."""
    name = host.lower().rstrip(".")
    graph_hosts = {graph_host_port(cloud.graph_endpoint)[0] for cloud in CLOUDS.values()}
    return submission_cloud(name) is not None or is_mx_host(name) or name in graph_hosts


def check_host(value: str, *, field: str) -> str:
    """Return a bare host name or IP address; refuse URLs, ports and stray characters."""
    host = value.strip()
    if "://" in host:
        raise ConfigurationError(field, f"{host!r} is a URL, expected a host name", hint="drop the scheme")
    bare = host.strip("[]")
    if is_ip_literal(bare):
        return bare
    if ":" in host:
        raise ConfigurationError(field, f"{host!r} contains a port", hint="put the port in its own field")
    if not _HOSTNAME.match(host):
        raise ConfigurationError(field, f"{host!r} is not a valid host name")
    return host


def check_authority_host(value: str) -> str:
    """Return an authority host as "host" or "host:port" (an ``https://`` prefix is accepted and dropped)."""
    field = "extra.authority_host"
    text = value.strip().rstrip("/")
    if text.lower().startswith("http://"):
        raise ConfigurationError(field, "the identity provider must be reached over https", hint="use https")
    text = re.sub(r"^https://", "", text, flags=re.IGNORECASE)
    name, _, port = text.rpartition(":") if re.search(r":\d+$", text) else (text, "", "")
    if "/" in text or (port and not 0 < int(port) < 65536):
        raise ConfigurationError(
            field, f"{value!r} is not a host or host:port", hint="e.g. login.microsoftonline.com"
        )
    check_host(name, field=field)
    return text


def check_graph_endpoint(value: str, *, field: str) -> str:
    """Return the Graph service root URL (no trailing slash, no ``/v1.0``); https unless loopback."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(field, f"{value!r} is not an http(s) URL", hint="e.g. https://graph.microsoft.com")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            field, "Microsoft Graph must be reached over https", hint="use https:// (http only for loopback)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(field, "expected the service root URL only", hint="e.g. https://graph.microsoft.com")
    path = re.sub(r"/(v1\.0|beta)/?$", "", parts.path).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def graph_host_port(endpoint: str) -> tuple[str, int]:
    """Return the host and port of a Graph endpoint URL."""
    parts = urlsplit(endpoint)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


PROXY_FROM_ENVIRONMENT = "env"
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def check_proxy(value: str, *, field: str = "extra.proxy") -> str:
    """Return a proxy URL (http, https, socks5 or socks5h, with its port), or ``env``; errors show it without
    credentials, or not at all."""
    text = value.strip()
    if text.lower() == PROXY_FROM_ENVIRONMENT:
        return PROXY_FROM_ENVIRONMENT
    try:
        parts = urlsplit(text)
        valid = parts.scheme.lower() in PROXY_SCHEMES and bool(parts.hostname) and parts.port is not None
    except ValueError:  # a port out of range or not a number, a broken [IPv6] host
        valid = False
    if not valid:
        shown = without_credentials(text)
        raise ConfigurationError(
            field,
            f"{shown!r} is not a proxy URL with a port" if shown else "the value is not a proxy URL with a port (not "
            "repeated: it may hold credentials)",
            hint="e.g. http://proxy.example.com:3128 or socks5h://user:password@proxy.example.com:1080 "
            "(http, https, socks5, socks5h), or env to follow HTTPS_PROXY / ALL_PROXY / NO_PROXY",
        )
    return text


def check_smtp_proxy(url: str, *, field: str = "extra.proxy") -> str:
    """Refuse an ``https://`` proxy for SMTP: the tunnel hands SMTP a plain socket, with no TLS to the proxy."""
    if url.lower().startswith("https://"):
        raise ConfigurationError(
            field,
            "SMTP cannot be tunnelled through an https:// proxy (TLS to the proxy itself)",
            hint="most proxies also accept plain CONNECT: use http:// with the same host and port, or socks5h://",
        )
    return url


def shown_proxy(url: str) -> str:
    """Return a checked proxy URL as messages and the doctor show it: ``scheme://host:port``, never its user or
    password."""
    return without_credentials(url) or "the proxy"


# Storage URIs as the ``limits`` library spells them, for the stores that can hold a shared sending window.
SHARED_STORAGE_SCHEMES = frozenset({
    "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster",
    "valkey", "valkeys", "valkey+unix", "valkey+sentinel", "valkey+cluster",
})
IN_PROCESS_STORAGE = "memory://"


def check_rate_limit_storage(value: str | None) -> str | None:
    """Return a shared store's URI, or None for in-process pacing (unset or ``memory://``); refuse what cannot."""
    text = (value or IN_PROCESS_STORAGE).strip()
    if text in ("memory", IN_PROCESS_STORAGE):
        return None
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme not in SHARED_STORAGE_SCHEMES:
        shown = without_credentials(text)
        raise ConfigurationError(
            "extra.rate_limit_storage",
            (f"{shown!r}" if shown else "the value") + " is not a store that can share a sending window "
            "(memcached and mongodb cannot hold the in-flight sends it counts)",
            hint="memory:// (this process only), redis://host:6379/0, rediss://, redis+sentinel://, "
            "redis+cluster:// or valkey://",
        )
    return text


def without_credentials(url: str) -> str | None:
    """Return ``scheme://host[:port]/path`` of a URL without its user and password, or None when it cannot be
    told apart from them (no ``scheme://``, an unparsable host): then nothing of it is safe to show."""
    scheme, separator, rest = url.partition("://")
    if not separator or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    location = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    if not host:
        return f"{scheme}://" if location == "" else None
    return urlunsplit((parts.scheme, location, parts.path, "", ""))


def url_password(url: str) -> str | None:
    """Return the password embedded in a URL, if any."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None

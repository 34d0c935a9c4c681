"""Choose the proxy each connection goes through: the connection's own, the environment's, or none.

The HTTP clients are built with ``trust_env=False`` (``REQUESTS_CA_BUNDLE`` would otherwise override the CA
bundle), so ``HTTPS_PROXY`` and friends never apply by accident. ``proxy: env`` opts in to them for every
transport alike: SMTP, the token endpoint and Graph all speak TLS, so each uses ``HTTPS_PROXY`` (else
``ALL_PROXY``), and a host that ``NO_PROXY`` names is reached directly. Without a ``proxy``, one log line per
process says that proxy variables present in the environment are ignored.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # public, missing from typeshed

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.settings.hosts import PROXY_FROM_ENVIRONMENT, check_proxy, shown_proxy

log = logging.getLogger(__name__)

ENVIRONMENT_PROXY_VARIABLES = ("HTTPS_PROXY", "ALL_PROXY")  # in order of precedence; lower case wins over upper
_told_ignored = threading.Event()


def proxy_for(settings: MailSettings, host: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the proxy URL a connection to ``host`` goes through, or None for a direct connection."""
    if settings.proxy is None:
        _note_ignored_environment(os.environ if environ is None else environ)
        return None
    configured = settings.proxy.reveal()
    if configured == PROXY_FROM_ENVIRONMENT:
        return environment_proxy(host, os.environ if environ is None else environ)
    return configured


def environment_proxy(host: str, environ: Mapping[str, str]) -> str | None:
    """Return the proxy ``HTTPS_PROXY`` / ``ALL_PROXY`` name for ``host``, or None when ``NO_PROXY`` excludes it."""
    found = _variables(environ)
    for name in ENVIRONMENT_PROXY_VARIABLES:
        value = found.get(name)
        if not value:
            continue
        if _bypassed(host, found.get("NO_PROXY", "")):
            return None
        url = value if "://" in value else f"http://{value}"  # "proxy:3128" means an HTTP proxy, as curl reads it
        return check_proxy(url, field=f"environment variable {name} (proxy: env)")
    return None


def through_proxy(url: str | None) -> str:
    """Return " through proxy <scheme://host:port>" for messages about a connection, or "" for a direct one."""
    return f" through proxy {shown_proxy(url)}" if url else ""


def socks_support_missing(client: str) -> ConfigurationError:
    """Say that a SOCKS proxy for ``client`` needs the ``socks`` extra (the HTTP clients' SOCKS support is optional)."""
    return ConfigurationError(
        "extra.proxy",
        f"a SOCKS proxy for {client} needs the socks extra",
        hint="pip install 'airflow-provider-m365mail[socks]'",
    )


def _variables(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the proxy variables by upper-case name; a lower-case spelling wins, as in curl and requests."""
    names = (*ENVIRONMENT_PROXY_VARIABLES, "NO_PROXY")
    found = {name: environ[name] for name in names if environ.get(name)}
    found.update({name: environ[name.lower()] for name in names if environ.get(name.lower())})
    return found


def _bypassed(host: str, no_proxy: str) -> bool:
    # The standard library's reading of NO_PROXY (suffixes, ".domain", "*", host:port, IP addresses) is the one
    # requests and urllib apply too.
    return bool(no_proxy) and bool(proxy_bypass_environment(host, {"no": no_proxy}))


def _note_ignored_environment(environ: Mapping[str, str]) -> None:
    found = _variables(environ)
    present = [name for name in ENVIRONMENT_PROXY_VARIABLES if name in found]
    if present and not _told_ignored.is_set():
        _told_ignored.set()
        log.info(
            "%s set in the environment: ignored, this connection has no proxy; set proxy to env to follow it "
            "(or to a proxy URL)",
            " and ".join(present),
        )


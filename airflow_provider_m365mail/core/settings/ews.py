"""Where an EWS connection points: an Exchange Server's EWS URL, never Exchange Online's.

EWS in Exchange Online is blocked for most tenants since 1 October 2026 and switched off for all on 1 April 2027;
Microsoft Graph replaces it there. Exchange Server on premises (Subscription Edition) keeps EWS, often with SMTP
AUTH closed, and that is what ``transport: ews`` is for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.choices import AuthType, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader
from airflow_provider_m365mail.core.settings.hosts import check_host, is_loopback

EWS_PATH = "/EWS/Exchange.asmx"
# Exchange Online's EWS hosts in every cloud; any host under these names is Exchange Online too.
_EXCHANGE_ONLINE = (
    "outlook.office365.com", "outlook.office.com", "outlook.com", "outlook.office365.us", "outlook-dod.office365.us",
    "partner.outlook.cn",
)
_NOT_FOR_EWS = ("smtp_mode", "security", "graph_endpoint", "alternate_host", "alternate_port")


def is_exchange_online(host: str) -> bool:
    """Tell whether ``host`` serves Exchange Online (where EWS is being retired)."""
    name = host.lower().rstrip(".")
    return any(name == suffix or name.endswith("." + suffix) for suffix in _EXCHANGE_ONLINE)


def ews_endpoint(host: str | None, port: Any, extra: ExtraReader) -> dict[str, Any]:
    """Return the settings of an EWS connection's endpoint: ``ews_url`` (or host and port) and impersonation."""
    for key in _NOT_FOR_EWS:
        if key in extra:
            raise ConfigurationError(f"extra.{key}", f"{key} does not apply to transport ews", hint="remove it")
    url = extra.text("ews_url")
    field = "extra.ews_url"
    if not url:
        if not host or not host.strip():
            raise ConfigurationError(
                "host", "transport ews needs the Exchange Server", hint="set extra.ews_url, e.g. "
                "https://mail.contoso.local/EWS/Exchange.asmx, or host mail.contoso.local"
            )
        name = check_host(host, field="host")
        url = f"https://{name}" + (f":{int(port)}" if port else "") + EWS_PATH
        field = "host"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(field, f"{url!r} is not an http(s) URL",
                                 hint="e.g. https://mail.contoso.local/EWS/Exchange.asmx")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(field, "expected the EWS URL alone (no credentials, query or fragment)",
                                 hint="put credentials in login and password")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(field, "EWS must be reached over https", hint="use https:// (http only for loopback)")
    if is_exchange_online(parts.hostname):
        raise ConfigurationError(
            field,
            f"{parts.hostname} is Exchange Online, where EWS is blocked for most tenants since 1 October 2026 and "
            "switched off for all on 1 April 2027",
            hint="use transport graph (Microsoft Graph sendMail) for Exchange Online; transport ews is for "
            "Exchange Server on premises",
        )
    path = parts.path.rstrip("/") or EWS_PATH
    return {
        "ews_url": urlunsplit((parts.scheme, parts.netloc, path, "", "")),
        "ews_impersonation": extra.boolean("ews_impersonation", False),
        "host": parts.hostname,
        "port": parts.port or (443 if parts.scheme == "https" else 80),
        "smtp_mode": SmtpMode.SUBMISSION,
        "security": Security.SSL if parts.scheme == "https" else Security.NONE,
    }


def check_ews_auth(transport: TransportKind, auth: AuthType) -> None:
    """Refuse NTLM outside EWS, and an EWS connection that does not sign in."""
    if auth is AuthType.NTLM and transport is not TransportKind.EWS:
        raise ConfigurationError("extra.auth_type", "ntlm applies to transport ews (Exchange Server) only",
                                 hint="use basic or OAuth2 for SMTP, OAuth2 for Microsoft Graph")
    if transport is TransportKind.EWS and auth is AuthType.NONE:
        raise ConfigurationError("extra.auth_type", "EWS needs a signed-in account",
                                 hint="use ntlm (default) or basic with login and password, or oauth2_app")

"""Azure Communication Services (ACS) Email: Microsoft's path for external mail in volume.

``transport: acs`` posts to ``https://<resource>.communication.azure.com/emails:send`` with an Entra app-only
token (``https://communication.azure.com/.default``) or the resource's access key (HMAC-SHA256).
``smtp_mode: acs`` is ACS's SMTP endpoint, ``smtp.azurecomm.net:587`` with STARTTLS, where the user name is
``<resource>.<app id>.<tenant id>`` (or an SMTP Username resource) and the password the app's client secret.
Both take at most 50 recipients per message and 10 MB per request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.choices import AuthType, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader
from airflow_provider_m365mail.core.settings.hosts import check_host, is_loopback

ACS_SMTP_HOST = "smtp.azurecomm.net"
ACS_API_VERSION = "2025-09-01"
ACS_SCOPE = "https://communication.azure.com/.default"
ACS_HOST_SUFFIX = ".communication.azure.com"
ACS_MAX_RECIPIENTS = 50
_NOT_FOR_ACS = ("smtp_mode", "security", "graph_endpoint", "ews_url", "alternate_host", "alternate_port")


def acs_endpoint(host: str | None, port: Any, extra: ExtraReader) -> dict[str, Any]:
    """Return the settings of an ACS REST connection's endpoint, from ``acs_endpoint``, ``host`` or ``acs_resource``."""
    for key in _NOT_FOR_ACS:
        if key in extra:
            raise ConfigurationError(f"extra.{key}", f"{key} does not apply to transport acs", hint="remove it")
    url, field = extra.text("acs_endpoint"), "extra.acs_endpoint"
    if not url and host and host.strip():
        name = check_host(host, field="host")
        url, field = f"https://{name}" + (f":{int(port)}" if port else ""), "host"
    if not url and extra.text("acs_resource"):
        url, field = f"https://{extra.text('acs_resource')}{ACS_HOST_SUFFIX}", "extra.acs_resource"
    if not url:
        raise ConfigurationError(
            "extra.acs_endpoint", "transport acs needs the Communication Services resource",
            hint="set extra.acs_resource to its name, or extra.acs_endpoint to https://<name>.communication.azure.com",
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.query:
        raise ConfigurationError(field, f"{url!r} is not the resource's endpoint",
                                 hint="e.g. https://contoso-mail.communication.azure.com")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(field, "ACS must be reached over https", hint="use https:// (http only for loopback)")
    return {
        "acs_endpoint": urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")),
        "host": parts.hostname,
        "port": parts.port or (443 if parts.scheme == "https" else 80),
        "smtp_mode": SmtpMode.SUBMISSION,
        "security": Security.SSL if parts.scheme == "https" else Security.NONE,
    }


def is_acs(values: dict[str, Any]) -> bool:
    """Tell whether a connection sends through ACS, over REST or SMTP."""
    return bool(values["transport"] is TransportKind.ACS or values["smtp_mode"] is SmtpMode.ACS)


def acs_default_auth(extra: ExtraReader) -> AuthType:
    """Return the REST transport's sign-in when none is set: the access key if one is given, else app-only."""
    return AuthType.ACCESS_KEY if extra.text("acs_access_key") else AuthType.OAUTH2_APP


def check_acs_auth(values: dict[str, Any], auth: AuthType, extra: ExtraReader) -> None:
    """Refuse sign-ins ACS does not take, and an access key anywhere but the REST transport."""
    rest = values["transport"] is TransportKind.ACS
    if auth is AuthType.ACCESS_KEY and not rest:
        raise ConfigurationError("extra.auth_type", "access_key applies to transport acs only",
                                 hint="use basic or OAuth2 for SMTP, OAuth2 for Microsoft Graph")
    if rest and auth not in (AuthType.ACCESS_KEY, AuthType.OAUTH2_APP):
        raise ConfigurationError(
            "extra.auth_type", f"Azure Communication Services takes oauth2_app or access_key, not {auth.value}",
            hint="set extra.acs_access_key, or tenant_id, client_id and a client secret of an app with the "
            "'Communication and Email Service Owner' role on the resource",
        )
    if auth is AuthType.ACCESS_KEY and not extra.text("acs_access_key"):
        raise ConfigurationError("extra.acs_access_key", "access_key needs the resource's access key",
                                 hint="Azure portal > the Communication Services resource > Keys")
    if values["smtp_mode"] is SmtpMode.ACS and auth is not AuthType.BASIC:
        raise ConfigurationError(
            "extra.auth_type", f"the ACS SMTP endpoint signs in with a user name and password, not {auth.value}",
            hint="leave auth_type unset: the user name <resource>.<app id>.<tenant id> and the client secret are used",
        )


def acs_smtp_login(
    login: str | None, password: str | None, extra: ExtraReader
) -> tuple[str | None, str | None]:
    """Return the ACS SMTP user name and password: as given, or ``<resource>.<app id>.<tenant id>`` and the secret."""
    if not login:
        parts = (extra.text("acs_resource"), extra.text("client_id"), extra.text("tenant_id"))
        if not all(parts):
            raise ConfigurationError(
                "login", "the ACS SMTP endpoint needs a user name",
                hint="set extra.acs_resource, client_id and tenant_id (the user name is <resource>.<app id>.<tenant "
                "id>), or login to an SMTP Username resource",
            )
        login = ".".join(part for part in parts if part)
    return login, password or extra.text("client_secret")


def acs_recipient_limit(values: dict[str, Any], extra: ExtraReader) -> int:
    """Return the recipients per message: ACS takes at most 50, so a larger setting is refused."""
    if "max_recipients_per_message" not in extra:
        return ACS_MAX_RECIPIENTS
    limit = int(values["max_recipients_per_message"])
    if limit > ACS_MAX_RECIPIENTS:
        raise ConfigurationError("extra.max_recipients_per_message",
                                 f"Azure Communication Services takes at most {ACS_MAX_RECIPIENTS} recipients per "
                                 f"message, not {limit}", hint=f"set it to {ACS_MAX_RECIPIENTS} or less")
    return limit

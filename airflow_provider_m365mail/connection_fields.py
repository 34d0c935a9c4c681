"""Describe the ``m365mail`` connection form once, for every Airflow version that draws it.

Airflow 3.2+ reads the declarative ``conn-fields`` / ``ui-field-behaviour`` from the provider info without importing
the hook; Airflow 3.0 and 3.1 call the hook's ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()``,
which need wtforms and Flask-AppBuilder. Both forms are generated here from ``EXTRA_FIELDS`` and
``STANDARD_FIELDS`` so they cannot drift apart. This module imports nothing from Airflow: the provider info is read
at every Airflow start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

FieldType = Literal["string", "integer", "number", "boolean"]

CONN_TYPE = "m365mail"


@dataclass(frozen=True)
class ConnField:
    """One key of the connection's ``extra`` JSON as the form shows it."""

    name: str
    label: str
    description: str
    type: FieldType = "string"
    enum: Sequence[str] = ()
    default: str | int | float | bool | None = None
    format: Literal["password", "email", "url"] | None = None
    placeholder: str | None = None
    minimum: float | None = None

    @property
    def secret(self) -> bool:
        """Tell whether Airflow must mask the value (in the form, the API and task logs)."""
        return self.format == "password"

    def json_schema(self) -> dict[str, Any]:
        """Return the field's JSON schema; every field may be left empty (``null``)."""
        schema: dict[str, Any] = {"type": [self.type, "null"]}
        if self.enum:
            schema["enum"] = [*self.enum, None]
        if self.default is not None:
            schema["default"] = self.default
        if self.format is not None:
            schema["format"] = self.format
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        return schema


@dataclass(frozen=True)
class StandardFields:
    """How the connection form relabels, hides and pre-explains Airflow's standard fields."""

    hidden: tuple[str, ...]
    relabeling: dict[str, str]
    placeholders: dict[str, str]


STANDARD_FIELDS = StandardFields(
    hidden=("schema",),
    relabeling={
        "host": "Server or Graph endpoint",
        "login": "Authentication account or client ID",
        "password": "Password or client secret",
    },
    placeholders={
        "host": "smtp.office365.com",
        "port": "587",
        "login": "airflow@contoso.com",
        "password": "mailbox password (basic) or app client secret (OAuth2)",
    },
)

EXTRA_FIELDS: tuple[ConnField, ...] = (
    ConnField(
        "transport",
        "Transport",
        "smtp: Exchange Online SMTP (client submission, direct send or relay) or any SMTP server; "
        "graph: Microsoft Graph sendMail (needs the Mail.Send permission); ews: Exchange Web Services on an Exchange "
        "Server on premises (not Exchange Online, where EWS is being switched off); acs: Azure Communication Services "
        "Email's REST API, Microsoft's path for external mail in volume.",
        enum=("smtp", "graph", "ews", "acs"),
        default="smtp",
    ),
    ConnField(
        "smtp_mode",
        "SMTP mode",
        "Microsoft's three ways for an application to send: submission (SMTP AUTH client submission to "
        "smtp.office365.com:587), direct_send (port 25 of the tenant's MX endpoint, no sign-in, tenant recipients "
        "only) or relay (port 25 of the MX endpoint through an inbound connector matching your IP or certificate); "
        "for volume, hve (High Volume Email, smtp.hve.mx.microsoft:587, internal recipients only) or acs (Azure "
        "Communication Services' SMTP endpoint, smtp.azurecomm.net:587).",
        enum=("submission", "direct_send", "relay", "hve", "acs"),
        default="submission",
    ),
    ConnField(
        "security",
        "TLS mode",
        "starttls (ports 587 and 25), ssl (implicit TLS, port 465) or none. Exchange Online requires TLS 1.2 or "
        "later. Empty: chosen from the port.",
        enum=("starttls", "ssl", "none"),
    ),
    ConnField(
        "auth_type",
        "Authentication",
        "basic: the mailbox password (SMTP AUTH basic authentication, which Exchange Online switches off by "
        "default at the end of 2026); oauth2_app: client credentials of an Entra app registration (application "
        "permission SMTP.SendAsApp or Mail.Send); oauth2_delegated: the login mailbox's own sign-in (delegated "
        "SMTP.Send or Mail.Send), kept in the token cache file by `m365mail login`, or a refresh token; "
        "ntlm: Windows integrated sign-in to Exchange Server (EWS only); access_key: the Communication "
        "Services resource's access key (transport acs only); none: direct send or relay. Empty: oauth2_app when a "
        "client ID is set, else basic when a login and password are set (ntlm for EWS, access_key for acs with a key).",
        enum=("basic", "oauth2_app", "oauth2_delegated", "ntlm", "access_key", "none"),
    ),
    ConnField(
        "tenant_id",
        "Tenant ID",
        "Directory (tenant) ID of the Microsoft Entra tenant (Entra admin center > Overview), or its primary domain.",
        placeholder="00000000-0000-0000-0000-000000000000",
    ),
    ConnField(
        "client_id",
        "Client ID",
        "Application (client) ID of the Entra app registration (App registrations > Overview).",
        placeholder="00000000-0000-0000-0000-000000000000",
    ),
    ConnField(
        "client_secret",
        "Client secret",
        "Value of a client secret of the app registration (Certificates & secrets > Client secrets). "
        "The Password field may hold it instead.",
        format="password",
    ),
    ConnField(
        "certificate_path",
        "Certificate file",
        "Path to a PEM file with the private key and the certificate uploaded to the app registration "
        "(Certificates & secrets > Certificates), used instead of a client secret.",
        placeholder="/opt/airflow/secrets/m365mail.pem",
    ),
    ConnField(
        "certificate_private_key",
        "Certificate and private key (PEM)",
        "The same private key and certificate as PEM text, for secrets backends that hold text rather than files "
        "(formerly certificate_pem, still read).",
        format="password",
    ),
    ConnField(
        "certificate_thumbprint",
        "Certificate thumbprint",
        "Thumbprint of that certificate as the app registration lists it under Certificates & secrets.",
    ),
    ConnField(
        "refresh_token",
        "Refresh token",
        "Delegated OAuth2 only: the signed-in user's refresh token (consented scopes SMTP.Send or Mail.Send, "
        "and offline_access).",
        format="password",
    ),
    ConnField(
        "token_cache_path",
        "Token cache file",
        "OAuth2: the MSAL token cache file every worker process on the host (or a shared volume) shares, so they "
        "make one token request per token lifetime; `m365mail login` signs a delegated mailbox into it and rotated "
        "refresh tokens are kept there. Created with mode 0600; it holds tokens in plain text.",
        placeholder="/var/lib/airflow/m365mail-tokens.json",
    ),
    ConnField(
        "cloud",
        "National cloud",
        "Microsoft cloud of the tenant; it sets the sign-in authority, Graph endpoint, SMTP host and token scope "
        "together: global (including GCC), usgov (GCC High), usgov_dod (DoD) or china (operated by 21Vianet).",
        enum=("global", "usgov", "usgov_dod", "china"),
        default="global",
    ),
    ConnField(
        "authority_host",
        "Authority host",
        "Override of the Microsoft Entra sign-in host; default from the cloud, e.g. login.microsoftonline.com.",
        placeholder="login.microsoftonline.com",
    ),
    ConnField(
        "graph_endpoint",
        "Graph endpoint",
        "Override of the Microsoft Graph root; default from the cloud, e.g. https://graph.microsoft.com.",
        format="url",
        placeholder="https://graph.microsoft.com",
    ),
    ConnField(
        "ews_url",
        "EWS URL",
        "transport ews: the Exchange Server's EWS endpoint; default https://<host>/EWS/Exchange.asmx.",
        format="url",
        placeholder="https://mail.contoso.local/EWS/Exchange.asmx",
    ),
    ConnField(
        "ews_impersonation",
        "EWS impersonation",
        "transport ews: act as the From mailbox through ExchangeImpersonation (the account needs the "
        "ApplicationImpersonation role) instead of sending as it with a Send As grant.",
        type="boolean",
        default=False,
    ),
    ConnField(
        "accepted_domains",
        "Accepted domains (HVE)",
        "smtp_mode hve: the tenant's accepted domains, comma-separated; High Volume Email delivers to them only, so "
        "any other recipient is refused before sending, as is a domain HVE itself refused (5.7.54) earlier in the "
        "process for the same server and account. Default: the HVE account's domain.",
        placeholder="contoso.com, contoso.co.uk",
    ),
    ConnField(
        "acs_resource",
        "ACS resource name",
        "Azure Communication Services: the resource's name; transport acs posts to "
        "https://<name>.communication.azure.com, smtp_mode acs signs in as <name>.<client id>.<tenant id>.",
        placeholder="contoso-mail",
    ),
    ConnField(
        "acs_endpoint",
        "ACS endpoint",
        "transport acs: the resource's endpoint, instead of acs_resource.",
        format="url",
        placeholder="https://contoso-mail.communication.azure.com",
    ),
    ConnField(
        "acs_access_key",
        "ACS access key",
        "transport acs: one of the resource's access keys (Keys in the Azure portal), signing each request with "
        "HMAC-SHA256 instead of an Entra token.",
        format="password",
    ),
    ConnField(
        "ca_bundle",
        "CA bundle",
        "Path to a PEM file of CA certificates to trust instead of the system store (TLS-inspecting proxies, "
        "on-premises Exchange Server).",
    ),
    ConnField(
        "client_certificate_path",
        "Relay client certificate",
        "SMTP relay only: path to the PEM certificate the inbound connector matches (its subject or SAN is one of "
        "your accepted domains).",
    ),
    ConnField(
        "client_key_path",
        "Relay client key",
        "SMTP relay only: path to the private key of the relay client certificate.",
    ),
    ConnField(
        "from_email",
        "Default From",
        "Address in From when a task names none; empty: the authentication account.",
        format="email",
        placeholder="airflow@contoso.com",
    ),
    ConnField("from_name", "Default From name", "Display name shown with the default From address."),
    ConnField("reply_to", "Default Reply-To", "Address(es) replies go to when a task names none."),
    ConnField(
        "allowed_senders",
        "Allowed senders",
        "Comma-separated addresses or *@domain patterns tasks may send as or on behalf of. Exchange must grant "
        "the authentication account the right too: Add-RecipientPermission (Send As) or Set-Mailbox "
        "-GrantSendOnBehalfTo (Send on Behalf).",
        placeholder="reports@contoso.com, *@alerts.contoso.com",
    ),
    ConnField(
        "alternate_host",
        "Alternate server",
        "Server to fail over to when the main one cannot be reached.",
    ),
    ConnField("alternate_port", "Alternate port", "Port of the alternate server.", type="integer", minimum=1),
    ConnField(
        "max_recipients_per_message",
        "Recipients per message",
        "Larger recipient lists are split into several messages. Exchange Online accepts 500 per message "
        "(admins can raise it to 1,000).",
        type="integer",
        default=500,
        minimum=1,
    ),
    ConnField(
        "max_messages_per_minute",
        "Messages per minute",
        "Sending pace per mailbox, in this process or, with a shared rate_limit_storage, across every worker. "
        "Exchange Online SMTP client submission accepts 30 messages a minute per mailbox.",
        type="integer",
        default=30,
        minimum=1,
    ),
    ConnField("timeout", "Timeout (seconds)", "How long to wait for the server (above 0, at most 3600).",
              type="number", default=30.0),
    ConnField(
        "retry_budget_s",
        "Retry budget (seconds)",
        "How long a message's transient failures (drops, 4xx replies, throttling, token endpoint errors) are "
        "retried, server-requested waits included; what is still unsent is left for the task's next try.",
        type="number",
        default=300.0,
    ),
    ConnField(
        "max_connections",
        "Connections per send",
        "How many connections a bulk send (a mail merge, split recipient lists, several messages) keeps busy at "
        "once, each reused for many messages. Default 3 for Exchange Online SMTP client submission (its limit per "
        "mailbox), 1 elsewhere; raise it for relays and servers known to accept more.",
        type="integer",
        minimum=1,
    ),
    ConnField(
        "max_recipients_per_day",
        "Recipients per day",
        "The mailbox's recipients in a rolling 24 hours, counted across workers with a shared rate limit storage; "
        "a send that would pass it is refused before it starts. Default 10000 for an Exchange Online mailbox (SMTP "
        "client submission, Graph), where more is refused with 550 5.1.90; none kept elsewhere unless set here.",
        type="integer",
        minimum=1,
    ),
    ConnField(
        "proxy",
        "Proxy",
        "Proxy for SMTP, the Microsoft Entra token endpoint, Microsoft Graph and EWS: an http://, socks5:// or "
        "socks5h:// URL with its port (credentials as user:password@, so it is kept like a password), or env to "
        "follow HTTPS_PROXY / ALL_PROXY / NO_PROXY. Left empty, the environment's proxy variables are ignored.",
        format="password",
        placeholder="http://proxy.contoso.com:3128",
    ),
    ConnField(
        "rate_limit_storage",
        "Rate limit storage",
        "Where the messages-per-minute window is counted: memory:// (this process) or a Redis/Valkey URI "
        "(redis://host:6379/0, rediss://, redis+sentinel://, redis+cluster://, valkey://) that every worker "
        "sending as the mailbox shares. An unreachable store falls back to this process's count.",
        default="memory://",
    ),
    ConnField(
        "save_to_sent_items",
        "Save to Sent Items",
        "Graph and EWS: keep a copy in the sender's Sent Items folder (Graph's saveToSentItems, EWS's "
        "SendAndSaveCopy).",
        type="boolean",
        default=True,
    ),
    ConnField(
        "allow_insecure_auth",
        "Allow sign-in without TLS",
        "Permit AUTH on a connection without TLS (TLS mode none). For local test servers only.",
        type="boolean",
        default=False,
    ),
)


def _placeholders() -> dict[str, str]:
    extras = {f.name: f.placeholder for f in EXTRA_FIELDS if f.placeholder}
    return {**STANDARD_FIELDS.placeholders, **extras}


def conn_fields() -> dict[str, dict[str, Any]]:
    """Return the provider info's ``conn-fields`` (Airflow 3.2+)."""
    return {f.name: {"label": f.label, "description": f.description, "schema": f.json_schema()} for f in EXTRA_FIELDS}


def ui_field_behaviour(*, legacy: bool = False) -> dict[str, Any]:
    """Return the provider info's ``ui-field-behaviour`` (Airflow 3.2+), or with ``legacy`` what
    ``BaseHook.get_ui_field_behaviour()`` returns on Airflow 3.0 and 3.1 (which spell one key differently)."""
    hidden = "hidden_fields" if legacy else "hidden-fields"
    return {hidden: list(STANDARD_FIELDS.hidden), "relabeling": dict(STANDARD_FIELDS.relabeling),
            "placeholders": _placeholders()}


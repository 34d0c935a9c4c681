"""Parse a connection once into ``MailSettings``: typed, immutable, and refused early when incoherent.

Everything downstream takes ``MailSettings``, never raw extras. Each error names the field (``host``, ``port``,
``login``, ``password`` or ``extra.<key>``) and says how to fix it, before any network I/O happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.choices import AuthType, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.clouds import CLOUDS, Cloud
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader, decode_extra
from airflow_provider_m365mail.core.settings.hosts import url_password
from airflow_provider_m365mail.core.settings.rules import resolve_connection
from airflow_provider_m365mail.core.settings.secret import Secret

EXTRA_KEYS: tuple[str, ...] = (
    "transport", "smtp_mode", "security", "auth_type", "tenant_id", "client_id", "client_secret",
    "certificate_path", "certificate_private_key", "certificate_thumbprint", "refresh_token", "token_cache_path",
    "cloud", "authority_host", "graph_endpoint", "ews_url", "ews_impersonation", "accepted_domains", "acs_resource",
    "acs_endpoint", "acs_access_key", "ca_bundle", "client_certificate_path", "client_key_path",
    "from_email", "from_name", "reply_to", "allowed_senders", "alternate_host", "alternate_port",
    "max_recipients_per_message", "max_messages_per_minute", "timeout", "retry_budget_s", "max_connections",
    "max_recipients_per_day", "proxy", "rate_limit_storage", "save_to_sent_items", "allow_insecure_auth",
)

# Extras renamed to a name Airflow masks (it hides an extra by its key), still read under their old name.
RENAMED_EXTRAS: dict[str, str] = {"certificate_pem": "certificate_private_key"}
# Settings held as ``Secret``: out of repr, asdict, str and pickle; ``reveal()`` where a server needs them.
SECRET_FIELDS: tuple[str, ...] = (
    "password", "client_secret", "certificate_private_key", "refresh_token", "acs_access_key", "proxy",
    "rate_limit_storage",
)
# Secrets that are URLs: logs may show them without credentials, so only their password counts as the secret.
_URL_SECRETS = ("proxy", "rate_limit_storage")


@dataclass(frozen=True)
class MailSettings:
    """A validated mail connection. Build it with ``from_connection_fields``; every secret is a ``Secret``."""

    transport: TransportKind
    smtp_mode: SmtpMode
    host: str
    port: int
    security: Security
    auth_type: AuthType
    username: str | None = None
    password: Secret | None = None
    client_secret: Secret | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    certificate_path: str | None = None
    certificate_private_key: Secret | None = None
    certificate_thumbprint: str | None = None
    refresh_token: Secret | None = None
    token_cache_path: str | None = None
    cloud: Cloud = Cloud.GLOBAL
    authority_host: str = CLOUDS[Cloud.GLOBAL].authority_host
    graph_endpoint: str = CLOUDS[Cloud.GLOBAL].graph_endpoint
    ca_bundle: str | None = None
    client_certificate_path: str | None = None
    client_key_path: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    allowed_senders: tuple[str, ...] = ()
    alternate_host: str | None = None
    alternate_port: int | None = None
    max_recipients_per_message: int = 500
    max_messages_per_minute: int = 30
    timeout: float = 30.0
    retry_budget_s: float = 300.0
    max_connections: int = 1
    max_recipients_per_day: int | None = None  # None: no daily budget kept (not an Exchange Online mailbox)
    proxy: Secret | None = None
    save_to_sent_items: bool = True
    allow_insecure_auth: bool = False
    ews_url: str | None = None
    ews_impersonation: bool = False
    accepted_domains: tuple[str, ...] = ()  # smtp_mode hve: the only domains it delivers to
    acs_endpoint: str | None = None
    acs_access_key: Secret | None = None
    rate_limit_storage: Secret | None = None  # None: count in this process only (memory://)

    @classmethod
    def from_connection_fields(
        cls,
        *,
        host: str | None,
        port: int | None,
        login: str | None,
        password: str | None,
        extra: str | Mapping[str, Any] | None,
    ) -> MailSettings:
        """Validate an Airflow connection's fields once; raise ``ConfigurationError`` naming field and fix."""
        reader = ExtraReader(extra, EXTRA_KEYS, renamed=RENAMED_EXTRAS)
        values = resolve_connection(host=host, port=port, login=login, password=password, extra=reader)
        secrets = {name: Secret(values[name]) for name in SECRET_FIELDS if values.get(name) is not None}
        return cls(**{**values, **secrets})

    @classmethod
    def from_airflow_connection(
        cls,
        *,
        host: str | None,
        port: int | None,
        login: str | None,
        password: str | None,
        extra: str | Mapping[str, Any] | None,
    ) -> MailSettings:
        """Validate a connection as Airflow stores it, where an extra left empty in the form (null or "") is unset.

        Dropping those first keeps a field the form no longer offers, left empty, from counting as unknown.
        ``extra`` may be the stored JSON text: text that is not a JSON object is refused, naming ``extra``.
        """
        return cls.from_connection_fields(
            host=host,
            port=port,
            login=login,
            password=password,
            extra={key: value for key, value in decode_extra(extra).items() if value not in (None, "")},
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value present, for log redaction."""
        held: list[Secret | None] = [getattr(self, name) for name in SECRET_FIELDS if name not in _URL_SECRETS]
        values = [secret.reveal() for secret in held if secret is not None]
        for url in (self.proxy, self.rate_limit_storage):  # logs may show these URLs, whose password is the secret
            if url is not None:
                values.append(url_password(url.reveal()) or "")
        return tuple(v for v in values if v)

    @property
    def authority(self) -> str:
        """The Entra authority URL, ``https://<authority host>/<tenant>``."""
        if not self.tenant_id:
            raise ConfigurationError("extra.tenant_id", "OAuth needs the tenant id", hint="set extra.tenant_id")
        return f"https://{self.authority_host}/{self.tenant_id}"

    @property
    def exchange_scope(self) -> str:
        """The app-only scope for SMTP XOAUTH2 in this cloud (an authority override keeps the cloud's)."""
        return f"{CLOUDS[self.cloud].exchange_resource}/.default"

    @property
    def graph_scope(self) -> str:
        """The app-only scope for Microsoft Graph in this cloud."""
        return f"{CLOUDS[self.cloud].graph_endpoint}/.default"

    @property
    def ews_scope(self) -> str:
        """The app-only scope for EWS on an Exchange Server with hybrid modern authentication (its own origin)."""
        parts = urlsplit(self.ews_url or "")
        return f"{parts.scheme}://{parts.netloc}/.default"

    @property
    def uses_oauth(self) -> bool:
        """Tell whether sending needs an Entra access token."""
        return self.auth_type in (AuthType.OAUTH2_APP, AuthType.OAUTH2_DELEGATED)


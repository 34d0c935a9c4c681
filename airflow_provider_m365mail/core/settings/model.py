"""Parse a connection once into ``MailSettings``: typed, immutable, and refused early when incoherent.

Everything downstream takes ``MailSettings``, never raw extras. Each error names the field (``host``, ``port``,
``login``, ``password`` or ``extra.<key>``) and says how to fix it, before any network I/O happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.choices import AuthType, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.clouds import CLOUDS, Cloud
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader
from airflow_provider_m365mail.core.settings.hosts import redact_url, url_password
from airflow_provider_m365mail.core.settings.rules import resolve_connection

EXTRA_KEYS: tuple[str, ...] = (
    "transport", "smtp_mode", "security", "auth_type", "tenant_id", "client_id", "client_secret",
    "certificate_path", "certificate_pem", "certificate_thumbprint", "refresh_token", "cloud", "authority_host",
    "graph_endpoint", "ca_bundle", "client_certificate_path", "client_key_path", "from_email", "from_name",
    "reply_to", "allowed_senders", "alternate_host", "alternate_port", "max_recipients_per_message",
    "max_messages_per_minute", "timeout", "retry_budget_s", "proxy", "save_to_sent_items", "allow_insecure_auth",
)

_SECRET = MappingProxyType({"secret": True})


@dataclass(frozen=True, repr=False)
class MailSettings:
    """A validated mail connection. Build it with ``from_connection_fields``; secrets never appear in repr."""

    transport: TransportKind
    smtp_mode: SmtpMode
    host: str
    port: int
    security: Security
    auth_type: AuthType
    username: str | None = None
    password: str | None = field(default=None, metadata=_SECRET)
    client_secret: str | None = field(default=None, metadata=_SECRET)
    tenant_id: str | None = None
    client_id: str | None = None
    certificate_path: str | None = None
    certificate_pem: str | None = field(default=None, metadata=_SECRET)
    certificate_thumbprint: str | None = None
    refresh_token: str | None = field(default=None, metadata=_SECRET)
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
    proxy: str | None = None
    save_to_sent_items: bool = True
    allow_insecure_auth: bool = False

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret"):
                shown = "None" if value is None else "'***'"
            elif f.name == "proxy" and value is not None:
                shown = repr(redact_url(value))
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"MailSettings({', '.join(parts)})"

    @classmethod
    def from_connection_fields(
        cls,
        *,
        host: str | None,
        port: int | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any],
    ) -> MailSettings:
        """Validate an Airflow connection's fields once; raise ``ConfigurationError`` naming field and fix."""
        values = resolve_connection(
            host=host, port=port, login=login, password=password, extra=ExtraReader(extra, EXTRA_KEYS)
        )
        return cls(**values)

    @classmethod
    def from_airflow_connection(
        cls,
        *,
        host: str | None,
        port: int | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any],
    ) -> MailSettings:
        """Validate a connection as Airflow stores it, where an extra left empty in the form (null or "") is unset.

        Dropping those first keeps a field the form no longer offers, left empty, from counting as unknown.
        """
        return cls.from_connection_fields(
            host=host,
            port=port,
            login=login,
            password=password,
            extra={key: value for key, value in extra.items() if value not in (None, "")},
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value present, for log redaction."""
        values = [getattr(self, f.name) for f in fields(self) if f.metadata.get("secret")]
        values.append(url_password(self.proxy) if self.proxy else None)
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
    def uses_oauth(self) -> bool:
        """Tell whether sending needs an Entra access token."""
        return self.auth_type in (AuthType.OAUTH2_APP, AuthType.OAUTH2_DELEGATED)


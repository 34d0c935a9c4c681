"""Describe the emulated tenant: domains, mailboxes, apps, grants and limits.

The sandbox emulates Microsoft 365, so this module speaks Exchange's language (mailboxes, accepted domains,
Send As grants) and never imports the provider's own ``core``. A tenant is loaded from a small YAML or JSON
file, or built in code by tests; ``default_tenant()`` is what ``m365mail sandbox`` and the demo use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Right = Literal["send_as", "send_on_behalf"]

EXCHANGE_AUDIENCE = "https://outlook.office365.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
ACS_AUDIENCE = "https://communication.azure.com"
DAY_S = 86_400
MB = 1024 * 1024
_PSEUDO_TENANTS = ("organizations", "common")


def checked(kind: Literal["address", "text"]) -> Any:
    """Declare a required string the admin API checks as an email ``address`` or non-empty ``text``."""
    return field(metadata={"check": kind})


def bounded(default: Any, low: float, high: float) -> Any:
    """Declare a numeric setting with the range the admin API accepts for it (``admin_fields.changed`` reads it)."""
    return field(default=default, metadata={"range": (low, high)})


@dataclass(frozen=True)
class Mailbox:
    """A mailbox (user or shared) in the tenant."""

    address: str = checked("address")
    display_name: str = ""
    password: str | None = None  # basic-auth / ROPC password; None: the mailbox cannot sign in
    smtp_auth_enabled: bool = True  # False: 535 5.7.139 ... disabled for the Mailbox
    rest_enabled: bool = True  # False: Graph answers MailboxNotEnabledForRESTAPI


@dataclass(frozen=True)
class App:
    """An Entra app registration with its credentials and granted application permissions."""

    client_id: str = checked("text")
    client_secret: str | None = None
    # PEM certificates whose private keys may sign client assertions (thumbprint matched via x5t / x5t#S256).
    certificates: tuple[str, ...] = ()
    # Application permissions with admin consent, e.g. "SMTP.SendAsApp", "Mail.Send", "Mail.ReadWrite".
    roles: tuple[str, ...] = ("SMTP.SendAsApp", "Mail.Send", "Mail.ReadWrite", "Mail.Read")
    # Delegated scopes users of this app consented to, e.g. "SMTP.Send", "Mail.Send", "Mail.Send.Shared".
    delegated_scopes: tuple[str, ...] = ("SMTP.Send", "Mail.Send", "Mail.Send.Shared", "offline_access")
    # Mailboxes the app's Exchange service principal has FullAccess on (XOAUTH2 app-only needs it).
    # None means every mailbox in the tenant.
    full_access: tuple[str, ...] | None = None
    # Application access policy / RBAC for Applications scope for Graph app-only; None: unrestricted.
    graph_scope: tuple[str, ...] | None = None
    # "Allow public client flows": device code and refresh without a client secret (a CLI on a user's host).
    public_client: bool = False
    # Whether an admin consented to ``roles``; until then app-only tokens carry no roles (see /adminconsent).
    admin_consented: bool = True


@dataclass(frozen=True)
class Grant:
    """A Send As or Send on Behalf permission of a principal (mailbox address or app client id) on a mailbox."""

    principal: str
    mailbox: str
    right: Right
    delay_s: float = 0.0  # seconds after it is granted before Exchange honours it (propagation)


@dataclass(frozen=True)
class HveAccount:
    """A High Volume Email account: signs in with its password, or as an app added by ``Add-HVEAppAccess``."""

    address: str = checked("address")
    password: str | None = None
    active: bool = True  # False: no billing policy, the account shows "Not active" and cannot send
    app_access: tuple[str, ...] = ()  # client ids added with Add-HVEAppAccess (at most 10)


@dataclass(frozen=True)
class AcsResource:
    """An Azure Communication Services resource with an Email service and its verified sender domains."""

    name: str = "contoso-acs"
    access_key: str = "c2FuZGJveC1hY3MtYWNjZXNzLWtleS1ub3QtYS1zZWNyZXQ="  # base64, as the portal shows it
    sender_domains: tuple[str, ...] = ("contoso.com",)  # verified custom domains linked to the resource
    # Apps with the "Communication and Email Service Owner" role on the resource (REST and SMTP sign-in)
    role_apps: tuple[str, ...] = ()
    max_request_bytes: int = bounded(10 * MB, 1, 1024 * MB)
    recipients_per_message: int = bounded(50, 1, 1_000_000)
    polls_running: int = bounded(1, 0, 100)  # how many status polls answer Running before the final status


@dataclass(frozen=True)
class Limits:
    """Per-mailbox sending limits as Exchange Online enforces them (see M365-FACTS.md)."""

    messages_per_window: int = bounded(30, 1, 1_000_000)  # SMTP client submission: 30 messages per minute
    window_s: float = bounded(60.0, 0.001, DAY_S)  # shrink it for fast tests of the rate limit
    recipients_per_message: int = bounded(500, 1, 1_000_000)
    recipients_per_day: int = bounded(10_000, 1, 1_000_000_000)
    # the 4th concurrent session for a mailbox gets 432 4.3.2
    smtp_concurrent_connections: int = bounded(3, 1, 10_000)
    # the 5th concurrent Graph request gets 429 with Retry-After
    graph_concurrent_requests: int = bounded(4, 1, 10_000)
    graph_retry_after_s: int = bounded(1, 0, DAY_S)
    max_message_size: int = bounded(36_700_160, 1, 1024 * MB)  # 35 MB default; EHLO advertises SIZE
    graph_request_limit: int = bounded(4 * MB, 1, 1024 * MB)  # sendMail request body limit (413 beyond)


@dataclass(frozen=True)
class TenantConfig:
    """Everything the sandbox needs to know about the emulated tenant."""

    tenant_id: str = "00000000-0000-4000-8000-00000000c0de"
    accepted_domains: tuple[str, ...] = ("contoso.com",)
    mailboxes: tuple[Mailbox, ...] = ()
    apps: tuple[App, ...] = ()
    grants: tuple[Grant, ...] = ()
    smtp_auth_enabled: bool = True  # tenant-wide SMTP AUTH switch (5.7.139 ... disabled for the Tenant)
    basic_auth_enabled: bool = True  # False: 535 5.7.139 ... basic authentication is disabled
    relay_allowed_ips: tuple[str, ...] = ("127.0.0.1",)  # connector by IP for the relay listener
    impersonators: tuple[str, ...] = ()  # accounts with the ApplicationImpersonation role (EWS)
    admins: tuple[str, ...] = ()  # accounts that may grant admin consent (e.g. Cloud Application Administrator)
    token_lifetime_s: int = bounded(3600, 1, DAY_S)
    # Delegated sign-in: a device code lives 15 minutes and is polled every 5 s; a refresh token lives 90 days,
    # a new one comes with every redemption, and the one redeemed keeps working for ``refresh_token_grace_s``.
    device_code_lifetime_s: int = bounded(900, 1, DAY_S)
    device_code_interval_s: int = bounded(5, 1, 60)
    refresh_token_lifetime_s: int = bounded(90 * DAY_S, 1, 365 * DAY_S)
    refresh_token_grace_s: int = bounded(60, 0, DAY_S)
    limits: Limits = field(default_factory=Limits)
    hve_accounts: tuple[HveAccount, ...] = ()
    acs: AcsResource = field(default_factory=AcsResource)

    def hve_account(self, address: str) -> HveAccount | None:
        """Return the HVE account with this address (case-insensitive), if any."""
        wanted = address.casefold()
        return next((a for a in self.hve_accounts if a.address.casefold() == wanted), None)

    def path_segment(self, segment: str) -> str | None:
        """Return the tenant segment endpoints should use for a URL's tenant name, or None if it is not ours."""
        if segment.casefold() in _PSEUDO_TENANTS:
            return segment.casefold()
        if segment.casefold() == self.tenant_id.casefold() or self.is_internal(f"x@{segment}"):
            return self.tenant_id
        return None

    def mailbox(self, address: str) -> Mailbox | None:
        """Return the mailbox with this address (case-insensitive), if any."""
        wanted = address.casefold()
        return next((m for m in self.mailboxes if m.address.casefold() == wanted), None)

    def app(self, client_id: str) -> App | None:
        """Return the app registration with this client id, if any."""
        return next((a for a in self.apps if a.client_id == client_id), None)

    def is_internal(self, address: str) -> bool:
        """Tell whether an address is in one of the tenant's accepted domains."""
        domain = address.rpartition("@")[2].casefold()
        return domain in {d.casefold() for d in self.accepted_domains}


def default_tenant() -> TenantConfig:
    """Return the demo tenant: a service account, team mailboxes, one app; no grants yet."""
    return TenantConfig(
        mailboxes=(
            Mailbox("airflow@contoso.com", "Airflow Service", password="Sandbox-Passw0rd!"),
            Mailbox("reports@contoso.com", "Contoso Reports"),
            Mailbox("alerts@contoso.com", "Contoso Alerts"),
            Mailbox("data-team@contoso.com", "Data Team"),
            Mailbox("alice@contoso.com", "Alice Example", password="Alice-Passw0rd!"),
            Mailbox("bob@contoso.com", "Bob Example"),
        ),
        apps=(
            App(
                client_id="11111111-2222-4333-8444-555555555555",
                client_secret="sandbox-client-secret-value",
                public_client=True,
            ),
        ),
        hve_accounts=(
            HveAccount(
                "hve@contoso.com", password="Hve-Passw0rd!", app_access=("11111111-2222-4333-8444-555555555555",)
            ),
        ),
        acs=AcsResource(role_apps=("11111111-2222-4333-8444-555555555555",)),
        admins=("alice@contoso.com",),
        grants=(
            Grant("airflow@contoso.com", "reports@contoso.com", "send_as"),
            Grant("airflow@contoso.com", "data-team@contoso.com", "send_on_behalf"),
            Grant("11111111-2222-4333-8444-555555555555", "reports@contoso.com", "send_as"),
            Grant("11111111-2222-4333-8444-555555555555", "data-team@contoso.com", "send_on_behalf"),
        ),
    )


def load_tenant(path: Path) -> TenantConfig:
    """Load a tenant from a YAML or JSON file whose keys mirror ``TenantConfig``'s fields."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the tenant file must hold a mapping at the top level")
    return tenant_from_mapping(data)


def tenant_from_mapping(data: Mapping[str, Any]) -> TenantConfig:
    """Build a tenant from plain data, starting from the defaults of ``TenantConfig``."""
    known = {f.name for f in fields(TenantConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown tenant keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "mailboxes":
            values[key] = tuple(Mailbox(**m) for m in value)
        elif key == "apps":
            values[key] = tuple(_app(a) for a in value)
        elif key == "grants":
            values[key] = tuple(Grant(**g) for g in value)
        elif key == "limits":
            values[key] = Limits(**value)
        elif key == "hve_accounts":
            values[key] = tuple(HveAccount(**_tuples(a)) for a in value)
        elif key == "acs":
            values[key] = AcsResource(**_tuples(value))
        elif isinstance(value, list):
            values[key] = tuple(value)
        else:
            values[key] = value
    return replace(TenantConfig(), **values)


def _tuples(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _app(data: Mapping[str, Any]) -> App:
    listy = {"certificates", "roles", "delegated_scopes", "full_access", "graph_scope"}
    values: dict[str, Any] = {k: tuple(v) if k in listy and v is not None else v for k, v in data.items()}
    return App(**values)

"""Decide who authenticates, who appears in From and who in Sender, and whether the connection allows it.

Exchange checks Send As twice: at ``MAIL FROM`` (envelope) and on the header From after the data. Sending *as*
a mailbox puts it in both; sending *on behalf of* a mailbox puts it in From and the authenticated account in
Sender and the envelope. The connection's ``allowed_senders`` lets a platform team bound which mailboxes DAG
authors may use, checked here before any network I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.message.addresses import (
    Address,
    matches_allow_list,
    parse_address,
    parse_address_list,
)
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, SmtpMode, TransportKind


@dataclass(frozen=True)
class SenderIdentity:
    """The accounts a message is sent with: authentication account, From, optional Sender, Reply-To."""

    auth_account: str | None
    from_address: Address
    sender: Address | None = None
    reply_to: tuple[Address, ...] = ()

    @property
    def envelope_from(self) -> str:
        """The ``MAIL FROM`` address: the Sender when sending on behalf, else the From address."""
        return (self.sender or self.from_address).email


def _auth_account(settings: MailSettings) -> str | None:
    if settings.auth_type is AuthType.NONE:
        return None
    if settings.transport is TransportKind.ACS or settings.smtp_mode is SmtpMode.ACS:
        return settings.from_email  # ACS signs in as an app or resource, not a mailbox: its sender is from_email
    return settings.username or None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def _check_allowed(address: Address, settings: MailSettings, account: str | None, *, field: str) -> None:
    if _same(address.email, account) or _same(address.email, settings.from_email):
        return
    if not matches_allow_list(address.email, settings.allowed_senders):
        allowed = ", ".join(settings.allowed_senders) or "none besides the login and from_email"
        raise ConfigurationError(
            field,
            f"this connection may not send from {address.email} (allowed senders: {allowed})",
            hint=f"add {address.email} or '*@{address.domain}' to the connection's allowed_senders extra",
        )


def _with_default_name(address: Address, settings: MailSettings) -> Address:
    if not address.name and settings.from_name and _same(address.email, settings.from_email):
        return Address(address.email, settings.from_name)
    return address


def resolve_identity(
    settings: MailSettings,
    *,
    from_email: str | Address | None = None,
    on_behalf_of: str | Address | None = None,
    reply_to: str | Address | Sequence[str | Address] | None = None,
) -> SenderIdentity:
    """Return the identity to send with; refuse a From the connection's allow-list does not permit.

    ``from_email`` sends *as* that address. ``on_behalf_of`` sends on behalf of that mailbox (From = it,
    Sender = the authenticated account). With neither, From is the connection's ``from_email`` or its login.
    """
    if from_email and on_behalf_of:
        raise MessageValidationError("on_behalf_of", "set from_email or on_behalf_of, not both")
    account = _auth_account(settings)
    sender = None
    if on_behalf_of:
        from_address = parse_address(on_behalf_of, field="on_behalf_of")
        _check_allowed(from_address, settings, account, field="on_behalf_of")
        if not account:
            raise ConfigurationError(
                "on_behalf_of",
                "sending on behalf of a mailbox needs an authenticated account to name as Sender",
                hint="use a connection with a login, or from_email to send as the mailbox",
            )
        if not _same(from_address.email, account):
            sender = Address(account)
    elif from_email:
        from_address = parse_address(from_email, field="from_email")
        _check_allowed(from_address, settings, account, field="from_email")
    elif settings.from_email or account:
        from_address = parse_address(settings.from_email or account or "", field="from_email", error=ConfigurationError)
    else:
        raise ConfigurationError(
            "from_email",
            "no sender address: the connection has neither from_email nor a login",
            hint="set the connection's from_email extra, or pass from_email",
        )
    replies = parse_address_list(reply_to, field="reply_to") if reply_to else ()
    if not replies and settings.reply_to:
        replies = parse_address_list(settings.reply_to, field="extra.reply_to", error=ConfigurationError)
    return SenderIdentity(account, _with_default_name(from_address, settings), sender, replies)

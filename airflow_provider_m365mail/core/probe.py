"""Tell whether an account may send as (or on behalf of) a mailbox yet: one cheap, honest probe per call.

Exchange Online checks Send As twice: the envelope sender at ``MAIL FROM`` (550 5.7.60) and the header From after
the data (554 5.2.252 SendAsDenied), and a new grant can take an hour to reach both. So, over SMTP:

- ``envelope``: ``MAIL FROM``/``RCPT TO`` then ``RSET``: nothing is sent;
- ``message``: a small probe message to the probe recipient, marked in its subject and its ``X-M365Mail-Probe``
  header, which only a grant live at the header check lets through;
- ``auto``: the envelope first, and once it passes one probe message to confirm the header check.

Microsoft Graph has no envelope: a probe is always a message. App-only Graph needs no Send As grant; what it waits
for is an application access policy (or RBAC for Applications scope) that includes the mailbox, which answers
403 ErrorAccessDenied until it applies.

Every failure becomes a verdict: ``not_yet`` (permission missing or not propagated: keep waiting), ``transient``
(network, throttling: keep waiting), ``failed`` (credentials, SMTP AUTH off, unknown mailbox, a wrong setting:
waiting cannot help). Exchange answers a missing grant, a grant to the wrong principal and one still propagating
with the same code, so a ``not_yet`` outcome carries its likely ``cause``: who the trustee must be for this kind
of authentication (for app-only XOAUTH2 the app's service principal, not the mailbox it signs in as), and
``not_live_message`` says so on every probe, and that the grant is missing once waiting has outlasted propagation.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from dataclasses import dataclass
from enum import Enum

from airflow_provider_m365mail.core.errors import (
    ConfigurationError,
    HostNotFoundError,
    M365MailError,
    SendAsDeniedError,
    TransientSendError,
)
from airflow_provider_m365mail.core.identity import SenderIdentity, resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage, make_message_id
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, SmtpMode, TransportKind

PROBE_HEADER = "X-M365Mail-Probe"
PROBE_SUBJECT = "[m365mail probe]"
PERMISSIONS = ("send_as", "send_on_behalf")
# Exchange applies a new Send As grant within about an hour; a refusal after that is not propagation.
PROPAGATION_S = 60 * 60
# What a first probe imports, per transport: 0.3-3 s of imports that would otherwise stall the caller's loop.
_CLIENT_MODULES: dict[TransportKind, tuple[str, ...]] = {
    TransportKind.SMTP: ("msal", "requests", "aiosmtplib", "airflow_provider_m365mail.core.transports.smtp.transport"),
    TransportKind.GRAPH: (
        "msal",
        "requests",
        "httpx",
        "kiota_http.middleware.options",
        "kiota_serialization_json.json_parse_node",
        "msgraph_core",
        "msgraph.graph_service_client",
        "msgraph.generated.models.message",
        "msgraph.generated.users.item.user_item_request_builder",
        "msgraph.generated.users.item.send_mail.send_mail_request_builder",
        "msgraph.generated.users.item.send_mail.send_mail_post_request_body",
        "airflow_provider_m365mail.core.transports.graph.transport",
    ),
}


class ProbeMode(str, Enum):
    """How to probe: the SMTP envelope only, a probe message, or the envelope then one confirming message."""

    AUTO = "auto"
    MESSAGE = "message"
    ENVELOPE = "envelope"


class ProbeVerdict(str, Enum):
    """What a probe found out."""

    LIVE = "live"
    NOT_YET = "not_yet"
    FAILED = "failed"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe's verdict, the method that reached it ("envelope", "message", "envelope+message"), and why."""

    verdict: ProbeVerdict
    method: str
    detail: str
    error: M365MailError | None = None
    cause: str | None = None  # not_yet only: whose grant Exchange checks and the command that gives it


def check_probe_settings(settings: MailSettings) -> None:
    """Refuse connections without Exchange Send As grants: direct send and relay have no account, and High Volume
    Email and Azure Communication Services send without Send As at all."""
    volume = _volume_service(settings)
    if volume is not None:
        service, field, rule = volume
        raise ConfigurationError(
            field,
            f"Send As does not apply to {service}: it sends without Exchange Send As grants, so there is no grant to "
            "wait for",
            hint=f"send without SendAsPermissionSensor; {rule}",
        )
    if settings.transport is TransportKind.SMTP and settings.smtp_mode is not SmtpMode.SUBMISSION:
        raise ConfigurationError(
            "extra.smtp_mode",
            f"{settings.smtp_mode.value} has no authentication account, so there is no Send As grant to wait for",
            hint="probe with an smtp_mode submission connection (auth_type oauth2_app or basic) or transport graph",
        )
    if settings.auth_type is AuthType.NONE:
        raise ConfigurationError(
            "extra.auth_type",
            "a connection that does not authenticate has no Send As grant to wait for",
            hint="set auth_type to oauth2_app (or basic) with the account that sends",
        )


def _volume_service(settings: MailSettings) -> tuple[str, str, str] | None:
    """Return (service, field, who may send) for High Volume Email and ACS connections, else None."""
    if settings.transport is TransportKind.ACS or settings.smtp_mode is SmtpMode.ACS:
        field = "extra.transport" if settings.transport is TransportKind.ACS else "extra.smtp_mode"
        return ("Azure Communication Services Email", field,
                "the From must be a MailFrom address of a domain verified for the resource")
    if settings.smtp_mode is SmtpMode.HVE:
        return ("High Volume Email", "extra.smtp_mode",
                "the HVE account sends from addresses in the tenant's accepted domains")
    return None


def probe_identity(settings: MailSettings, mailbox: str, permission: str = "send_as") -> SenderIdentity:
    """Return the identity a send as (``send_as``) or on behalf of (``send_on_behalf``) ``mailbox`` would use.

    The connection's ``allowed_senders`` must permit the mailbox, as it must for the sends that follow.
    """
    check_probe_settings(settings)
    if permission == "send_as":
        return resolve_identity(settings, from_email=mailbox)
    if permission == "send_on_behalf":
        return resolve_identity(settings, on_behalf_of=mailbox)
    raise ConfigurationError("permission", f"{permission!r} is not one of {', '.join(PERMISSIONS)}")


def default_probe_recipient(settings: MailSettings, identity: SenderIdentity) -> str:
    """Return where probe messages go by default: the authentication account's own mailbox."""
    for candidate in (identity.auth_account, settings.from_email):
        if candidate and "@" in candidate:
            return candidate
    return identity.from_address.email  # app-only Graph without a login mailbox: the probed mailbox itself


def probe_message(identity: SenderIdentity, recipient: str, probe_id: str) -> OutgoingMessage:
    """Build the probe message: recognisable by subject and header, addressed to ``recipient`` only."""
    mailbox = identity.from_address.email
    right = "send on behalf" if identity.sender is not None else "send as"
    return OutgoingMessage.create(
        to=recipient,
        subject=f"{PROBE_SUBJECT} {right} {mailbox}",
        text=(
            f"This message checks that {identity.auth_account or 'the sending app'} may {right} {mailbox}.\n"
            "It was sent by SendAsPermissionSensor (airflow-provider-m365mail) and can be deleted.\n"
        ),
        headers={PROBE_HEADER: f"{right.replace(' ', '-')}; mailbox={mailbox}; id={probe_id}"},
        message_id=make_message_id(f"m365mail-probe:{probe_id}", identity.from_address.domain),
        save_to_sent_items=False,
    )


async def preload_transport(settings: MailSettings) -> None:
    """Import the connection's client libraries in a worker thread, so the first probe does not block the loop."""

    def load() -> None:
        for name in _CLIENT_MODULES[settings.transport]:
            importlib.import_module(name)
        if settings.transport is TransportKind.GRAPH:
            from msgraph.generated.models.message import Message

            # Parsing a message's JSON imports all ~1,100 Graph model modules on first use (about 2 s).
            Message().get_field_deserializers()

    await asyncio.to_thread(load)


def classify(error: M365MailError) -> ProbeVerdict:
    """Map a failed probe to a verdict: missing grants wait, transient errors wait, anything else fails.

    A host name that does not exist counts as a wrong setting: waiting an hour on a typo helps nobody.
    """
    if isinstance(error, SendAsDeniedError):
        return ProbeVerdict.NOT_YET
    if isinstance(error, TransientSendError) and not isinstance(error, HostNotFoundError):
        return ProbeVerdict.TRANSIENT
    return ProbeVerdict.FAILED


async def probe_send_as(
    settings: MailSettings,
    identity: SenderIdentity,
    *,
    mode: ProbeMode = ProbeMode.AUTO,
    recipient: str | None = None,
    probe_id: str | None = None,
) -> ProbeOutcome:
    """Probe once whether ``identity`` can send now; never raise for what the server answers.

    ``recipient`` receives probe messages (default: the authentication account's mailbox); ``probe_id`` names
    the probe in its header and Message-ID (default: a random one).
    """
    from airflow_provider_m365mail.core.transports import make_transport
    from airflow_provider_m365mail.core.transports.base import EnvelopeCheck

    mode = ProbeMode(mode)
    method = "envelope" if _probes_envelope(settings, identity, mode) else "message"
    try:
        check_probe_settings(settings)
        _check_mode(settings, identity, mode)
        to = recipient or default_probe_recipient(settings, identity)
        message = probe_message(identity, to, probe_id or uuid.uuid4().hex)
        async with make_transport(settings) as transport:
            if method == "envelope" and isinstance(transport, EnvelopeCheck):
                reply = await transport.check_envelope(identity, to)
                if mode is ProbeMode.ENVELOPE:
                    return ProbeOutcome(ProbeVerdict.LIVE, method, f"MAIL FROM and RCPT TO accepted: {reply}")
                method = "envelope+message"
            result = await transport.send(message, identity)
        return ProbeOutcome(ProbeVerdict.LIVE, method, f"probe message accepted: {result.reply}")
    except M365MailError as exc:
        verdict = classify(exc)
        cause = missing_grant_cause(settings, identity) if verdict is ProbeVerdict.NOT_YET else None
        return ProbeOutcome(verdict, method, str(exc), exc, cause)


def missing_grant_cause(settings: MailSettings, identity: SenderIdentity) -> str:
    """Say whose grant Exchange checks for this connection's kind of authentication, and the command that gives it.

    The trustee differs by authentication: the signed-in mailbox or user for basic and delegated OAuth, the app's
    Exchange service principal for app-only XOAUTH2, and no Send As at all (a mailbox scope) for app-only Graph.
    """
    mailbox = identity.from_address.email
    behalf = identity.sender is not None
    account = identity.auth_account or settings.username or "<signed-in account>"
    if settings.transport is TransportKind.GRAPH and settings.auth_type is AuthType.OAUTH2_APP:
        return (
            f"app-only Graph needs no Send As: the app (client id {settings.client_id}) must have Mail.Send and "
            f"its application access policy or RBAC for Applications scope must include {mailbox}; check with "
            f"Test-ServicePrincipalAuthorization -Identity {settings.client_id} -Resource {mailbox}"
        )
    if settings.auth_type is AuthType.OAUTH2_APP:
        trustee = "<service principal>"
        grant = (
            f"Set-Mailbox {mailbox} -GrantSendOnBehalfTo {trustee}" if behalf
            else f"Add-RecipientPermission -Identity {mailbox} -Trustee {trustee} -AccessRights SendAs"
        )
        return (
            f"for app-only XOAUTH2 the trustee is the app's Exchange service principal, not {account}: a grant to "
            f"the mailbox the app signs in as does not count. Find it with Get-ServicePrincipal -Identity "
            f"{settings.client_id} (created by New-ServicePrincipal -AppId {settings.client_id} -ObjectId "
            f"<Enterprise application object id>), then {grant}"
        )
    grant = (
        f"Set-Mailbox {mailbox} -GrantSendOnBehalfTo {account}" if behalf
        else f"Add-RecipientPermission -Identity {mailbox} -Trustee {account} -AccessRights SendAs"
    )
    shared = " (the app also needs the delegated permission Mail.Send.Shared)" if (
        settings.transport is TransportKind.GRAPH) else ""
    return f"the trustee is the signed-in account {account}{shared}: {grant}"


def not_live_message(outcome: ProbeOutcome, *, probes: int, waited_s: float) -> str:
    """Describe a probe that found the permission not live yet, with its likely cause and how long it has waited.

    Before the propagation time has passed the grant may be missing or still on its way; after it, only missing
    (or given to another principal) remains.
    """
    head = f"probe {probes} ({outcome.method}): {outcome.verdict.value}: {outcome.detail}"
    if outcome.cause is None:
        return head
    if waited_s < PROPAGATION_S:
        return (
            f"{head}. Either the grant is still propagating (Exchange takes up to an hour) or it was never given "
            f"to the right principal: {outcome.cause}"
        )
    return (
        f"{head}. Still refused {waited_s / 60:.0f} minutes after the first probe, longer than Exchange takes to "
        f"apply a grant: it is missing or was given to another principal. {outcome.cause}"
    )


def _probes_envelope(settings: MailSettings, identity: SenderIdentity, mode: ProbeMode) -> bool:
    # Sending on behalf keeps the authentication account in MAIL FROM: only the header check can tell.
    return settings.transport is TransportKind.SMTP and mode is not ProbeMode.MESSAGE and identity.sender is None


def _check_mode(settings: MailSettings, identity: SenderIdentity, mode: ProbeMode) -> None:
    if mode is not ProbeMode.ENVELOPE:
        return
    if settings.transport is not TransportKind.SMTP:
        raise ConfigurationError(
            "probe", f"transport {settings.transport.value} has no SMTP envelope to probe",
            hint="use probe 'auto' or 'message'",
        )
    if identity.sender is not None:
        raise ConfigurationError(
            "probe",
            "an envelope probe cannot check Send on Behalf: MAIL FROM is the authentication account itself and "
            "Exchange checks the right only on the header From after DATA",
            hint="use probe 'auto' or 'message'",
        )

"""Decide who is calling Graph and what they may do: bearer tokens, mailboxes, permissions, Send As, throttling.

Every Graph mail route goes through ``graph_route``, which counts the request, checks the bearer token for the
Graph audience, resolves ``/users/{id}`` or ``/me`` to a mailbox, applies injected faults and holds one of the
app's concurrent-request slots for that mailbox (the fifth gets 429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from .config import GRAPH_AUDIENCE, Mailbox
from .http_wire import STATE, ApiError, graph_error
from .mime_from_graph import Address
from .state import SandboxState, StoredMessage
from .tokens import InvalidToken

if TYPE_CHECKING:
    from .graph_drafts import Draft, UploadSession

SEND_AS_DENIED = ("The user account which was used to submit this request does not have the right to send mail on "
                  "behalf of the specified sending account., Cannot submit message.")
ACCESS_DENIED = "Access is denied. Check credentials and try again."
POLICY_DENIED = "Access to OData is disabled: blocked by tenant configured AppOnly AccessPolicy settings."
SAVED_BY_SMTP = ("smtp_submission", "smtp_ssl")  # client submission saves to Sent Items; direct send and relay do not


@dataclass(frozen=True)
class Caller:
    """The principal behind a Graph request: an app alone, or a user signed in through an app."""

    app_id: str
    user: str | None
    roles: frozenset[str]
    scopes: frozenset[str]

    @property
    def principal(self) -> str:
        """Return who the message store records: the user's address, or the app's client id."""
        return self.user or self.app_id


@dataclass
class GraphStore:
    """What Graph keeps between requests: drafts, upload sessions, and which mailbox saved what to Sent Items."""

    drafts: dict[str, Draft] = field(default_factory=dict)
    uploads: dict[str, UploadSession] = field(default_factory=dict)
    sent_items: dict[str, str] = field(default_factory=dict)  # stored message id -> mailbox address

    def clear(self) -> None:
        """Forget every draft, upload session (and its bytes) and Sent Items record."""
        for draft in list(self.drafts.values()):
            self.discard(draft)
        self.sent_items.clear()

    def discard(self, draft: Draft) -> None:
        """Forget a draft (sent or deleted) with its upload sessions and their bytes on disk."""
        self.drafts.pop(draft.id, None)
        for upload in draft.uploads:
            self.uploads.pop(upload.id, None)
            upload.path.unlink(missing_ok=True)

    def drafts_of(self, mailbox: str) -> list[Draft]:
        """Return the drafts in ``mailbox``'s Drafts folder, oldest first."""
        return [d for d in self.drafts.values() if d.mailbox.casefold() == mailbox.casefold()]

    def in_sent_items(self, message: StoredMessage, mailbox: str) -> bool:
        """Tell whether ``message`` sits in ``mailbox``'s Sent Items."""
        if message.transport == "graph":
            return self.sent_items.get(message.id, "").casefold() == mailbox.casefold()
        owners = {(message.principal or "").casefold(), message.envelope_from.casefold()}
        return message.transport in SAVED_BY_SMTP and mailbox.casefold() in owners


GRAPH_STORE: web.AppKey[GraphStore] = web.AppKey("m365_sandbox_graph_store", GraphStore)
GraphHandler = Callable[[web.Request, Caller, Mailbox], Awaitable[web.StreamResponse]]


def graph_route(handler: GraphHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a Graph mail handler with authentication, mailbox resolution, faults and the concurrency limit."""

    async def route(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        state.stats["graph_requests"] += 1
        caller = authenticate(request)
        mailbox = resolve_mailbox(request, caller, request.match_info.get("user"))
        await apply_fault(request)
        with concurrency_slot(request, caller, mailbox):
            return await handler(request, caller, mailbox)

    return route


def authenticate(request: web.Request) -> Caller:
    """Return the caller of a bearer token valid for Graph; 401 ``InvalidAuthenticationToken`` otherwise."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                 'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
    if scheme.casefold() != "bearer" or not value.strip():
        raise graph_error(request, 401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
    try:
        claims = request.app[STATE].tokens.verify(value.strip(), GRAPH_AUDIENCE)
    except InvalidToken as exc:
        raise graph_error(request, 401, "InvalidAuthenticationToken",
                          f"Access token validation failure: {exc}.", challenge) from exc
    user = claims.get("upn") if "scp" in claims else None
    return Caller(
        app_id=str(claims.get("appid", "")),
        user=str(user) if user else None,
        roles=frozenset(claims.get("roles") or ()),
        scopes=frozenset(str(claims.get("scp") or "").split()),
    )


def resolve_mailbox(request: web.Request, caller: Caller, user_id: str | None) -> Mailbox:
    """Return the mailbox of ``/users/{id}`` (or ``/me``), enforcing app access policies."""
    tenant = request.app[STATE].tenant
    if user_id is None:
        if caller.user is None:
            raise graph_error(request, 400, "BadRequest",
                              "/me request is only valid with delegated authentication flow.")
        user_id = caller.user
    mailbox = tenant.mailbox(user_id)
    if mailbox is None:
        raise graph_error(request, 404, "ErrorInvalidUser", f"The requested user '{user_id}' is invalid.")
    if not mailbox.rest_enabled:
        raise graph_error(request, 404, "MailboxNotEnabledForRESTAPI",
                          "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
    if caller.user is None and not request.app[STATE].in_graph_scope(caller.app_id, mailbox.address):
        request.app[STATE].refuse_send_as("graph", mailbox.address)
        raise graph_error(request, 403, "ErrorAccessDenied", POLICY_DENIED)
    return mailbox


def require(request: web.Request, caller: Caller, *, roles: Set[str], scopes: Set[str]) -> None:
    """Demand one of ``roles`` (app-only) or one of ``scopes`` (delegated); 403 ``ErrorAccessDenied`` otherwise."""
    held = caller.scopes if caller.user else caller.roles
    if not held & (scopes if caller.user else roles):
        raise graph_error(request, 403, "ErrorAccessDenied", ACCESS_DENIED)


def authorize_sender(
    request: web.Request, caller: Caller, mailbox: Mailbox, from_: Address | None, sender: Address | None
) -> tuple[Address, Address | None]:
    """Return the From and Sender to store, or raise 403 ``ErrorSendAsDenied``.

    The acting mailbox is the signed-in user (delegated) or the mailbox in the URL (app-only). Sending as anyone
    else needs Send As on that address; with Send on Behalf the message goes out with Sender = the acting mailbox.
    Delegated callers also need ``Mail.Send.Shared`` to act for another mailbox.
    """
    state = request.app[STATE]
    actor = caller.user or mailbox.address
    sending_as = _resolved(state, from_ or Address(mailbox.address))
    own = (sending_as.address.casefold() == actor.casefold() and mailbox.address.casefold() == actor.casefold())
    if caller.user and not own and "Mail.Send.Shared" not in caller.scopes:
        raise graph_error(request, 403, "ErrorSendAsDenied", SEND_AS_DENIED)
    for target in {mailbox.address.casefold(), sending_as.address.casefold()} - {actor.casefold()}:
        if not (state.has_right(actor, target, "send_as") or state.has_right(actor, target, "send_on_behalf")):
            state.refuse_send_as("graph", target)
            raise graph_error(request, 403, "ErrorSendAsDenied", SEND_AS_DENIED)
    if sending_as.address.casefold() == actor.casefold() or state.has_right(actor, sending_as.address, "send_as"):
        keep = sender if sender is not None and sender.address.casefold() == actor.casefold() else None
        return sending_as, keep
    return sending_as, _resolved(state, Address(actor))


def _resolved(state: SandboxState, address: Address) -> Address:
    """Return the address with the directory's display name when the sender gave none, as Exchange shows it."""
    known = state.tenant.mailbox(address.address)
    return Address(address.address, known.display_name) if known and not address.name else address


def route_of(request: web.Request) -> str:
    """Return what a fault's ``route`` is matched against: ``"METHOD /path"``."""
    return f"{request.method} {request.path}"


async def apply_fault(request: web.Request) -> None:
    """Answer with the armed Graph fault, if any (a timeout waits, bounded, then answers 504)."""
    state = request.app[STATE]
    fault = state.take_fault("graph", kinds=("reply", "timeout"), route=route_of(request))
    if fault is None:
        return
    if fault.kind == "timeout":
        await asyncio.sleep(fault.wait_s())
        raise graph_error(request, 504, "GatewayTimeout", fault.message or "The gateway did not receive a response.")
    status = fault.code or 503
    code, text = {
        429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
        503: ("ServiceNotAvailable", "The service is temporarily unavailable. Please retry later."),
        504: ("GatewayTimeout", "The gateway did not receive a response in time."),
    }.get(status, ("ErrorInternalServerTransientError", "A transient error occurred. Please retry."))
    headers = {"Retry-After": str(int(fault.retry_after_s))} if fault.retry_after_s is not None else None
    raise graph_error(request, status, code, fault.message or text, headers)


@contextmanager
def concurrency_slot(request: web.Request, caller: Caller, mailbox: Mailbox) -> Iterator[None]:
    """Hold one of the app's concurrent Graph requests for the mailbox; 429 when none is free."""
    state = request.app[STATE]
    key = f"{caller.app_id}|{mailbox.address.casefold()}"
    if not state.open_graph_request(key):
        retry_after = str(state.tenant.limits.graph_retry_after_s)
        raise graph_error(request, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                          {"Retry-After": retry_after})
    try:
        yield
    finally:
        state.close_graph_request(key)


def deliver(
    request: web.Request,
    *,
    raw: bytes,
    from_: Address,
    recipients: list[str] | tuple[str, ...],
    caller: Caller,
    mailbox: Mailbox,
    save_to_sent_items: bool,
) -> StoredMessage:
    """Store an authorised message as Exchange accepted it (and remember it in Sent Items if asked)."""
    state: SandboxState = request.app[STATE]
    if not recipients:
        raise graph_error(request, 400, "ErrorInvalidRecipients", "At least one recipient is not valid., A message "
                          "can't be sent because it contains no recipients.")
    if len(recipients) > state.tenant.limits.recipients_per_message:
        raise graph_error(request, 400, "ErrorTooManyRecipients",
                          f"The message has more than {state.tenant.limits.recipients_per_message} recipients.")
    if len(raw) > state.tenant.limits.max_message_size:
        raise graph_error(request, 400, "ErrorMessageSizeExceeded",
                          "The message exceeds the maximum supported size.")
    stored = state.store_message(raw=raw, envelope_from=from_.address, envelope_to=list(recipients),
                                 transport="graph", principal=caller.principal)
    if save_to_sent_items:
        request.app[GRAPH_STORE].sent_items[stored.id] = mailbox.address
    return stored


def graph_request_too_large(request: web.Request) -> ApiError:
    """The 413 Graph answers for a request body over its limit."""
    limit = request.app[STATE].tenant.limits.graph_request_limit
    return graph_error(request, 413, "ErrorRequestEntityTooLarge",
                       f"The maximum request length supported is {limit / (1024 * 1024):g}MB.")


def graph_invalid_json(request: web.Request) -> ApiError:
    """The 400 Graph answers for a body that is not a JSON object."""
    return graph_error(request, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                       "header is set and payload is of valid JSON format.")

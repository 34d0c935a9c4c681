"""Emulate Microsoft Graph v1.0 mail: sendMail (JSON and MIME forms) and the Sent Items lookup.

Drafts, attachments and upload sessions live in ``graph_drafts``; who may do what in ``graph_access``. Accepted
messages are converted to MIME and stored with transport ``"graph"``; success is ``202 Accepted`` with no body.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import formatdate, make_msgid
from typing import Any

from aiohttp import web

from . import graph_drafts
from .config import Mailbox
from .graph_access import (
    GRAPH_STORE,
    Caller,
    GraphStore,
    authorize_sender,
    deliver,
    graph_invalid_json,
    graph_request_too_large,
    graph_route,
    require,
    route_of,
)
from .http_wire import STATE, graph_error, read_json_object, read_limited
from .mime_from_graph import (
    InvalidGraphMessage,
    decode_mime_submission,
    field,
    finish_mime,
    graph_to_mime,
    parse_graph_message,
)
from .state import FaultKind

SEND_ROLES = frozenset({"Mail.Send"})
SEND_SCOPES = frozenset({"Mail.Send", "Mail.Send.Shared"})
READ_ROLES = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.ReadBasic.All"})
READ_SCOPES = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.Read.Shared", "Mail.ReadWrite.Shared"})
_LOSE_ANSWER: tuple[FaultKind, ...] = ("lose_answer",)
_FILTER = re.compile(r"\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)


def add_routes(app: web.Application) -> None:
    """Register the Graph mail routes under ``/v1.0`` (each for ``/users/{user}`` and ``/me``)."""
    app[GRAPH_STORE] = GraphStore()
    for prefix in ("/v1.0/users/{user}", "/v1.0/me"):
        app.router.add_post(f"{prefix}/sendMail", graph_route(send_mail))
        app.router.add_get(f"{prefix}/mailFolders/{{folder}}/messages", graph_route(folder_messages))
        graph_drafts.add_routes(app, prefix)
    graph_drafts.add_upload_route(app)


async def send_mail(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``POST /users/{id}/sendMail``: JSON ``{"message", "saveToSentItems"}`` or base64 MIME as text/plain."""
    require(request, caller, roles=SEND_ROLES, scopes=SEND_SCOPES)
    if request.content_type == "text/plain":
        return await _send_mime(request, caller, mailbox)
    data = await read_json_object(request, request.app[STATE].tenant.limits.graph_request_limit,
                                  graph_invalid_json(request), graph_request_too_large(request))
    message = field(data, "message")
    if not isinstance(message, Mapping):
        raise graph_error(request, 400, "ErrorInvalidParameter", "The 'message' parameter is missing or not an object.")
    save = field(data, "saveToSentItems")
    if save is not None and not isinstance(save, bool):
        raise graph_error(request, 400, "ErrorInvalidParameter", "'saveToSentItems' must be true or false.")
    try:
        parsed = parse_graph_message(message)
    except InvalidGraphMessage as exc:
        raise graph_error(request, 400, exc.code, exc.message) from exc
    from_, sender = authorize_sender(request, caller, mailbox, parsed.from_, parsed.sender)
    raw = graph_to_mime(parsed, from_=from_, sender=sender)
    deliver(request, raw=raw, from_=from_, recipients=parsed.recipients(), caller=caller, mailbox=mailbox,
            save_to_sent_items=save is not False)
    _lose_answer(request)
    return web.Response(status=202)


def _lose_answer(request: web.Request) -> None:
    """Answer 504 to a request already carried out, when a "lose_answer" fault is armed (the client cannot know)."""
    if request.app[STATE].take_fault("graph", kinds=_LOSE_ANSWER, route=route_of(request)) is not None:
        raise graph_error(request, 504, "GatewayTimeout", "The gateway did not receive a response in time.")


async def _send_mime(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    body = await read_limited(request, request.app[STATE].tenant.limits.graph_request_limit,
                              graph_request_too_large(request))
    try:
        submission = decode_mime_submission(body)
    except InvalidGraphMessage as exc:
        raise graph_error(request, 400, exc.code, exc.message) from exc
    from_, sender = authorize_sender(request, caller, mailbox, submission.from_, submission.sender)
    raw = finish_mime(
        submission.raw,
        replace={"Sender": sender.header()} if sender is not None else {},
        defaults={"From": from_.header(), "Date": formatdate(usegmt=True), "Message-ID": _message_id(from_.address)},
        drop=("Bcc",) if sender is not None else ("Bcc", "Sender"),
    )
    deliver(request, raw=raw, from_=from_, recipients=submission.recipients, caller=caller, mailbox=mailbox,
            save_to_sent_items=True)
    return web.Response(status=202)


def _message_id(address: str) -> str:
    return make_msgid(domain=address.rpartition("@")[2] or "sandbox.invalid")


async def folder_messages(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``GET /users/{id}/mailFolders/sentitems/messages[?$filter=internetMessageId eq '<id>']``."""
    require(request, caller, roles=READ_ROLES, scopes=READ_SCOPES)
    folder = request.match_info["folder"]
    if folder.casefold() != "sentitems":
        raise graph_error(request, 404, "ErrorItemNotFound",
                          f"The sandbox keeps the sentitems folder only, not '{folder}'.")
    wanted: str | None = None
    query = request.query.get("$filter")
    if query:
        match = _FILTER.fullmatch(query)
        if match is None:
            raise graph_error(request, 400, "ErrorInvalidUrlQueryFilter",
                              "The sandbox filters Sent Items by \"internetMessageId eq '<id>'\" only.")
        wanted = match.group(1).replace("''", "'")
    state = request.app[STATE]
    store = request.app[GRAPH_STORE]
    candidates = state.messages() if wanted is None else state.find_by_internet_message_id(wanted)
    found = [m for m in reversed(candidates) if store.in_sent_items(m, mailbox.address)]
    value: list[dict[str, Any]] = [{
        "id": m.id,
        "internetMessageId": m.message_id,
        "subject": m.subject,
        "sentDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.received_at)),
        "from": {"emailAddress": {"address": m.envelope_from}},
    } for m in found]
    context = f"{request.scheme}://{request.host}/v1.0/$metadata#users('{mailbox.address}')/mailFolders('sentitems')/messages"
    return web.json_response({"@odata.context": context, "value": value})

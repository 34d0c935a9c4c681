"""Emulate Graph's draft route for large attachments: draft, attachments, upload session, ranged PUTs, send.

Attachments from 3 MB to 150 MB go through an upload session: ``createUploadSession`` returns an ``uploadUrl``
that carries its own credential, the client PUTs byte ranges (``Content-Range: bytes a-b/total``) without an
Authorization header, and ``POST .../send`` submits the draft. Uploaded bytes are written to
``state_dir/uploads`` as they arrive, never held in memory.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .config import Mailbox
from .graph_access import (
    GRAPH_STORE,
    Caller,
    authorize_sender,
    deliver,
    graph_invalid_json,
    graph_request_too_large,
    graph_route,
    require,
)
from .http_wire import STATE, graph_error, read_json_object
from .mime_from_graph import (
    Attachment,
    InvalidGraphMessage,
    graph_to_mime,
    guess_type,
    parse_attachment,
    parse_graph_message,
)
from .mime_from_graph import (
    field as prop,
)

WRITE_ROLES = frozenset({"Mail.ReadWrite"})
WRITE_SCOPES = frozenset({"Mail.ReadWrite", "Mail.ReadWrite.Shared"})
SEND_ROLES = frozenset({"Mail.Send"})
SEND_SCOPES = frozenset({"Mail.Send", "Mail.Send.Shared"})
MIN_UPLOAD = 3 * 1024 * 1024
MAX_UPLOAD = 150 * 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024
SESSION_LIFETIME_S = 15 * 60
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


@dataclass
class UploadSession:
    """One attachment being uploaded in byte ranges to a file."""

    id: str
    token: str
    draft_id: str
    name: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    path: Path
    expires_at: float
    received: int = 0

    @property
    def complete(self) -> bool:
        """Tell whether every byte has arrived."""
        return self.received == self.size


@dataclass
class Draft:
    """A draft message in a mailbox, with the attachments added to it."""

    id: str
    mailbox: str
    message: dict[str, Any]
    attachments: list[Attachment] = field(default_factory=list)
    uploads: list[UploadSession] = field(default_factory=list)


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the draft routes under ``prefix`` (``/v1.0/users/{user}`` or ``/v1.0/me``)."""
    app.router.add_post(f"{prefix}/messages", graph_route(create_draft))
    app.router.add_post(f"{prefix}/messages/{{message_id}}/attachments", graph_route(add_attachment))
    app.router.add_post(f"{prefix}/messages/{{message_id}}/attachments/createUploadSession",
                        graph_route(create_upload_session))
    app.router.add_post(f"{prefix}/messages/{{message_id}}/send", graph_route(send_draft))
    app.router.add_delete(f"{prefix}/messages/{{message_id}}", graph_route(delete_draft))


def add_upload_route(app: web.Application) -> None:
    """Register the pre-authenticated upload URL routes."""
    app.router.add_put("/_upload/{session_id}", upload_range)
    app.router.add_get("/_upload/{session_id}", upload_status)


async def _json(request: web.Request) -> dict[str, Any]:
    limit = request.app[STATE].tenant.limits.graph_request_limit
    return await read_json_object(request, limit, graph_invalid_json(request), graph_request_too_large(request))


def _draft(request: web.Request, mailbox: Mailbox) -> Draft:
    draft: Draft | None = request.app[GRAPH_STORE].drafts.get(request.match_info["message_id"])
    if draft is None or draft.mailbox.casefold() != mailbox.address.casefold():
        raise graph_error(request, 404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return draft


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


async def create_draft(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``POST /users/{id}/messages``: save a draft (it may carry small attachments)."""
    require(request, caller, roles=WRITE_ROLES, scopes=WRITE_SCOPES)
    message = await _json(request)
    try:
        parsed = parse_graph_message(message)
    except InvalidGraphMessage as exc:
        raise graph_error(request, 400, exc.code, exc.message) from exc
    draft = Draft(id=secrets.token_urlsafe(32), mailbox=mailbox.address, message=message)
    request.app[GRAPH_STORE].drafts[draft.id] = draft
    now = _iso(time.time())
    shown = {k: v for k, v in message.items() if k.casefold() != "attachments"}
    return web.json_response({
        **shown,
        "id": draft.id,
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "isDraft": True,
        "hasAttachments": bool(parsed.attachments),
        "subject": parsed.subject,
    }, status=201)


async def add_attachment(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``POST /users/{id}/messages/{mid}/attachments``: attach a small fileAttachment to a draft."""
    require(request, caller, roles=WRITE_ROLES, scopes=WRITE_SCOPES)
    draft = _draft(request, mailbox)
    try:
        attachment = parse_attachment(await _json(request))
    except InvalidGraphMessage as exc:
        raise graph_error(request, 400, exc.code, exc.message) from exc
    draft.attachments.append(attachment)
    return web.json_response({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": secrets.token_urlsafe(16),
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": len(attachment.data),
        "isInline": attachment.is_inline,
        "contentId": attachment.content_id,
    }, status=201)


async def create_upload_session(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``POST .../attachments/createUploadSession`` with ``{"AttachmentItem": {"name", "size", ...}}``."""
    require(request, caller, roles=WRITE_ROLES, scopes=WRITE_SCOPES)
    draft = _draft(request, mailbox)
    item = prop(await _json(request), "attachmentItem")
    if not isinstance(item, Mapping):
        raise graph_error(request, 400, "ErrorInvalidParameter", "The 'AttachmentItem' parameter is required.")
    kind = str(prop(item, "attachmentType") or "file")
    name, size = prop(item, "name"), prop(item, "size")
    if kind.casefold() != "file":
        raise graph_error(request, 400, "ErrorInvalidParameter", f"The sandbox uploads file attachments, not {kind}.")
    if not isinstance(name, str) or not name:
        raise graph_error(request, 400, "ErrorInvalidParameter", "'AttachmentItem.name' is required.")
    if not isinstance(size, int) or isinstance(size, bool):
        raise graph_error(request, 400, "ErrorInvalidParameter", "'AttachmentItem.size' must be an integer.")
    if size < MIN_UPLOAD:
        raise graph_error(request, 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                          "Attachment size must be greater than the minimum size.")
    if size > MAX_UPLOAD:
        raise graph_error(request, 400, "ErrorAttachmentSizeExceeded",
                          "The attachment exceeds the maximum attachment size of 150 MB.")
    uploads_dir = request.app[STATE].state_dir / "uploads"
    uploads_dir.mkdir(exist_ok=True)
    session_id = secrets.token_hex(16)
    session = UploadSession(
        id=session_id,
        token=secrets.token_urlsafe(32),
        draft_id=draft.id,
        name=name,
        content_type=str(prop(item, "contentType") or guess_type(name)),
        size=size,
        is_inline=bool(prop(item, "isInline")),
        content_id=prop(item, "contentId"),
        path=uploads_dir / f"{session_id}.part",
        expires_at=time.time() + SESSION_LIFETIME_S,
    )
    session.path.touch()
    draft.uploads.append(session)
    request.app[GRAPH_STORE].uploads[session.id] = session
    base = f"{request.scheme}://{request.host}"
    return web.json_response({
        "@odata.context": f"{base}/v1.0/$metadata#microsoft.graph.uploadSession",
        "uploadUrl": f"{base}/_upload/{session.id}?tempauth={session.token}",
        "expirationDateTime": _iso(session.expires_at),
        "nextExpectedRanges": ["0-"],
    }, status=201)


def _upload_session(request: web.Request) -> UploadSession:
    """Return the session of an upload URL, checking the credential it carries (and that no other was sent)."""
    session: UploadSession | None = request.app[GRAPH_STORE].uploads.get(request.match_info["session_id"])
    if session is None:
        raise graph_error(request, 404, "ErrorItemNotFound", "The upload session does not exist or has ended.")
    if not hmac.compare_digest(request.query.get("tempauth", "").encode(), session.token.encode()):
        raise graph_error(request, 401, "InvalidAuthenticationToken", "The upload URL's credential is not valid.")
    if "Authorization" in request.headers:
        raise graph_error(request, 401, "InvalidAuthenticationToken", "An upload URL carries its own credential: "
                          f"send the {request.method} without an Authorization header.")
    return session


def _upload_progress(session: UploadSession) -> dict[str, Any]:
    """Return what Graph says about an upload session: when it expires and which bytes it still expects."""
    missing = [] if session.complete else [f"{session.received}"]  # Outlook's form: the next offset alone
    return {"expirationDateTime": _iso(session.expires_at), "nextExpectedRanges": missing}


async def upload_status(request: web.Request) -> web.Response:
    """``GET`` an upload URL: 200 with ``expirationDateTime`` and ``nextExpectedRanges`` (to resume from)."""
    return web.json_response(_upload_progress(_upload_session(request)))


async def upload_range(request: web.Request) -> web.Response:
    """``PUT`` one byte range to an upload URL: 200 with ``nextExpectedRanges``, 201 once complete."""
    session = _upload_session(request)
    match = _RANGE.fullmatch(request.headers.get("Content-Range", "").strip())
    if match is None:
        raise graph_error(request, 400, "InvalidContentRange", "The Content-Range header must read "
                          "'bytes <first>-<last>/<total>'.")
    first, last, total = (int(g) for g in match.groups())
    if total != session.size:
        raise graph_error(request, 400, "InvalidContentRange",
                          f"The total size {total} differs from the session's {session.size} bytes.")
    if first != session.received or last < first or last >= total:
        raise graph_error(request, 416, "InvalidRange", f"The range {first}-{last} is not the expected next range "
                          f"{session.received}-.")
    length = last - first + 1
    if length > MAX_CHUNK:
        raise graph_error(request, 413, "ErrorRequestEntityTooLarge",
                          f"Upload at most {MAX_CHUNK} bytes per request.")
    if request.content_length != length:
        raise graph_error(request, 400, "InvalidContentLength",
                          f"Content-Length must equal the range's {length} bytes.")
    written = 0
    with session.path.open("r+b") as out:
        out.seek(first)
        async for chunk in request.content.iter_chunked(256 * 1024):
            written += len(chunk)
            if written > length:
                break
            out.write(chunk)
        if written != length:
            out.truncate(first)
            raise graph_error(request, 400, "InvalidContentLength",
                              f"Received {written} bytes for a range of {length}.")
    session.received = last + 1
    if session.complete:
        location = f"{request.scheme}://{request.host}/v1.0/attachments/{session.id}"
        return web.Response(status=201, headers={"Location": location})
    return web.json_response(_upload_progress(session))


async def send_draft(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``POST /users/{id}/messages/{mid}/send``: submit the draft with its attachments; it moves to Sent Items."""
    require(request, caller, roles=SEND_ROLES, scopes=SEND_SCOPES)
    draft = _draft(request, mailbox)
    try:
        parsed = parse_graph_message(draft.message)
    except InvalidGraphMessage as exc:
        raise graph_error(request, 400, exc.code, exc.message) from exc
    from_, sender = authorize_sender(request, caller, mailbox, parsed.from_, parsed.sender)
    uploaded = [
        Attachment(u.name, u.content_type, u.path.read_bytes(), u.is_inline, u.content_id)
        for u in draft.uploads if u.complete
    ]
    raw = graph_to_mime(parsed, from_=from_, sender=sender, extra_attachments=[*draft.attachments, *uploaded])
    deliver(request, raw=raw, from_=from_, recipients=parsed.recipients(), caller=caller, mailbox=mailbox,
            save_to_sent_items=True)
    request.app[GRAPH_STORE].discard(draft)
    return web.Response(status=202)


async def delete_draft(request: web.Request, caller: Caller, mailbox: Mailbox) -> web.Response:
    """``DELETE /users/{id}/messages/{mid}``: delete a draft with its attachments and upload sessions (204)."""
    require(request, caller, roles=WRITE_ROLES, scopes=WRITE_SCOPES)
    request.app[GRAPH_STORE].discard(_draft(request, mailbox))
    return web.Response(status=204)

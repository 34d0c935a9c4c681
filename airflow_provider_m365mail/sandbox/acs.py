"""Emulate Azure Communication Services Email's REST API: ``POST /emails:send`` and its operation status.

A send answers ``202 Accepted`` with an ``Operation-Location`` and ``Retry-After``; polling it answers ``Running``
(``AcsResource.polls_running`` times) and then ``Succeeded``, or ``Failed`` with the error a "fail_operation"
fault names. Callers sign in with an Entra token for ``https://communication.azure.com`` of an app holding a role
on the resource, or sign with its access key (HMAC-SHA256). A repeated ``Operation-Id`` returns the operation
already made instead of sending again. Errors use ACS's ``{"error": {"code", "message"}}``; "reply" faults on
target "acs" answer with their code (a 429 with ``Retry-After``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

from aiohttp import web

from .config import ACS_AUDIENCE
from .http_wire import STATE, ApiError, read_limited
from .state import FaultKind, SandboxState
from .tokens import InvalidToken

API_VERSION = "2025-09-01"
_REPLY: tuple[FaultKind, ...] = ("reply",)
_FAIL: tuple[FaultKind, ...] = ("fail_operation",)
OPERATIONS: web.AppKey[dict[str, Operation]] = web.AppKey("m365_sandbox_acs_operations", dict)


@dataclass
class Operation:
    """A send operation: its id, the polls still answered Running, and how it ends."""

    id: str
    polls_left: int
    error: dict[str, str] | None = None


def add_routes(app: web.Application) -> None:
    """Register ``POST /emails:send`` and ``GET /emails/operations/{id}``."""
    app[OPERATIONS] = {}
    app.router.add_post("/emails:send", send)
    app.router.add_get("/emails/operations/{operation_id}", status)


def acs_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """Return an error in ACS's shape."""
    return ApiError(status, {"error": {"code": code, "message": message}}, headers)


async def send(request: web.Request) -> web.Response:
    """Accept a message for sending; 202 with the operation to poll."""
    state = request.app[STATE]
    resource = state.tenant.acs
    state.stats["acs_requests"] += 1
    raw_body = await read_limited(request, resource.max_request_bytes, acs_error(
        413, "RequestEntityTooLarge", f"The request body is over {resource.max_request_bytes} bytes."))
    principal = _authorize(request, state, raw_body)
    _check_version(request)
    fault = state.take_fault("acs", kinds=_REPLY, route=f"POST {request.path}")
    if fault is not None:
        code = fault.code or 429
        wait = {"Retry-After": f"{fault.retry_after_s:g}"} if fault.retry_after_s is not None else {}
        state.stats["acs_throttled" if code == 429 else "acs_refused"] += 1
        raise acs_error(code, "TooManyRequests" if code == 429 else "InjectedFault",
                        fault.message or "Too many requests. Retry later.", wait)
    try:
        body = json.loads(raw_body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise acs_error(400, "BadRequest", "The request body is not a JSON object.")
    operations = request.app[OPERATIONS]
    operation_id = request.headers.get("Operation-Id") or str(uuid.uuid4())
    operation = operations.get(operation_id)
    if operation is None:
        operation = Operation(operation_id, resource.polls_running)
        failing = state.take_fault("acs", kinds=_FAIL)
        if failing is not None:
            name, _, text = (failing.message or "EmailSendFailed: The email could not be sent.").partition(": ")
            operation.error = {"code": name, "message": text or name}
        else:
            _store(state, body, operation_id, principal)
        operations[operation_id] = operation
    location = f"{request.scheme}://{request.host}/emails/operations/{operation_id}?api-version={API_VERSION}"
    return web.json_response({"id": operation_id, "status": "Running", "error": None}, status=202,
                             headers={"Operation-Location": location, "Retry-After": "0"})


async def status(request: web.Request) -> web.Response:
    """Answer an operation's status: Running for a while, then Succeeded or Failed."""
    state = request.app[STATE]
    _authorize(request, state, await request.read())
    _check_version(request)
    operation = request.app[OPERATIONS].get(request.match_info["operation_id"])
    if operation is None:
        raise acs_error(404, "NotFound", "The operation was not found.")
    if operation.polls_left > 0:
        operation.polls_left -= 1
        return web.json_response({"id": operation.id, "status": "Running", "error": None},
                                 headers={"Retry-After": "0"})
    final = "Failed" if operation.error else "Succeeded"
    return web.json_response({"id": operation.id, "status": final, "error": operation.error})


def _check_version(request: web.Request) -> None:
    if request.query.get("api-version") != API_VERSION:
        raise acs_error(400, "UnsupportedApiVersion",
                        f"The api-version {request.query.get('api-version')!r} is not supported; use {API_VERSION}.")


def _authorize(request: web.Request, state: SandboxState, body: bytes) -> str:
    """Return who calls (an app's client id, or "access_key"); raise 401 / 403 as ACS does."""
    auth = request.headers.get("Authorization", "")
    resource = state.tenant.acs
    if auth.startswith("Bearer "):
        try:
            claims = state.tokens.verify(auth[7:].strip(), ACS_AUDIENCE)
        except InvalidToken as exc:
            raise acs_error(401, "Unauthorized", f"Denied by the resource provider: {exc}.") from exc
        client_id = str(claims.get("appid", ""))
        if client_id not in resource.role_apps:
            raise acs_error(403, "Forbidden", "The principal does not have the required permissions on the resource.")
        return client_id
    if auth.startswith("HMAC-SHA256 ") and _signature_valid(request, body, resource.access_key, auth):
        return "access_key"
    raise acs_error(401, "Unauthorized", "Denied by the resource provider.")


def _signature_valid(request: web.Request, body: bytes, access_key: str, auth: str) -> bool:
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if request.headers.get("x-ms-content-sha256") != content_hash:
        return False
    date = request.headers.get("x-ms-date", "")
    to_sign = f"{request.method}\n{request.path_qs}\n{date};{request.host};{content_hash}"
    expected = base64.b64encode(
        hmac.new(base64.b64decode(access_key), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(auth.rpartition("Signature=")[2], expected)


def _store(state: SandboxState, body: dict[str, Any], operation_id: str, principal: str) -> None:
    """Check the message as ACS does (verified sender domain, 50 recipients) and store it as MIME."""
    resource = state.tenant.acs
    sender = str(body.get("senderAddress", ""))
    if sender.rpartition("@")[2].casefold() not in {d.casefold() for d in resource.sender_domains}:
        raise acs_error(400, "BadRequest", "The sender address is not a MailFrom address of a linked domain.")
    recipients = body.get("recipients") or {}
    listed = {kind: [r for r in recipients.get(kind) or [] if isinstance(r, dict)] for kind in ("to", "cc", "bcc")}
    everyone = [str(r.get("address", "")) for kind in listed.values() for r in kind]
    if not everyone or len(everyone) > resource.recipients_per_message:
        raise acs_error(400, "BadRequest", f"A message needs 1 to {resource.recipients_per_message} recipients.")
    content = body.get("content") or {}
    message = EmailMessage()
    message["From"] = sender
    for kind in ("to", "cc"):
        if listed[kind]:
            message[kind.capitalize()] = ", ".join(formataddr((r.get("displayName", ""), r["address"]))
                                                   for r in listed[kind])
    message["Subject"] = str(content.get("subject", ""))
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{operation_id}@azurecomm.net>"
    for name, value in (body.get("headers") or {}).items():
        message[name] = str(value)
    message.set_content(str(content.get("plainText", "")))
    if content.get("html"):
        message.add_alternative(str(content["html"]), subtype="html")
    for attachment in body.get("attachments") or []:
        maintype, _, subtype = str(attachment.get("contentType", "application/octet-stream")).partition("/")
        message.add_attachment(base64.b64decode(attachment.get("contentInBase64", "")), maintype=maintype,
                               subtype=subtype or "octet-stream", filename=str(attachment.get("name", "")))
    state.store_message(raw=message.as_bytes(), envelope_from=sender, envelope_to=everyone, transport="acs",
                        principal=principal)

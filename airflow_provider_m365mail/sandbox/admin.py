"""The sandbox's JSON admin API under ``/_sandbox``: messages, drafts, grants, access policies, faults, stats, tenant,
reset.

Unauthenticated by design: the sandbox binds loopback only. Request bodies are validated field by field
(``admin_fields``) and a mistake answers 400 naming the field, so a test script learns what it got wrong.
"""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from typing import Any, cast, get_args

from aiohttp import web

from .admin_fields import flag, invalid, number, only, text
from .admin_tenant import tenant_changes, tenant_view
from .config import DAY_S
from .graph_access import GRAPH_STORE
from .http_wire import STATE, read_json_object, sandbox_error
from .mailview import view_message
from .mime_from_graph import field
from .state import Fault, FaultKind, FaultTarget, SmtpStage, StoredMessage

STATS_KEYS = ("token_requests", "tokens_issued", "smtp_sessions", "smtp_messages", "graph_requests", "throttled",
              "faults_fired", "messages_accepted", "smtp_replies_held")
RIGHTS = ("send_as", "send_on_behalf")
MAX_ADMIN_BODY = 256 * 1024
MAX_DELAY_S = 7 * DAY_S  # propagation delays: Exchange takes up to two hours
MAX_RETRY_AFTER_S = DAY_S
MAX_FAULT_COUNT = 1_000_000


def add_routes(app: web.Application) -> None:
    """Register the admin API routes."""
    app.router.add_get("/_sandbox/messages", list_messages)
    app.router.add_delete("/_sandbox/messages", delete_messages)
    app.router.add_get("/_sandbox/messages/{id}", get_message)
    app.router.add_get("/_sandbox/messages/{id}/raw", get_raw)
    app.router.add_get("/_sandbox/grants", list_grants)
    app.router.add_post("/_sandbox/grants", change_grant)
    app.router.add_get("/_sandbox/graph_scope", list_graph_scope)
    app.router.add_post("/_sandbox/graph_scope", change_graph_scope)
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_post("/_sandbox/faults", add_fault)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/drafts", list_drafts)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/tenant", get_tenant)
    app.router.add_post("/_sandbox/tenant", change_tenant)
    app.router.add_post("/_sandbox/reset", reset)


async def read_body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """Return the JSON object body (``{}`` for an empty optional body); 400 for junk, 413 when oversized."""
    if optional and not request.body_exists:
        return {}
    return await read_json_object(
        request,
        MAX_ADMIN_BODY,
        sandbox_error(400, "InvalidJson", "The request body must be a JSON object."),
        sandbox_error(413, "RequestEntityTooLarge", f"Admin request bodies are limited to {MAX_ADMIN_BODY} bytes."),
        non_finite=True,  # let the field checks name the field holding NaN or Infinity
    )


def _stored(request: web.Request) -> StoredMessage:
    message = request.app[STATE].message(request.match_info["id"])
    if message is None:
        raise sandbox_error(404, "MessageNotFound", f"No stored message has id '{request.match_info['id']}'.")
    return message


async def list_messages(request: web.Request) -> web.Response:
    """``GET /_sandbox/messages``: every stored message, oldest first."""
    return web.json_response([m.as_json() for m in request.app[STATE].messages()])


async def delete_messages(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/messages``: forget every stored message."""
    state = request.app[STATE]
    count = len(state.messages())
    state.clear_messages()
    return web.json_response({"deleted": count})


async def get_message(request: web.Request) -> web.Response:
    """``GET /_sandbox/messages/{id}``: the record plus headers, bodies and attachment list."""
    message = _stored(request)
    view = view_message(request.app[STATE].raw(message.id))
    return web.json_response({**message.as_json(), **view.as_json()})


async def get_raw(request: web.Request) -> web.Response:
    """``GET /_sandbox/messages/{id}/raw``: the MIME exactly as stored."""
    message = _stored(request)
    return web.Response(body=request.app[STATE].raw(message.id), content_type="message/rfc822")


async def list_grants(request: web.Request) -> web.Response:
    """``GET /_sandbox/grants``: every Send As / Send on Behalf grant and when it takes effect."""
    return web.json_response(request.app[STATE].grants_view())


async def change_grant(request: web.Request) -> web.Response:
    """``POST /_sandbox/grants``: grant (with a propagation delay) or revoke a right."""
    body = await read_body(request)
    only(body, {"principal", "mailbox", "right", "delay_s", "revoke"})
    principal = text("principal", body.get("principal"))
    mailbox = text("mailbox", body.get("mailbox"))
    right = body.get("right")
    if right not in RIGHTS:
        raise invalid("right", f"must be one of {', '.join(RIGHTS)}")
    delay_s = float(number("delay_s", body.get("delay_s", 0.0), 0, MAX_DELAY_S))
    revoke = flag("revoke", body.get("revoke", False))
    state = request.app[STATE]
    if revoke:
        return web.json_response({"revoked": state.revoke(principal, mailbox, right)})
    state.grant(principal, mailbox, right, delay_s)
    return web.json_response(state.grants_view(), status=201)


async def list_graph_scope(request: web.Request) -> web.Response:
    """``GET /_sandbox/graph_scope``: mailboxes added to apps' access policies and when each takes effect."""
    return web.json_response(request.app[STATE].graph_scope_view())


async def change_graph_scope(request: web.Request) -> web.Response:
    """``POST /_sandbox/graph_scope``: add a mailbox to an app's access policy (after a delay) or withdraw it."""
    body = await read_body(request)
    only(body, {"client_id", "mailbox", "delay_s", "revoke"})
    client_id = text("client_id", body.get("client_id"))
    mailbox = text("mailbox", body.get("mailbox"))
    delay_s = float(number("delay_s", body.get("delay_s", 0.0), 0, MAX_DELAY_S))
    revoke = flag("revoke", body.get("revoke", False))
    state = request.app[STATE]
    if state.tenant.app(client_id) is None:
        raise invalid("client_id", "no app registration has this client id")
    if revoke:
        return web.json_response({"revoked": state.remove_from_graph_scope(client_id, mailbox)})
    state.add_to_graph_scope(client_id, mailbox, delay_s)
    return web.json_response(state.graph_scope_view(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    """``GET /_sandbox/faults``: the faults still armed."""
    return web.json_response([asdict(f) for f in request.app[STATE].faults])


async def add_fault(request: web.Request) -> web.Response:
    """``POST /_sandbox/faults``: arm a fault for the next ``count`` requests or with a ``probability``."""
    body = await read_body(request)
    fault = parse_fault(body)
    request.app[STATE].add_fault(fault)
    return web.json_response(asdict(fault), status=201)


def parse_fault(body: dict[str, Any]) -> Fault:
    """Validate a fault request body and return the ``Fault`` it describes."""
    only(body, {f.name for f in fields(Fault)})
    target, kind = body.get("target"), body.get("kind")
    if target not in get_args(FaultTarget):
        raise invalid("target", f"must be one of {', '.join(get_args(FaultTarget))}")
    if kind not in get_args(FaultKind):
        raise invalid("kind", f"must be one of {', '.join(get_args(FaultKind))}")
    only_for = {"drop_mid_data": "smtp", "lose_answer": "graph", "fail_operation": "acs"}.get(str(kind))
    if only_for is not None and target != only_for:
        raise invalid("kind", f"{kind} applies to the {only_for} target only")
    stage = body.get("stage", "mail")
    if stage not in get_args(SmtpStage):
        raise invalid("stage", f"must be one of {', '.join(get_args(SmtpStage))}")
    code, message = body.get("code"), body.get("message")
    if message is not None and not isinstance(message, str):
        raise invalid("message", "must be a string")
    probability, retry_after = body.get("probability"), body.get("retry_after_s")
    route = body.get("route")
    if route is not None:
        if target != "graph":
            raise invalid("route", "applies to the graph target only")
        try:
            re.compile(text("route", route))
        except re.error as exc:
            raise invalid("route", f"is not a regular expression: {exc}") from None
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise invalid("seed", "must be an integer")
    return Fault(
        target=cast(FaultTarget, target),
        kind=cast(FaultKind, kind),
        code=None if code is None else int(number("code", code, 200 if target == "smtp" else 400, 599, integer=True)),
        message=message,
        retry_after_s=None if retry_after is None else float(number("retry_after_s", retry_after, 0,
                                                                    MAX_RETRY_AFTER_S)),
        count=int(number("count", body.get("count", 1), 1, MAX_FAULT_COUNT, integer=True)),
        probability=None if probability is None else float(number("probability", probability, 0, 1)),
        stage=cast(SmtpStage, stage),
        route=route,
        seed=seed,
    )


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/faults``: disarm every fault."""
    faults = request.app[STATE].faults
    count = len(faults)
    faults.clear()
    return web.json_response({"cleared": count})


async def list_drafts(request: web.Request) -> web.Response:
    """``GET /_sandbox/drafts``: the drafts Graph clients left in mailboxes (created, not yet sent or deleted)."""
    return web.json_response([
        {"id": d.id, "mailbox": d.mailbox, "subject": str(field(d.message, "subject") or ""),
         "attachments": len(d.attachments), "upload_sessions": len(d.uploads)}
        for d in request.app[GRAPH_STORE].drafts.values()
    ])


async def stats(request: web.Request) -> web.Response:
    """``GET /_sandbox/stats``: the counters (every documented key present, zero when unused)."""
    state = request.app[STATE]
    held = {"smtp_replies_held": state.smtp_replies_held}
    return web.json_response({**dict.fromkeys(STATS_KEYS, 0), **state.stats, **held})


async def get_tenant(request: web.Request) -> web.Response:
    """``GET /_sandbox/tenant``: the tenant's settings, without passwords or secrets."""
    return web.json_response(tenant_view(request.app[STATE].tenant))


async def change_tenant(request: web.Request) -> web.Response:
    """``POST /_sandbox/tenant``: change switches, limits, mailboxes or apps at run time."""
    state = request.app[STATE]
    changes = tenant_changes(state.tenant, await read_body(request))
    state.update_tenant(**changes)
    return web.json_response(tenant_view(state.tenant))


async def reset(request: web.Request) -> web.Response:
    """``POST /_sandbox/reset``: forget messages, faults, counters, grants, scopes, drafts, uploads, tenant changes."""
    request.app[STATE].reset()
    request.app[GRAPH_STORE].clear()
    return web.json_response({"reset": True})

"""The sandbox's JSON admin API under ``/_sandbox``: messages, grants, access policies, faults, stats, tenant, reset.

Unauthenticated by design: the sandbox binds loopback only. Request bodies are validated field by field and a
mistake answers 400 naming the field, so a test script learns what it got wrong.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, cast, get_args

from aiohttp import web

from .admin_tenant import tenant_changes, tenant_view
from .graph_access import GRAPH_STORE
from .http_wire import STATE, ApiError, read_json_object, sandbox_error
from .mailview import view_message
from .state import Fault, FaultKind, FaultTarget, SmtpStage, StoredMessage

STATS_KEYS = ("token_requests", "tokens_issued", "smtp_sessions", "smtp_messages", "graph_requests", "throttled",
              "faults_fired", "messages_accepted")
RIGHTS = ("send_as", "send_on_behalf")
MAX_ADMIN_BODY = 256 * 1024


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
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/tenant", get_tenant)
    app.router.add_post("/_sandbox/tenant", change_tenant)
    app.router.add_post("/_sandbox/reset", reset)


def invalid(field: str, message: str) -> ApiError:
    """Return the 400 answer for a bad request body field."""
    return sandbox_error(400, "InvalidRequest", f"'{field}': {message}", field=field)


async def read_body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """Return the JSON object body (``{}`` for an empty optional body); 400 for junk, 413 when oversized."""
    if optional and not request.body_exists:
        return {}
    return await read_json_object(
        request,
        MAX_ADMIN_BODY,
        sandbox_error(400, "InvalidJson", "The request body must be a JSON object."),
        sandbox_error(413, "RequestEntityTooLarge", f"Admin request bodies are limited to {MAX_ADMIN_BODY} bytes."),
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
    _only(body, {"principal", "mailbox", "right", "delay_s", "revoke"})
    principal = _text(body, "principal")
    mailbox = _text(body, "mailbox")
    right = body.get("right")
    if right not in RIGHTS:
        raise invalid("right", f"must be one of {', '.join(RIGHTS)}")
    delay_s = _number(body, "delay_s", default=0.0, minimum=0.0)
    revoke = body.get("revoke", False)
    if not isinstance(revoke, bool):
        raise invalid("revoke", "must be true or false")
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
    _only(body, {"client_id", "mailbox", "delay_s", "revoke"})
    client_id = _text(body, "client_id")
    mailbox = _text(body, "mailbox")
    delay_s = _number(body, "delay_s", default=0.0, minimum=0.0)
    revoke = body.get("revoke", False)
    if not isinstance(revoke, bool):
        raise invalid("revoke", "must be true or false")
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
    _only(body, {f.name for f in fields(Fault)})
    target, kind = body.get("target"), body.get("kind")
    if target not in get_args(FaultTarget):
        raise invalid("target", f"must be one of {', '.join(get_args(FaultTarget))}")
    if kind not in get_args(FaultKind):
        raise invalid("kind", f"must be one of {', '.join(get_args(FaultKind))}")
    only_for = {"drop_mid_data": "smtp", "lose_answer": "graph"}.get(str(kind))
    if only_for is not None and target != only_for:
        raise invalid("kind", f"{kind} applies to the {only_for} target only")
    stage = body.get("stage", "mail")
    if stage not in get_args(SmtpStage):
        raise invalid("stage", f"must be one of {', '.join(get_args(SmtpStage))}")
    code = body.get("code")
    low = 200 if target == "smtp" else 400
    if code is not None and (not isinstance(code, int) or isinstance(code, bool) or not low <= code <= 599):
        raise invalid("code", f"must be an integer from {low} to 599")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise invalid("message", "must be a string")
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise invalid("count", "must be an integer of at least 1")
    probability = body.get("probability")
    if probability is not None:
        probability = _number(body, "probability", default=0.0, minimum=0.0)
        if probability > 1:
            raise invalid("probability", "must be between 0 and 1")
    retry_after = body.get("retry_after_s")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise invalid("seed", "must be an integer")
    return Fault(
        target=cast(FaultTarget, target),
        kind=cast(FaultKind, kind),
        code=code,
        message=message,
        retry_after_s=None if retry_after is None else _number(body, "retry_after_s", default=0.0, minimum=0.0),
        count=count,
        probability=probability,
        stage=cast(SmtpStage, stage),
        seed=seed,
    )


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/faults``: disarm every fault."""
    faults = request.app[STATE].faults
    count = len(faults)
    faults.clear()
    return web.json_response({"cleared": count})


async def stats(request: web.Request) -> web.Response:
    """``GET /_sandbox/stats``: the counters (every documented key present, zero when unused)."""
    counters = request.app[STATE].stats
    return web.json_response({**dict.fromkeys(STATS_KEYS, 0), **counters})


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
    """``POST /_sandbox/reset``: forget messages, faults, counters, admin grants and scopes, drafts, uploads."""
    request.app[STATE].reset()
    request.app[GRAPH_STORE].clear()
    return web.json_response({"reset": True})


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], f"unknown field (known: {', '.join(sorted(allowed))})")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "is required and must be a non-empty string")
    return value.strip()


def _number(body: dict[str, Any], name: str, *, default: float, minimum: float) -> float:
    value = body.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise invalid(name, f"must be a number of at least {minimum:g}")
    return float(value)

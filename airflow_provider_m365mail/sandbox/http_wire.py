"""Read request bodies within limits and answer errors as JSON, for every HTTP adapter of the sandbox.

Each adapter speaks its own error dialect (Entra ID's AADSTS bodies, Graph's ``{"error": {"code", "message"}}``);
``ApiError`` carries a finished body so the middleware in ``web`` only has to send it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .state import SandboxState

STATE: web.AppKey[SandboxState] = web.AppKey("m365_sandbox_state", SandboxState)
MAX_JSON_DEPTH = 32  # Graph messages nest 5 deep; the admin API's tenant changes 3
# Bodies beyond this are drained before answering 413, so the client reads the answer instead of a reset.
_DRAIN_LIMIT = 64 * 1024 * 1024


class ApiError(Exception):
    """An HTTP error answer with its JSON body (and headers, e.g. ``Retry-After``)."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """Return the answer to send."""
        return web.json_response(self.body, status=self.status, headers=self.headers)


def sandbox_error(status: int, code: str, message: str, **extra: Any) -> ApiError:
    """Return an error in the shape the admin API and unknown routes use (Graph's shape, so clients agree)."""
    return ApiError(status, {"error": {"code": code, "message": message, **extra}})


def graph_error(
    request: web.Request, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> ApiError:
    """Return a Microsoft Graph error: ``{"error": {"code", "message", "innerError"}}``."""
    inner = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        "request-id": str(uuid.uuid4()),
        "client-request-id": request.headers.get("client-request-id", str(uuid.uuid4())),
    }
    return ApiError(status, {"error": {"code": code, "message": message, "innerError": inner}}, headers)


async def read_limited(request: web.Request, limit: int, too_large: ApiError) -> bytes:
    """Return the request body, or raise ``too_large`` once it exceeds ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        if declared <= _DRAIN_LIMIT:
            await _drain(request)
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            await _drain(request)
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(
    request: web.Request, limit: int, invalid: ApiError, too_large: ApiError, *, non_finite: bool = False
) -> dict[str, Any]:
    """Return the body parsed as a JSON object, raising ``invalid`` for anything else.

    ``NaN`` and ``Infinity`` are not JSON and are refused, unless ``non_finite`` lets them through as floats for
    field checks that name the field; objects and arrays nested deeper than ``MAX_JSON_DEPTH`` are refused.
    """
    raw = await read_limited(request, limit, too_large)
    try:
        data = json.loads(raw, parse_constant=float if non_finite else _not_json)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid from exc
    if not isinstance(data, dict) or _depth_over(data, MAX_JSON_DEPTH):
        raise invalid
    return data


async def posted_form(request: web.Request, malformed: ApiError) -> dict[str, str]:
    """Return the text fields of a form-encoded body (a sign-in page's post, a token request), raising
    ``malformed`` when the body is not a form."""
    try:
        posted = await request.post()
    except (UnicodeDecodeError, ValueError) as exc:
        raise malformed from exc
    return {key: value for key, value in posted.items() if isinstance(value, str)}


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def _depth_over(data: Any, limit: int) -> bool:
    """Tell whether ``data`` nests objects and arrays more than ``limit`` deep (checked without recursion)."""
    level: list[Any] = [data]
    for _ in range(limit):
        level = [child for item in level for child in (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


async def _drain(request: web.Request) -> None:
    drained = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        drained += len(chunk)
        if drained > _DRAIN_LIMIT:
            return

"""Compose the sandbox's HTTP side: identity platform, Graph mail, upload sessions, EWS, ACS Email, admin API,
web inbox.

Every answer is JSON (or the inbox's HTML): an unknown route is a 404 naming it as not emulated, a body over the
limit a 413, and a bug in the sandbox a 500 with a JSON body, never a traceback page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import acs, admin, ews, graph, inbox, oauth
from .http_wire import STATE, ApiError, sandbox_error
from .state import SandboxState

log = logging.getLogger(__name__)

# Forms and admin bodies are small; Graph reads its own bodies with the tenant's limit, uploads are streamed.
MAX_FORM_BODY = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(state: SandboxState) -> web.Application:
    """Return the aiohttp application serving every HTTP route of the sandbox for ``state``."""
    app = web.Application(client_max_size=MAX_FORM_BODY, middlewares=[_json_errors])
    app[STATE] = state
    oauth.add_routes(app)
    graph.add_routes(app)
    ews.add_routes(app)
    acs.add_routes(app)
    admin.add_routes(app)
    inbox.add_routes(app)
    return app


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPNotFound:
        return _not_emulated(request, 404).response()
    except web.HTTPMethodNotAllowed:
        return _not_emulated(request, 405).response()
    except web.HTTPRequestEntityTooLarge:
        return sandbox_error(413, "RequestEntityTooLarge",
                             f"The request body is over the {MAX_FORM_BODY} bytes this route accepts.").response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return sandbox_error(exc.status, exc.reason.replace(" ", ""), exc.text or exc.reason).response()
    except Exception:
        log.exception("sandbox error while answering %s %s", request.method, request.path)
        return sandbox_error(500, "SandboxInternalError",
                             f"The sandbox failed while answering {request.method} {request.path}; "
                             "see its log.").response()


def _not_emulated(request: web.Request, status: int) -> ApiError:
    return sandbox_error(status, "NotEmulated",
                         f"{request.method} {request.path} is not emulated by the M365 sandbox.",
                         route=f"{request.method} {request.path}")

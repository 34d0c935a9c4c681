"""Emulate the device authorization grant: the ``devicecode`` endpoint, the verification page, and its redemption.

A client posts its ``client_id`` and ``scope`` to ``/{tenant}/oauth2/v2.0/devicecode`` and shows the user the
``verification_uri`` and ``user_code``. The verification page is a plain HTML form (``user_code``, ``username``,
``password``) posted form-encoded to that same URL, so a script or a headless browser signs in as a person would.
Meanwhile the client polls the token endpoint with ``grant_type=urn:ietf:params:oauth:grant-type:device_code``
and gets ``authorization_pending`` until then, ``expired_token`` once the code's lifetime is over.
"""

from __future__ import annotations

import hmac
import html
from importlib import resources
from string import Template

from aiohttp import web

from . import oauth_errors as errors
from .config import App, Mailbox, TenantConfig
from .http_wire import STATE, posted_form

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
VERIFICATION_PATH = "/devicelogin"
# The authorization request's form redirects to the client's loopback listener: browsers hold that to form-action.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://localhost:* http://127.0.0.1:*"
_TEMPLATE = Template(
    resources.files(__name__.rpartition(".")[0]).joinpath("templates/signin.html").read_text(encoding="utf-8")
)


def add_routes(app: web.Application) -> None:
    """Register the device code endpoint and the verification page."""
    app.router.add_post("/{tenant}/oauth2/v2.0/devicecode", device_code)
    app.router.add_get(VERIFICATION_PATH, verification_page)
    app.router.add_post(VERIFICATION_PATH, verify)


def verification_uri(request: web.Request) -> str:
    """Return the page where users enter their code (tenant-independent, like microsoft.com/devicelogin)."""
    return f"{request.scheme}://{request.host}{VERIFICATION_PATH}"


async def device_code(request: web.Request) -> web.Response:
    """Start a device authorization: answer the device code, the user code and where to enter it."""
    state = request.app[STATE]
    tenant = state.tenant
    if tenant.path_segment(request.match_info["tenant"]) is None:
        raise errors.UNKNOWN_TENANT(request, tenant=request.match_info["tenant"])
    form = await posted_form(request, errors.MALFORMED_REQUEST(request))
    client_id = form.get("client_id") or ""
    if not client_id:
        raise errors.MISSING_PARAMETER(request, name="client_id")
    if tenant.app(client_id) is None:
        raise errors.UNKNOWN_CLIENT(request, client_id=client_id, tenant_id=tenant.tenant_id)
    scope = form.get("scope") or ""
    if not scope:
        raise errors.MISSING_PARAMETER(request, name="scope")
    code = state.device_codes.start(client_id, tuple(scope.split()), now=state.clock(),
                                    lifetime_s=tenant.device_code_lifetime_s)
    uri = verification_uri(request)
    return web.json_response({
        "user_code": code.user_code,
        "device_code": code.device_code,
        "verification_uri": uri,
        "expires_in": tenant.device_code_lifetime_s,
        "interval": tenant.device_code_interval_s,
        "message": f"To sign in, use a web browser to open the page {uri} and enter the code {code.user_code} "
                   "to authenticate.",
    })


async def verification_page(request: web.Request) -> web.Response:
    """Show the sign-in form (a ``user_code`` query parameter fills in the code)."""
    return _page(request, "Enter code", user_code=request.query.get("user_code", ""))


async def verify(request: web.Request) -> web.Response:
    """Check the posted code and credentials; approve the device authorization or show the form again saying why."""
    state = request.app[STATE]
    form = await posted_form(request, errors.MALFORMED_REQUEST(request))
    user_code, username, password = (form.get(k, "") for k in ("user_code", "username", "password"))
    code = state.device_codes.pending_user_code(user_code, now=state.clock())
    if code is None:
        return _page(request, "Enter code", error="That code was not recognised or has expired. Check the code "
                     "and try again.", status=400)
    mailbox = signed_in_mailbox(state.tenant, username, password)
    if mailbox is None:
        return _page(request, "Sign in", user_code=user_code, username=username, status=400,
                     error="Your account or password is incorrect.")
    state.device_codes.approve(code, mailbox.address)
    app_id = html.escape(code.client_id)
    return _page(request, "You're signed in", form=False,
                 notice=f"<p>{html.escape(mailbox.address)} signed in to the application {app_id} on your device. "
                        "You may now close this window.</p>")


def signed_in_mailbox(tenant: TenantConfig, username: str, password: str) -> Mailbox | None:
    """Return the mailbox whose credentials these are, or None (unknown, no password, or the wrong one)."""
    mailbox = tenant.mailbox(username)
    if mailbox is None or mailbox.password is None:
        return None
    return mailbox if hmac.compare_digest(password.encode(), mailbox.password.encode()) else None


def redeem(request: web.Request, app: App, form: dict[str, str]) -> tuple[str, str]:
    """Return (user, scope) of an approved device code, or raise the polling answer Entra ID gives."""
    state = request.app[STATE]
    device = form.get("device_code") or ""
    if not device:
        raise errors.MISSING_PARAMETER(request, name="device_code")
    found = state.device_codes.poll(device, app.client_id, now=state.clock())
    if found == "pending":
        raise errors.AUTHORIZATION_PENDING(request)
    if found == "expired":
        raise errors.DEVICE_CODE_EXPIRED(request)
    if found == "unknown":
        raise errors.BAD_DEVICE_CODE(request)
    assert found.user is not None
    return found.user, " ".join(found.scopes)


def _page(request: web.Request, heading: str, *, user_code: str = "", username: str = "", error: str = "",
          notice: str = "", form: bool = True, status: int = 200) -> web.Response:
    e = html.escape
    fields = (
        f'<form method="post" action="{e(verification_uri(request))}" '
        'enctype="application/x-www-form-urlencoded">'
        f'<label>Code <input name="user_code" value="{e(user_code)}" autocomplete="off" required></label>'
        f'<label>Email <input name="username" type="email" value="{e(username)}" required></label>'
        '<label>Password <input name="password" type="password" required></label>'
        '<button type="submit">Sign in</button></form>'
    ) if form else ""
    return render_page(request, heading, error=error, notice=notice, form_html=fields, status=status)


def render_page(request: web.Request, heading: str, *, error: str = "", notice: str = "", form_html: str = "",
                status: int = 200) -> web.Response:
    """Answer a sign-in page (device code or authorization request) with a heading, a notice or error, a form."""
    e = html.escape
    notice = notice or (f'<p class="error" role="alert">{e(error)}</p>' if error else "")
    body = _TEMPLATE.substitute(heading=e(heading), notice=notice, form=form_html)
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-store"})

"""Emulate the authorization code flow: the ``authorize`` sign-in page, its redirect, and the code's redemption.

``GET /{tenant}/oauth2/v2.0/authorize`` shows an HTML sign-in form (``username``, ``password``, the request's
parameters as hidden fields) posted to the same URL; valid credentials redirect the browser to the ``redirect_uri``
with ``code`` and ``state``. Public clients register ``http://localhost``, and Entra ID accepts any port on the
loopback address, so only loopback redirect URIs are accepted here. A ``code_challenge`` (PKCE, ``S256``) binds the
code to the client's ``code_verifier``, checked when the code is redeemed at the token endpoint.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from . import oauth_errors as errors
from .auth_codes import CODE_LIFETIME_S, AuthorizationCode
from .config import App
from .http_wire import STATE, posted_form
from .oauth_device import render_page, signed_in_mailbox

_PARAMETERS = ("client_id", "response_type", "redirect_uri", "scope", "state", "code_challenge",
               "code_challenge_method", "nonce", "response_mode", "prompt", "login_hint")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def add_routes(app: web.Application) -> None:
    """Register the authorization endpoint (its sign-in page and the form's post)."""
    app.router.add_get("/{tenant}/oauth2/v2.0/authorize", authorize)
    app.router.add_post("/{tenant}/oauth2/v2.0/authorize", sign_in)


def client_redirect_problem(request: web.Request, params: dict[str, str]) -> str | None:
    """Return why a browser request names an unknown tenant or app, or a redirect off the loopback address."""
    state = request.app[STATE]
    if state.tenant.path_segment(request.match_info["tenant"]) is None:
        return f"AADSTS90002: Tenant '{request.match_info['tenant']}' not found."
    if state.tenant.app(params.get("client_id", "")) is None:
        return f"AADSTS700016: Application with identifier '{params.get('client_id', '')}' was not found."
    return loopback_redirect_problem(params.get("redirect_uri", ""))


def _request_problem(request: web.Request, params: dict[str, str]) -> str | None:
    """Return why the authorization request cannot be shown a sign-in page (Entra shows an error page), or None."""
    problem = client_redirect_problem(request, params)
    if problem is not None:
        return problem
    if params.get("response_type") != "code":
        return "AADSTS700054: response_type 'code' is the only one the sandbox emulates."
    if params.get("code_challenge") and params.get("code_challenge_method", "plain") != "S256":
        return "AADSTS501491: Invalid code_challenge_method: the sandbox accepts S256 only."
    return None


def loopback_redirect_problem(uri: str) -> str | None:
    """Return Entra's AADSTS50011 text unless ``uri`` is an http URL on the loopback address (any port)."""
    redirect = urlsplit(uri)
    if redirect.scheme == "http" and redirect.hostname in _LOOPBACK:
        return None
    return ("AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured "
            "for the application (public clients: http://localhost on any port).")


async def authorize(request: web.Request) -> web.Response:
    """Show the sign-in form for an authorization request."""
    params = {k: v for k, v in request.query.items() if k in _PARAMETERS}
    problem = _request_problem(request, params)
    if problem is not None:
        return render_page(request, "Sign in", error=problem, status=400)
    return _sign_in_form(request, params, username=params.get("login_hint", ""))


async def sign_in(request: web.Request) -> web.Response:
    """Check the posted credentials; redirect to the client with a code, or show the form again saying why."""
    state = request.app[STATE]
    posted = await posted_form(request, errors.MALFORMED_REQUEST(request))
    params = {k: v for k, v in posted.items() if k in _PARAMETERS}
    problem = _request_problem(request, params)
    if problem is not None:
        return render_page(request, "Sign in", error=problem, status=400)
    mailbox = signed_in_mailbox(state.tenant, posted.get("username", ""), posted.get("password", ""))
    if mailbox is None:
        return _sign_in_form(request, params, username=posted.get("username", ""),
                             error="Your account or password is incorrect.")
    code = state.authorization_codes.issue(AuthorizationCode(
        params["client_id"], mailbox.address, tuple(params.get("scope", "").split()), params["redirect_uri"],
        params.get("code_challenge") or None, state.clock() + CODE_LIFETIME_S, params.get("nonce") or None))
    answer = {"code": code, **({"state": params["state"]} if "state" in params else {})}
    raise web.HTTPFound(f"{params['redirect_uri']}?{urlencode(answer)}")


def redeem(request: web.Request, app: App, form: dict[str, str]) -> AuthorizationCode:
    """Return what an authorization code stands for, or raise the error Entra ID gives."""
    state = request.app[STATE]
    code = form.get("code") or ""
    if not code:
        raise errors.MISSING_PARAMETER(request, name="code")
    found = state.authorization_codes.redeem(code, app.client_id, form.get("redirect_uri", ""),
                                             form.get("code_verifier"), now=state.clock())
    if found == "redirect_mismatch":
        raise errors.REDIRECT_URI_MISMATCH(request)
    if found == "pkce_mismatch":
        raise errors.PKCE_MISMATCH(request)
    if found in ("unknown", "expired"):
        raise errors.BAD_AUTHORIZATION_CODE(request)
    assert not isinstance(found, str)
    return found


def _sign_in_form(request: web.Request, params: dict[str, str], *, username: str, error: str = "") -> web.Response:
    e = html.escape
    hidden = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in params.items())
    form = (f'<form method="post" action="{e(request.path)}" enctype="application/x-www-form-urlencoded">{hidden}'
            f'<label>Email <input name="username" type="email" value="{e(username)}" required></label>'
            '<label>Password <input name="password" type="password" required></label>'
            '<button type="submit">Sign in</button></form>')
    return render_page(request, "Sign in", error=error, form_html=form, status=400 if error else 200)

"""Emulate tenant-wide admin consent: ``/{tenant}/adminconsent``, its consent form, and the redirect back.

The page lists the application permissions the app registration asks for and takes an administrator's
credentials (an account in the tenant's ``admins``); on "Accept" the app's ``admin_consented`` becomes true, so
its app-only tokens carry its roles from then on, and the browser goes to the ``redirect_uri`` with
``admin_consent=True``, ``tenant`` and ``state``, as Entra ID sends it. Declining redirects with
``error=access_denied``. Only loopback redirect URIs are accepted, as for the authorization endpoint.
"""

from __future__ import annotations

import html
from dataclasses import replace
from urllib.parse import urlencode

from aiohttp import web

from . import oauth_errors as errors
from .http_wire import STATE, posted_form
from .oauth_authorize import client_redirect_problem
from .oauth_device import render_page, signed_in_mailbox

_PARAMETERS = ("client_id", "redirect_uri", "state", "scope")


def add_routes(app: web.Application) -> None:
    """Register the admin consent page and its form's post."""
    app.router.add_get("/{tenant}/adminconsent", consent_page)
    app.router.add_post("/{tenant}/adminconsent", consent)


async def consent_page(request: web.Request) -> web.Response:
    """Show the permissions requested and the administrator's sign-in with Accept and Cancel."""
    params = {k: v for k, v in request.query.items() if k in _PARAMETERS}
    problem = client_redirect_problem(request, params)
    if problem is not None:
        return render_page(request, "Permissions requested", error=problem, status=400)
    return _form(request, params)


async def consent(request: web.Request) -> web.Response:
    """Record the administrator's answer and send the browser back to the application."""
    state = request.app[STATE]
    posted = await posted_form(request, errors.MALFORMED_REQUEST(request))
    params = {k: v for k, v in posted.items() if k in _PARAMETERS}
    problem = client_redirect_problem(request, params)
    if problem is not None:
        return render_page(request, "Permissions requested", error=problem, status=400)
    back = {"state": params["state"]} if "state" in params else {}
    if posted.get("decision") != "accept":
        back |= {"error": "access_denied", "error_description": "AADSTS65004: User declined to consent to access "
                 "the app."}
        raise web.HTTPFound(f"{params['redirect_uri']}?{urlencode(back)}")
    admin = signed_in_mailbox(state.tenant, posted.get("username", ""), posted.get("password", ""))
    if admin is None or admin.address.casefold() not in {a.casefold() for a in state.tenant.admins}:
        return _form(request, params, error="Only an administrator can grant consent for the organization: sign in "
                     "with a Global, Privileged Role or Cloud Application Administrator account.")
    consented = tuple(replace(a, admin_consented=True) if a.client_id == params["client_id"] else a
                      for a in state.tenant.apps)
    state.update_tenant(apps=consented)
    back |= {"admin_consent": "True", "tenant": state.tenant.tenant_id}
    raise web.HTTPFound(f"{params['redirect_uri']}?{urlencode(back)}")


def _form(request: web.Request, params: dict[str, str], *, error: str = "") -> web.Response:
    e = html.escape
    app = request.app[STATE].tenant.app(params["client_id"])
    roles = "".join(f"<li>{e(r)} (application)</li>" for r in (app.roles if app else ()))
    hidden = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in params.items())
    form = (f"<p>{e(params['client_id'])} asks for these permissions for your organization:</p><ul>{roles}</ul>"
            f'<form method="post" action="{e(request.path)}" enctype="application/x-www-form-urlencoded">{hidden}'
            '<label>Administrator <input name="username" type="email" required></label>'
            '<label>Password <input name="password" type="password" required></label>'
            '<button type="submit" name="decision" value="accept">Accept</button> '
            '<button type="submit" name="decision" value="cancel" formnovalidate>Cancel</button></form>')
    return render_page(request, "Permissions requested", error=error, form_html=form, status=400 if error else 200)

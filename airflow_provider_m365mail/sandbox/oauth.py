"""Emulate the Microsoft identity platform v2 endpoints that MSAL and plain OAuth2 clients call.

Routes: tenant discovery (``/{tenant}/v2.0/.well-known/openid-configuration``), its JWKS, the token endpoint
(client credentials with a secret or a certificate-signed assertion, ROPC, refresh tokens), ``/common/userrealm``
(MSAL asks it before ROPC) and instance discovery. Endpoints are built from the request's own scheme and host;
the issuer stays ``login.microsoftonline.com``, as Entra ID reports it whichever alias answered. Errors carry the
AADSTS codes and texts clients and our docs classify.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from typing import Any
from urllib.parse import unquote_plus, urlparse

import jwt
from aiohttp import web

from . import oauth_authorize, oauth_consent, oauth_device
from . import oauth_errors as errors
from .config import ACS_AUDIENCE, EXCHANGE_AUDIENCE, GRAPH_AUDIENCE, App, TenantConfig
from .http_wire import STATE, posted_form
from .oauth_assertion import verify_client_assertion
from .oauth_errors import TokenError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Grants that act for a user: without a client secret or assertion only an app allowing public client flows may.
_USER_GRANTS = ("password", "refresh_token", "authorization_code", oauth_device.DEVICE_CODE_GRANT)
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
# Resource (App ID URI) -> token audience. Exchange answers to both of its spellings.
RESOURCES = {
    "https://outlook.office365.com": EXCHANGE_AUDIENCE,
    "https://outlook.office.com": EXCHANGE_AUDIENCE,
    "https://graph.microsoft.com": GRAPH_AUDIENCE,
    "https://communication.azure.com": ACS_AUDIENCE,  # Azure RBAC decides what the app may do, not token roles
}


def add_routes(app: web.Application) -> None:
    """Register the identity platform routes."""
    app.router.add_get("/common/userrealm/{user}", user_realm)
    app.router.add_get("/common/discovery/instance", instance_discovery)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/{tenant}/discovery/v2.0/keys", jwks)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    oauth_device.add_routes(app)
    oauth_authorize.add_routes(app)
    oauth_consent.add_routes(app)


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def openid_configuration(request: web.Request) -> web.Response:
    """Answer tenant discovery, which MSAL fetches when an application object is built."""
    state = request.app[STATE]
    segment = state.tenant.path_segment(request.match_info["tenant"])
    if segment is None:
        return errors.UNKNOWN_TENANT(request, tenant=request.match_info["tenant"]).response()
    base = f"{_base(request)}/{segment}"
    return web.json_response({
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": state.tokens.issuer,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    })


async def jwks(request: web.Request) -> web.Response:
    """Publish the token signing key so resource servers can validate sandbox tokens."""
    state = request.app[STATE]
    if state.tenant.path_segment(request.match_info["tenant"]) is None:
        return errors.UNKNOWN_TENANT(request, tenant=request.match_info["tenant"]).response()
    return web.json_response(state.tokens.jwks())


async def user_realm(request: web.Request) -> web.Response:
    """Tell MSAL whether a user is managed (ROPC against this endpoint) or unknown."""
    state = request.app[STATE]
    user = request.match_info["user"]
    domain = user.rpartition("@")[2]
    if state.tenant.is_internal(user):
        return web.json_response({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        })
    return web.json_response({"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"})


async def instance_discovery(request: web.Request) -> web.Response:
    """Answer instance discovery for clients pointed at the sandbox's own discovery endpoint."""
    authorize = urlparse(request.query.get("authorization_endpoint", ""))
    parts = [p for p in authorize.path.split("/") if p]
    tenant = parts[0] if parts else "common"
    host = request.host
    return web.json_response({
        "tenant_discovery_endpoint": f"{_base(request)}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


async def token(request: web.Request) -> web.Response:
    """Issue tokens for the client credentials, password and refresh token grants."""
    state = request.app[STATE]
    state.stats["token_requests"] += 1
    try:
        fault = state.take_fault("token", kinds=("reply", "timeout"))
        if fault is not None:
            if fault.kind == "timeout":
                await asyncio.sleep(fault.wait_s())
            raise errors.token_fault(request, fault)
        if state.tenant.path_segment(request.match_info["tenant"]) is None:
            raise errors.UNKNOWN_TENANT(request, tenant=request.match_info["tenant"])
        form = await posted_form(request, errors.MALFORMED_REQUEST(request))
        for key, value in _basic_client_credentials(request).items():
            form.setdefault(key, value)
        grant_type = form.get("grant_type") or ""
        if not grant_type:
            raise errors.MISSING_PARAMETER(request, name="grant_type")
        client_id = form.get("client_id") or ""
        if not client_id:
            raise errors.MISSING_PARAMETER(request, name="client_id")
        app = state.tenant.app(client_id)
        if app is None:
            raise errors.UNKNOWN_CLIENT(request, client_id=client_id, tenant_id=state.tenant.tenant_id)
        confidential = _authenticate_client(request, app, form)
        if grant_type not in (*_USER_GRANTS, "client_credentials"):
            raise errors.UNSUPPORTED_GRANT(request, grant_type=grant_type)
        if not confidential and (grant_type == "client_credentials" or not app.public_client):
            raise errors.MISSING_CLIENT_CREDENTIALS(request)
        if grant_type == "client_credentials":
            body = _client_credentials(request, app, form)
        elif grant_type == "password":
            body = _password(request, app, form)
        elif grant_type == "refresh_token":
            body = _refresh(request, app, form)
        elif grant_type == "authorization_code":
            code = oauth_authorize.redeem(request, app, form)
            body = _user_tokens(request, app, code.user, " ".join(code.scopes), form, nonce=code.nonce)
        else:
            user, scope = oauth_device.redeem(request, app, form)
            body = _user_tokens(request, app, user, scope, form)
    except TokenError as exc:
        return exc.response()
    state.stats["tokens_issued"] += 1
    return web.json_response(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


def _basic_client_credentials(request: web.Request) -> dict[str, str]:
    """Return client_id and client_secret sent as HTTP Basic (``client_secret_basic``), if they were."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.casefold() != "basic":
        return {}
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return {}
    client_id, colon, secret = decoded.partition(":")
    return {"client_id": unquote_plus(client_id), "client_secret": unquote_plus(secret)} if colon else {}


def _authenticate_client(request: web.Request, app: App, form: dict[str, str]) -> bool:
    """Check the client's secret or assertion; return False for a public client that sent neither."""
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise errors.BAD_ASSERTION(request, reason="The client_assertion_type is not supported.")
        endpoint = f"{_base(request)}{request.path}"
        canonical = f"{_base(request)}/{request.app[STATE].tenant.tenant_id}/oauth2/v2.0/token"
        verify_client_assertion(request, app, form["client_assertion"], audiences={endpoint, canonical})
        return True
    secret = form.get("client_secret")
    if secret is not None:
        if app.client_secret is None or not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
            raise errors.INVALID_SECRET(request, client_id=app.client_id)
        return True
    return False


def _split_scopes(request: web.Request, tenant: TenantConfig, raw: str) -> tuple[str, list[str], list[str]]:
    """Return (audience, the resource scopes as sent, their bare names) for a scope parameter."""
    sent = [s for s in raw.split() if s not in RESERVED_SCOPES]
    resources: dict[str, list[str]] = {}
    for scope in sent:
        resource, _, name = scope.rpartition("/") if "://" in scope else ("https://graph.microsoft.com", "", scope)
        resource = resource.rstrip("/")
        if resource not in RESOURCES:
            raise errors.UNKNOWN_RESOURCE(request, resource=resource, tenant_id=tenant.tenant_id)
        resources.setdefault(RESOURCES[resource], []).append(name)
    if len(resources) > 1:
        raise errors.SEVERAL_RESOURCES(request, scope=" ".join(sent))
    if not resources:
        return GRAPH_AUDIENCE, [], []
    ((audience, names),) = resources.items()
    return audience, sent, names


def _lifetimes(tenant: TenantConfig) -> dict[str, Any]:
    return {"token_type": "Bearer", "expires_in": tenant.token_lifetime_s, "ext_expires_in": tenant.token_lifetime_s}


def _client_credentials(request: web.Request, app: App, form: dict[str, str]) -> dict[str, Any]:
    state = request.app[STATE]
    scope = form.get("scope", "")
    audience, _, names = _split_scopes(request, state.tenant, scope)
    if names != [".default"]:
        raise errors.DEFAULT_SCOPE_REQUIRED(request, scope=scope)
    roles = [r for r in app.roles if _belongs_to(r, audience)] if app.admin_consented else []
    access = state.tokens.issue_app_token(app.client_id, audience, roles)
    return {**_lifetimes(state.tenant), "access_token": access}


def _belongs_to(permission: str, audience: str) -> bool:
    """Tell whether a permission name is one the resource behind ``audience`` defines."""
    if audience == ACS_AUDIENCE:
        return False
    return permission.startswith("SMTP.") if audience == EXCHANGE_AUDIENCE else permission.startswith("Mail.")


def _delegated_scopes(request: web.Request, app: App, audience: str, names: list[str]) -> list[str]:
    granted = [s for s in app.delegated_scopes if _belongs_to(s, audience)]
    if names == [".default"]:
        return granted
    missing = [n for n in names if n not in app.delegated_scopes]
    if missing:
        raise errors.CONSENT_REQUIRED(request, client_id=app.client_id)
    return names


def _password(request: web.Request, app: App, form: dict[str, str]) -> dict[str, Any]:
    state = request.app[STATE]
    username = form.get("username") or ""
    if not username:
        raise errors.MISSING_PARAMETER(request, name="username")
    mailbox = state.tenant.mailbox(username)
    if mailbox is None:
        raise errors.UNKNOWN_USER(request, tenant_id=state.tenant.tenant_id)
    password = form.get("password") or ""
    if mailbox.password is None or not hmac.compare_digest(password.encode(), mailbox.password.encode()):
        raise errors.BAD_USER_CREDENTIALS(request)
    return _user_tokens(request, app, mailbox.address, form.get("scope", ""), form)


def _refresh(request: web.Request, app: App, form: dict[str, str]) -> dict[str, Any]:
    state = request.app[STATE]
    refresh_token = form.get("refresh_token") or ""
    if not refresh_token:
        raise errors.MISSING_PARAMETER(request, name="refresh_token")
    tenant = state.tenant
    redeemed = state.refresh_tokens.redeem(refresh_token, app.client_id, now=state.clock(),
                                           lifetime_s=tenant.refresh_token_lifetime_s,
                                           grace_s=tenant.refresh_token_grace_s)
    if redeemed == "expired":
        raise errors.REFRESH_TOKEN_EXPIRED(request)
    if redeemed == "superseded":
        raise errors.REFRESH_TOKEN_SUPERSEDED(request)
    if redeemed == "unknown" or tenant.mailbox(redeemed.user) is None:
        raise errors.BAD_REFRESH_TOKEN(request)
    return _user_tokens(request, app, redeemed.user, form.get("scope") or " ".join(redeemed.scopes), form)


def _user_tokens(
    request: web.Request, app: App, user: str, scope: str, form: dict[str, str], *, nonce: str | None = None
) -> dict[str, Any]:
    state = request.app[STATE]
    audience, sent, names = _split_scopes(request, state.tenant, scope)
    scp = _delegated_scopes(request, app, audience, names)
    requested = set(scope.split())
    access_token = state.tokens.issue_user_token(app.client_id, user, audience, scp)
    body: dict[str, Any] = {
        **_lifetimes(state.tenant),
        "scope": " ".join([*sent, *sorted(requested & RESERVED_SCOPES)]),
        "access_token": access_token,
    }
    if "offline_access" in requested:
        body["refresh_token"] = state.refresh_tokens.issue(app.client_id, user, scope.split(), now=state.clock())
    if "openid" in requested:
        body["id_token"] = state.tokens.issue_user_token(app.client_id, user, app.client_id, [], nonce=nonce)
    if form.get("client_info") == "1":
        # MSAL keys its account cache on client_info: the user's object id and the tenant id.
        oid = jwt.decode(access_token, options={"verify_signature": False})["oid"]
        info = json.dumps({"uid": oid, "utid": state.tenant.tenant_id}).encode()
        body["client_info"] = base64.urlsafe_b64encode(info).decode().rstrip("=")
    return body

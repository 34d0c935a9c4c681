"""Build Entra ID token endpoint errors: OAuth2 error codes with AADSTS numbers and Microsoft's own texts."""

from __future__ import annotations

import time
import uuid

from aiohttp import web

from .http_wire import ApiError
from .state import Fault


class TokenError(ApiError):
    """An identity platform error answer (``error``, ``error_description``, ``error_codes``, ...)."""


def aadsts(request: web.Request, status: int, error: str, code: int, text: str, *,
           headers: dict[str, str] | None = None) -> TokenError:
    """Return an AADSTS error shaped as Entra ID sends it (trace and correlation ids included)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace_id = str(uuid.uuid4())
    correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    description = (f"AADSTS{code}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} "
                   f"Timestamp: {stamp}")
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return TokenError(status, body, headers)


def unknown_tenant(request: web.Request, tenant: str) -> TokenError:
    """AADSTS90002: the tenant in the URL does not exist."""
    return aadsts(request, 400, "invalid_tenant", 90002,
                  f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                  "into the correct cloud. Check with your subscription administrator, this may happen if there are "
                  "no active subscriptions for the tenant.")


def unknown_client(request: web.Request, client_id: str, tenant_id: str) -> TokenError:
    """AADSTS700016: no app registration with this client id in the tenant."""
    return aadsts(request, 400, "unauthorized_client", 700016,
                  f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This "
                  "can happen if the application has not been installed by the administrator of the tenant or "
                  "consented to by any user in the tenant. You may have sent your authentication request to the "
                  "wrong tenant.")


def invalid_secret(request: web.Request, client_id: str) -> TokenError:
    """AADSTS7000215: the client secret is wrong (often the secret's id was sent instead of its value)."""
    return aadsts(request, 401, "invalid_client", 7000215,
                  "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                  f"value, not the client secret ID, for a secret added to app '{client_id}'.")


def missing_client_credentials(request: web.Request) -> TokenError:
    """AADSTS7000218: a confidential flow without a secret or assertion."""
    return aadsts(request, 401, "invalid_client", 7000218,
                  "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")


def bad_assertion(request: web.Request, reason: str) -> TokenError:
    """AADSTS700027: the client assertion is not signed by a registered certificate or its claims are wrong."""
    return aadsts(request, 401, "invalid_client", 700027, reason)


def missing_parameter(request: web.Request, name: str) -> TokenError:
    """AADSTS900144: a required form parameter is absent."""
    return aadsts(request, 400, "invalid_request", 900144,
                  f"The request body must contain the following parameter: '{name}'.")


def unsupported_grant(request: web.Request, grant_type: str) -> TokenError:
    """AADSTS70003: the grant type is not one the sandbox emulates."""
    return aadsts(request, 400, "unsupported_grant_type", 70003,
                  f"The app requested an unsupported grant type '{grant_type}'.")


def unknown_resource(request: web.Request, resource: str, tenant_id: str) -> TokenError:
    """AADSTS500011: the scope names a resource the tenant has no service principal for."""
    return aadsts(request, 400, "invalid_resource", 500011,
                  f"The resource principal named {resource} was not found in the tenant named {tenant_id}. This "
                  "can happen if the application has not been installed by the administrator of the tenant or "
                  "consented to by any user in the tenant. You might have sent your authentication request to the "
                  "wrong tenant.")


def several_resources(request: web.Request, scope: str) -> TokenError:
    """AADSTS28000: one token request may only ask for one resource."""
    return aadsts(request, 400, "invalid_scope", 28000,
                  "Provided value for the input parameter scope is not valid because it contains more than one "
                  f"resource. Scope {scope} is not valid.")


def default_scope_required(request: web.Request, scope: str) -> TokenError:
    """AADSTS1002012: client credentials must ask for ``<resource>/.default``."""
    return aadsts(request, 400, "invalid_scope", 1002012,
                  f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                  "value with /.default suffixed to the resource identifier (application ID URI).")


def consent_required(request: web.Request, client_id: str) -> TokenError:
    """AADSTS65001: a delegated scope the app was never granted."""
    return aadsts(request, 400, "invalid_grant", 65001,
                  f"The user or administrator has not consented to use the application with ID '{client_id}'. "
                  "Send an interactive authorization request for this user and resource.")


def unknown_user(request: web.Request, tenant_id: str) -> TokenError:
    """AADSTS50034: ROPC for an account the directory does not hold."""
    return aadsts(request, 400, "invalid_grant", 50034,
                  f"The user account {{EUII Hidden}} does not exist in the {tenant_id} directory. To sign into this "
                  "application, the account must be added to the directory.")


def bad_user_credentials(request: web.Request) -> TokenError:
    """AADSTS50126: wrong user password (or an account that cannot sign in with one)."""
    return aadsts(request, 400, "invalid_grant", 50126,
                  "Error validating credentials due to invalid username or password.")


def malformed_request(request: web.Request) -> TokenError:
    """A token request body that is not a UTF-8 form (AADSTS9002313)."""
    return aadsts(request, 400, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.")


def bad_refresh_token(request: web.Request) -> TokenError:
    """AADSTS9002313: the refresh token is unknown or belongs to another client."""
    return aadsts(request, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")


def refresh_token_expired(request: web.Request) -> TokenError:
    """AADSTS700082: the refresh token outlived its lifetime; the user must sign in again."""
    return aadsts(request, 400, "invalid_grant", 700082,
                  "The refresh token has expired due to inactivity. The token was issued on an earlier date and was "
                  "inactive for the configured lifetime.")


def refresh_token_superseded(request: web.Request) -> TokenError:
    """AADSTS50173: a refresh token that was already exchanged for a newer one, past its grace period."""
    return aadsts(request, 400, "invalid_grant", 50173,
                  "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
                  "might have changed or reset their password.")


def authorization_pending(request: web.Request) -> TokenError:
    """AADSTS70016: the user has not yet entered the device code; the client keeps polling."""
    return aadsts(request, 400, "authorization_pending", 70016,
                  "The provided request has not yet been authorized by the user. The user must input their code.")


def device_code_expired(request: web.Request) -> TokenError:
    """AADSTS70019: the device code's lifetime is over; the client starts a new sign-in."""
    return aadsts(request, 400, "expired_token", 70019, "Verification code expired.")


def bad_device_code(request: web.Request) -> TokenError:
    """AADSTS70000: a device code the sandbox never issued (or issued to another client, or already redeemed)."""
    return aadsts(request, 400, "invalid_grant", 70000,
                  "Provided grant is invalid or malformed. The device_code is not valid.")


def bad_authorization_code(request: web.Request) -> TokenError:
    """AADSTS70008: an authorization code that is unknown, already redeemed or expired."""
    return aadsts(request, 400, "invalid_grant", 70008,
                  "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                  "interactive authorization request for this user and resource.")


def redirect_uri_mismatch(request: web.Request) -> TokenError:
    """AADSTS50011: the redirect URI differs from the one the code was issued for (or is not registered)."""
    return aadsts(request, 400, "invalid_client", 50011,
                  "The redirect URI specified in the request does not match the redirect URIs configured for the "
                  "application.")


def pkce_mismatch(request: web.Request) -> TokenError:
    """AADSTS50148: the code_verifier does not hash to the code_challenge of the authorization request."""
    return aadsts(request, 400, "invalid_grant", 50148,
                  "The code_verifier does not match the code_challenge supplied in the authorization request for "
                  "PKCE.")


def token_fault(request: web.Request, fault: Fault) -> TokenError:
    """The answer of an injected token endpoint fault (a timeout ends in 504 once its wait is over)."""
    status = 504 if fault.kind == "timeout" else (fault.code or 500)
    headers = {"Retry-After": str(int(fault.retry_after_s))} if fault.retry_after_s and fault.kind == "reply" else None
    error = "temporarily_unavailable" if status in (429, 503, 504) else "server_error"
    text = fault.message or "A transient error has occurred. Please try again."
    return aadsts(request, status, error, 90033, text, headers=headers)

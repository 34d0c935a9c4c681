"""Build Entra ID token endpoint errors: OAuth2 error codes with AADSTS numbers and Microsoft's own texts.

Each refusal the sandbox gives is one ``Refusal`` (HTTP status, OAuth2 error, AADSTS number, Microsoft's text with
``{placeholders}``); calling it with the request and the placeholders' values builds the answer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Refusal:
    """One error the token endpoint gives: its status, OAuth2 error, AADSTS number and text template."""

    status: int
    error: str
    code: int
    text: str

    def __call__(self, request: web.Request, **details: str) -> TokenError:
        """Return the error for ``request``, the text's ``{placeholders}`` filled from ``details``."""
        return aadsts(request, self.status, self.error, self.code, self.text.format(**details))


# AADSTS90002: the tenant in the URL does not exist.
UNKNOWN_TENANT = Refusal(400, "invalid_tenant", 90002,
    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
    "into the correct cloud. Check with your subscription administrator, this may happen if there are "
    "no active subscriptions for the tenant.")

# AADSTS700016: no app registration with this client id in the tenant.
UNKNOWN_CLIENT = Refusal(400, "unauthorized_client", 700016,
    "Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This "
    "can happen if the application has not been installed by the administrator of the tenant or "
    "consented to by any user in the tenant. You may have sent your authentication request to the "
    "wrong tenant.")

# AADSTS7000215: the client secret is wrong (often the secret's id was sent instead of its value).
INVALID_SECRET = Refusal(401, "invalid_client", 7000215,
    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
    "value, not the client secret ID, for a secret added to app '{client_id}'.")

# AADSTS7000218: a confidential flow without a secret or assertion.
MISSING_CLIENT_CREDENTIALS = Refusal(401, "invalid_client", 7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

# AADSTS700027: the client assertion is not signed by a registered certificate or its claims are wrong.
BAD_ASSERTION = Refusal(401, "invalid_client", 700027, "{reason}")

# AADSTS900144: a required form parameter is absent.
MISSING_PARAMETER = Refusal(400, "invalid_request", 900144,
    "The request body must contain the following parameter: '{name}'.")

# AADSTS70003: the grant type is not one the sandbox emulates.
UNSUPPORTED_GRANT = Refusal(400, "unsupported_grant_type", 70003,
    "The app requested an unsupported grant type '{grant_type}'.")

# AADSTS500011: the scope names a resource the tenant has no service principal for.
UNKNOWN_RESOURCE = Refusal(400, "invalid_resource", 500011,
    "The resource principal named {resource} was not found in the tenant named {tenant_id}. This "
    "can happen if the application has not been installed by the administrator of the tenant or "
    "consented to by any user in the tenant. You might have sent your authentication request to the "
    "wrong tenant.")

# AADSTS28000: one token request may only ask for one resource.
SEVERAL_RESOURCES = Refusal(400, "invalid_scope", 28000,
    "Provided value for the input parameter scope is not valid because it contains more than one "
    "resource. Scope {scope} is not valid.")

# AADSTS1002012: client credentials must ask for ``<resource>/.default``.
DEFAULT_SCOPE_REQUIRED = Refusal(400, "invalid_scope", 1002012,
    "The provided value for scope {scope} is not valid. Client credential flows must have a scope "
    "value with /.default suffixed to the resource identifier (application ID URI).")

# AADSTS65001: a delegated scope the app was never granted.
CONSENT_REQUIRED = Refusal(400, "invalid_grant", 65001,
    "The user or administrator has not consented to use the application with ID '{client_id}'. "
    "Send an interactive authorization request for this user and resource.")

# AADSTS50034: ROPC for an account the directory does not hold.
UNKNOWN_USER = Refusal(400, "invalid_grant", 50034,
    "The user account {{EUII Hidden}} does not exist in the {tenant_id} directory. To sign into this "
    "application, the account must be added to the directory.")

# AADSTS50126: wrong user password (or an account that cannot sign in with one).
BAD_USER_CREDENTIALS = Refusal(400, "invalid_grant", 50126,
    "Error validating credentials due to invalid username or password.")

# A token request body that is not a UTF-8 form (AADSTS9002313).
MALFORMED_REQUEST = Refusal(400, "invalid_request", 9002313,
    "Invalid request. Request is malformed or invalid.")

# AADSTS9002313: the refresh token is unknown or belongs to another client.
BAD_REFRESH_TOKEN = Refusal(400, "invalid_grant", 9002313,
    "Invalid request. Request is malformed or invalid.")

# AADSTS700082: the refresh token outlived its lifetime; the user must sign in again.
REFRESH_TOKEN_EXPIRED = Refusal(400, "invalid_grant", 700082,
    "The refresh token has expired due to inactivity. The token was issued on an earlier date and was "
    "inactive for the configured lifetime.")

# AADSTS50173: a refresh token that was already exchanged for a newer one, past its grace period.
REFRESH_TOKEN_SUPERSEDED = Refusal(400, "invalid_grant", 50173,
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
    "might have changed or reset their password.")

# AADSTS70016: the user has not yet entered the device code; the client keeps polling.
AUTHORIZATION_PENDING = Refusal(400, "authorization_pending", 70016,
    "The provided request has not yet been authorized by the user. The user must input their code.")

# AADSTS70019: the device code's lifetime is over; the client starts a new sign-in.
DEVICE_CODE_EXPIRED = Refusal(400, "expired_token", 70019,
    "Verification code expired.")

# AADSTS70000: a device code the sandbox never issued (or issued to another client, or already redeemed).
BAD_DEVICE_CODE = Refusal(400, "invalid_grant", 70000,
    "Provided grant is invalid or malformed. The device_code is not valid.")

# AADSTS70008: an authorization code that is unknown, already redeemed or expired.
BAD_AUTHORIZATION_CODE = Refusal(400, "invalid_grant", 70008,
    "The provided authorization code or refresh token has expired due to inactivity. Send a new "
    "interactive authorization request for this user and resource.")

# AADSTS50011: the redirect URI differs from the one the code was issued for (or is not registered).
REDIRECT_URI_MISMATCH = Refusal(400, "invalid_client", 50011,
    "The redirect URI specified in the request does not match the redirect URIs configured for the "
    "application.")

# AADSTS50148: the code_verifier does not hash to the code_challenge of the authorization request.
PKCE_MISMATCH = Refusal(400, "invalid_grant", 50148,
    "The code_verifier does not match the code_challenge supplied in the authorization request for "
    "PKCE.")


def token_fault(request: web.Request, fault: Fault) -> TokenError:
    """The answer of an injected token endpoint fault (a timeout ends in 504 once its wait is over)."""
    status = 504 if fault.kind == "timeout" else (fault.code or 500)
    headers = {"Retry-After": str(int(fault.retry_after_s))} if fault.retry_after_s and fault.kind == "reply" else None
    error = "temporarily_unavailable" if status in (429, 503, 504) else "server_error"
    text = fault.message or "A transient error has occurred. Please try again."
    return aadsts(request, status, error, 90033, text, headers=headers)

"""Verify certificate client assertions (RFC 7523 JWTs) the way Entra ID does.

The JWT header names the certificate by thumbprint (``x5t``: SHA-1, ``x5t#S256``: SHA-256, both base64url); the
certificate must be registered on the app; the signature (RS256 or PS256) must verify with it; ``aud`` must be
the token endpoint and ``iss`` and ``sub`` the client id.
"""

from __future__ import annotations

import base64
from collections.abc import Set

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .config import App
from .oauth_errors import BAD_ASSERTION

ALGORITHMS = ("RS256", "PS256")


def thumbprints(certificate_pem: str) -> tuple[str, str]:
    """Return the base64url (unpadded) SHA-1 and SHA-256 thumbprints of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return _b64url(cert.fingerprint(hashes.SHA1())), _b64url(cert.fingerprint(hashes.SHA256()))


def verify_client_assertion(request: web.Request, app: App, assertion: str, audiences: Set[str]) -> None:
    """Return quietly if ``assertion`` authenticates ``app``; raise the AADSTS700027 error otherwise."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise BAD_ASSERTION(request, reason="Client assertion is not a well-formed JWT.") from exc
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise BAD_ASSERTION(request, reason=f"Client assertion uses an unsupported signing algorithm '{algorithm}'; "
                            "use RS256 or PS256.")
    certificate = _registered_certificate(app, header)
    if certificate is None:
        shown = header.get("x5t#S256") or header.get("x5t") or "none"
        raise BAD_ASSERTION(request, reason="The certificate with identifier used to sign the client assertion is not "
                            f"registered on application. [Reason - The key was not found., Thumbprint of key used "
                            f"by client: '{shown}', Please visit the Azure Portal, Graph Explorer or directly use "
                            f"MS Graph to see configured keys for app Id '{app.client_id}'.]")
    public_key = x509.load_pem_x509_certificate(certificate.encode()).public_key()
    try:
        claims = jwt.decode(
            assertion,
            public_key,  # type: ignore[arg-type]
            algorithms=[algorithm],
            options={"require": ["exp", "aud", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise BAD_ASSERTION(request, reason="Client assertion has expired.") from exc
    except jwt.PyJWTError as exc:
        raise BAD_ASSERTION(request, reason="Client assertion failed signature validation.") from exc
    if claims.get("aud") not in audiences:
        raise BAD_ASSERTION(request, reason="Client assertion audience claim does not match the token endpoint "
                            f"({', '.join(sorted(audiences))}).")
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise BAD_ASSERTION(request, reason="Client assertion iss and sub claims must both be the client id.")


def _registered_certificate(app: App, header: dict[str, object]) -> str | None:
    sha1, sha256 = _strip(header.get("x5t")), _strip(header.get("x5t#S256"))
    for pem in app.certificates:
        registered_sha1, registered_sha256 = thumbprints(pem)
        if (sha256 and sha256 == registered_sha256) or (sha1 and sha1 == registered_sha1):
            return pem
    return None


def _strip(value: object) -> str | None:
    return value.rstrip("=") if isinstance(value, str) else None


def _b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

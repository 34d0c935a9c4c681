"""The identifiers Microsoft Entra ID hands out, checked as it reads them: tenant ids and certificate thumbprints."""

from __future__ import annotations

import re

from airflow_provider_m365mail.core.errors import ConfigurationError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
MULTI_TENANT = frozenset({"common", "organizations", "consumers"})


def check_tenant_id(value: str | None) -> str | None:
    """Take a tenant GUID, a tenant domain or one of Entra's multi-tenant names (common, organizations, consumers)."""
    if value is not None and not (_GUID.match(value) or _DOMAIN.match(value) or value.lower() in MULTI_TENANT):
        raise ConfigurationError(
            "extra.tenant_id",
            f"{value!r} is neither a tenant GUID nor a domain",
            hint="use the Directory (tenant) ID from Entra admin center > Overview, or contoso.onmicrosoft.com",
        )
    return value


def check_thumbprint(value: str | None) -> str | None:
    """Take the SHA-1 thumbprint as Entra or openssl shows it; refuse SHA-256 (MSAL would fail with AADSTS700027)."""
    if value is None:
        return None
    command = "openssl x509 -in cert.pem -noout -fingerprint -sha1"
    named, _, fingerprint = value.strip().casefold().rpartition("=")  # "sha1 Fingerprint=AB:CD:..." from openssl
    digits, named = re.sub(r"[\s:]", "", fingerprint).upper(), named.strip()
    if re.fullmatch(r"[0-9A-F]{64}", digits) or named.startswith("sha256"):
        raise ConfigurationError(
            "extra.certificate_thumbprint",
            "this is a SHA-256 thumbprint; Microsoft Entra ID signs in with the certificate's SHA-1 thumbprint "
            "(40 hex digits), and a SHA-256 one fails with AADSTS700027",
            hint=f"copy the Thumbprint column of App registrations > Certificates & secrets, or run: {command}",
        )
    if not re.fullmatch(r"[0-9A-F]{40}", digits) or (named and named not in ("sha1 fingerprint", "sha1")):
        raise ConfigurationError(
            "extra.certificate_thumbprint",
            "expected the certificate's SHA-1 thumbprint (40 hex digits, colons allowed)",
            hint=f"copy it from App registrations > Certificates & secrets, or run: {command}",
        )
    return digits

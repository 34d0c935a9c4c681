"""High Volume Email (HVE) for Microsoft 365: internal mail in volume, outside one mailbox's limits.

HVE takes SMTP on ``smtp.hve.mx.microsoft:587`` with STARTTLS (the older ``smtp-hve.office365.com`` is being
retired), signed in as an HVE account: its password, or an app added with ``Add-HVEAppAccess`` using XOAUTH2
with the account as user. It delivers to the tenant's accepted domains only and keeps no Sent Items, so a
recipient outside them is refused here, naming it, before anything is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.message.address_syntax import domain_key
from airflow_provider_m365mail.core.settings.choices import AuthType, SmtpMode
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader

HVE_HOST = "smtp.hve.mx.microsoft"
RETIRED_HVE_HOST = "smtp-hve.office365.com"

log = logging.getLogger(__name__)


def hve_host(name: str | None) -> str:
    """Return the HVE endpoint to use: ``name`` if given (warning on the retired one), else ``HVE_HOST``."""
    if name and name.lower().rstrip(".") == RETIRED_HVE_HOST:
        log.warning("host %s is being retired for High Volume Email; use %s", RETIRED_HVE_HOST, HVE_HOST)
    return name or HVE_HOST


def accepted_domains(extra: ExtraReader, mode: SmtpMode, *addresses: str | None) -> tuple[str, ...]:
    """Return the tenant's accepted domains HVE may deliver to: ``extra.accepted_domains``, else the domains of
    the HVE account and the From address (an HVE account lives in an accepted domain)."""
    listed = extra.listing("accepted_domains")
    if listed and mode is not SmtpMode.HVE:
        raise ConfigurationError(
            "extra.accepted_domains", "accepted_domains applies to smtp_mode hve only", hint="remove it"
        )
    if mode is not SmtpMode.HVE:
        return ()
    for domain in listed:
        if "@" in domain or "." not in domain.strip("."):
            raise ConfigurationError(
                "extra.accepted_domains", f"{domain!r} is not a domain", hint="list domains, e.g. contoso.com"
            )
    found = listed or tuple(a.rpartition("@")[2] for a in addresses if a and "@" in a)
    return tuple(dict.fromkeys(domain_key(d) for d in found))


def check_hve_auth(mode: SmtpMode, auth: AuthType) -> None:
    """Refuse an HVE connection that would not sign in as an HVE account (basic, or XOAUTH2 app-only)."""
    if mode is not SmtpMode.HVE:
        return
    if auth not in (AuthType.BASIC, AuthType.OAUTH2_APP):
        raise ConfigurationError(
            "extra.auth_type",
            f"High Volume Email signs in as an HVE account with basic or oauth2_app, not {auth.value}",
            hint="set login and password to the HVE account's, or auth_type oauth2_app with an app added by "
            "Add-HVEAppAccess and login set to the HVE account",
        )


def refuse_external_recipients(domains: tuple[str, ...], recipients: Iterable[str]) -> None:
    """Raise ``MessageValidationError`` naming every recipient outside the accepted ``domains`` (HVE only)."""
    if not domains:
        return
    outside = [r for r in dict.fromkeys(recipients) if domain_key(r.rpartition("@")[2]) not in domains]
    if outside:
        raise MessageValidationError(
            "recipients",
            f"High Volume Email delivers to the tenant's accepted domains only ({', '.join(domains)}); "
            f"refused before sending: {', '.join(outside)}",
            hint="send external mail with transport acs (Azure Communication Services Email); if the domain is "
            "accepted in the tenant, list it in extra.accepted_domains",
        )

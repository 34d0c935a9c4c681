"""High Volume Email (HVE) for Microsoft 365: internal mail in volume, outside one mailbox's limits.

HVE takes SMTP on ``smtp.hve.mx.microsoft:587`` with STARTTLS (the older ``smtp-hve.office365.com`` is being
retired), signed in as an HVE account: its password, or an app added with ``Add-HVEAppAccess`` using XOAUTH2
with the account as user. It delivers to the tenant's accepted domains only and keeps no Sent Items, so a
recipient outside them is refused here, naming it, before anything is sent. The domains come from
``extra.accepted_domains`` and, within the process, from HVE's own refusals (5.7.54): a domain the server once
refused for an account is refused before connecting on every later send through that server and account.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError, parse_enhanced_status
from airflow_provider_m365mail.core.message.address_syntax import domain_key
from airflow_provider_m365mail.core.settings.choices import AuthType, SmtpMode
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.settings.model import MailSettings

HVE_HOST = "smtp.hve.mx.microsoft"
RETIRED_HVE_HOST = "smtp-hve.office365.com"
NOT_ACCEPTED_DOMAIN = "5.7.54"  # 550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain
EXTERNAL_MAIL_HINT = "send external mail with transport acs (Azure Communication Services Email)"

# (host, port, HVE account) -> domains that server refused for that account as not accepted, with its reply
_learned: dict[tuple[str, int, str], dict[str, str]] = {}
_learned_lock = threading.Lock()

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


def refuse_external_recipients(settings: MailSettings, recipients: Iterable[str]) -> None:
    """Raise ``MessageValidationError`` naming every recipient HVE will not take: outside the accepted domains,
    or in a domain the server refused for this account earlier in the process (HVE only)."""
    domains = settings.accepted_domains
    if not domains:
        return
    learned = _learned_for(settings)
    wanted = list(dict.fromkeys(recipients))
    refused_before = [r for r in wanted if _domain(r) in learned]
    if refused_before:
        replies = dict.fromkeys(learned[_domain(r)] for r in refused_before)
        raise MessageValidationError(
            "recipients",
            f"High Volume Email ({settings.host}) refused the domain of {', '.join(refused_before)} for "
            f"{settings.username} earlier in this process, as not an accepted domain ({'; '.join(replies)}); "
            "learned from the server, so refused before connecting",
            hint=f"{EXTERNAL_MAIL_HINT}; if the domain should be accepted, add it as an accepted domain in "
            "Exchange admin center > Mail flow > Accepted domains (and remove it from extra.accepted_domains "
            "until then)",
        )
    outside = [r for r in wanted if _domain(r) not in domains]
    if outside:
        raise MessageValidationError(
            "recipients",
            f"High Volume Email delivers to the tenant's accepted domains only ({', '.join(domains)}); "
            f"refused before sending: {', '.join(outside)}",
            hint=f"{EXTERNAL_MAIL_HINT}; if the domain is accepted in the tenant, list it in extra.accepted_domains",
        )


def learn_refused_domains(settings: MailSettings, refused: Mapping[str, tuple[int, str]]) -> None:
    """Remember the domains of recipients HVE refused as not accepted (5.7.54), for this server and account."""
    if not settings.accepted_domains:
        return
    found = {
        _domain(address): f"{code} {text}".strip()
        for address, (code, text) in refused.items()
        if parse_enhanced_status(f"{code} {text}") == NOT_ACCEPTED_DOMAIN
    }
    if found:
        with _learned_lock:
            _learned.setdefault(_account_key(settings), {}).update(found)
        log.warning("High Volume Email refused %s as not accepted; later sends there are refused before connecting",
                    ", ".join(sorted(found)))


def forget_learned_domains() -> None:
    """Forget every domain learned from HVE's refusals (a new tenant configuration, or a test's clean slate)."""
    with _learned_lock:
        _learned.clear()


def _learned_for(settings: MailSettings) -> dict[str, str]:
    with _learned_lock:
        return dict(_learned.get(_account_key(settings), {}))


def _account_key(settings: MailSettings) -> tuple[str, int, str]:
    return settings.host.casefold().rstrip("."), settings.port, (settings.username or "").casefold()


def _domain(address: str) -> str:
    return domain_key(address.rpartition("@")[2])

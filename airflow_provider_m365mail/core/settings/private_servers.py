"""Where the provider relaxes a Microsoft-only rule for servers that are not Microsoft's.

The local sandbox, Exchange Server on premises and other test or private systems sign their certificates with a
private CA (``extra.ca_bundle``) or run their own identity provider (``extra.authority_host``). Two rules that hold
for Microsoft 365 do not hold for them; both exceptions live here so that a reader finds them in one place:

- an SMTP host given as an IP address is refused for Microsoft 365 (its certificates name DNS names only), but a
  private CA may issue certificates for an IP address;
- before a password grant MSAL asks Entra ID's user-realm endpoint whether the user is federated; other identity
  providers have no such endpoint, and MSAL offers no option to skip it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msal import ClientApplication


def is_private_setup(*, ca_bundle: str | None, custom_authority: bool) -> bool:
    """Tell whether a connection trusts a private CA or signs in at an identity provider of its own."""
    return bool(ca_bundle) or custom_authority


def skip_user_realm_discovery(app: ClientApplication) -> None:
    """Keep MSAL from calling Entra ID's user-realm discovery for ``app``'s (non-Microsoft) authority host.

    MSAL consults a private, process-wide set of hosts without that endpoint; adding the host there is the only
    way to turn the call off (it would go to port 443 of the host name, whatever port the authority uses).
    """
    import msal

    msal.authority.Authority._domains_without_user_realm_discovery.add(app.authority.instance)

"""Show and change the emulated tenant through the admin API (``/_sandbox/tenant``).

A change body holds any of: ``smtp_auth_enabled``, ``basic_auth_enabled`` (booleans), ``token_lifetime_s``,
``accepted_domains``, ``relay_allowed_ips``, ``limits`` (a partial ``Limits``), ``mailboxes``, ``apps`` and
``hve_accounts`` (objects keyed by address / client id whose values change or add that mailbox, app or High Volume
Email account: ``{"hve_accounts": {"hve@contoso.com": {"active": false}}}`` takes its billing policy away,
``{"app_access": []}`` empties its allowed apps). Each mistake is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from .admin_fields import address, changed, flag, mapping, only, strings, text
from .config import App, HveAccount, Mailbox, TenantConfig

_SWITCHES = ("smtp_auth_enabled", "basic_auth_enabled")
_LISTS = ("accepted_domains", "relay_allowed_ips")


def tenant_view(tenant: TenantConfig) -> dict[str, Any]:
    """Return the tenant as JSON, with passwords and client secrets left out."""
    return {
        "tenant_id": tenant.tenant_id,
        "accepted_domains": list(tenant.accepted_domains),
        "smtp_auth_enabled": tenant.smtp_auth_enabled,
        "basic_auth_enabled": tenant.basic_auth_enabled,
        "relay_allowed_ips": list(tenant.relay_allowed_ips),
        "token_lifetime_s": tenant.token_lifetime_s,
        "limits": asdict(tenant.limits),
        "mailboxes": [
            {"address": m.address, "display_name": m.display_name, "can_sign_in": m.password is not None,
             "smtp_auth_enabled": m.smtp_auth_enabled, "rest_enabled": m.rest_enabled}
            for m in tenant.mailboxes
        ],
        "apps": [
            {"client_id": a.client_id, "has_secret": a.client_secret is not None, "certificates": len(a.certificates),
             "roles": list(a.roles), "delegated_scopes": list(a.delegated_scopes),
             "full_access": None if a.full_access is None else list(a.full_access),
             "graph_scope": None if a.graph_scope is None else list(a.graph_scope)}
            for a in tenant.apps
        ],
        "hve_accounts": [
            {"address": a.address, "can_sign_in": a.password is not None, "active": a.active,
             "app_access": list(a.app_access)}
            for a in tenant.hve_accounts
        ],
    }


def tenant_changes(tenant: TenantConfig, body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a change body and return keyword arguments for ``SandboxState.update_tenant``."""
    only(body, (*_SWITCHES, *_LISTS, "token_lifetime_s", "limits", "mailboxes", "apps", "hve_accounts"))
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in _SWITCHES:
            changes[key] = flag(key, value)
        elif key in _LISTS:
            changes[key] = strings(key, value)
        elif key == "token_lifetime_s":
            changes[key] = changed(tenant, {key: value}, "").token_lifetime_s
        elif key == "limits":
            changes[key] = changed(tenant.limits, mapping(key, value), key)
        elif key == "mailboxes":
            changes[key] = _merge(tenant.mailboxes, mapping(key, value), "address", Mailbox, key)
        elif key == "hve_accounts":
            changes[key] = _merge(tenant.hve_accounts, mapping(key, value), "address", HveAccount, key)
        else:
            changes[key] = _merge(tenant.apps, mapping(key, value), "client_id", App, key)
    return changes


def _merge(
    current: tuple[Any, ...], patch: Mapping[str, Any], key_field: str, kind: type, where: str
) -> tuple[Any, ...]:
    """Apply ``{key: changes}`` to a tuple of dataclasses, adding entries whose key is new."""
    result = list(current)
    for key, change in patch.items():
        path = f"{where}.{key}"
        keys = [str(getattr(item, key_field)).casefold() for item in result]
        found = keys.index(key.casefold()) if key.casefold() in keys else None
        if found is None:
            new_key = address(path, key) if key_field == "address" else text(path, key)
            result.append(changed(kind(**{key_field: new_key}), mapping(path, change), path))
        else:
            result[found] = changed(result[found], mapping(path, change), path)
    return tuple(result)

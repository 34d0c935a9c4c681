"""Show and change the emulated tenant through the admin API (``/_sandbox/tenant``).

A change body holds any of: ``smtp_auth_enabled``, ``basic_auth_enabled`` (booleans), ``token_lifetime_s``,
``accepted_domains``, ``relay_allowed_ips``, ``limits`` (a partial ``Limits``), ``mailboxes`` and ``apps``
(objects keyed by address / client id whose values change or add that mailbox or app). Each mistake is a 400
naming the field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from typing import Any

from .config import App, Mailbox, TenantConfig
from .http_wire import ApiError, sandbox_error

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
    }


def tenant_changes(tenant: TenantConfig, body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a change body and return keyword arguments for ``SandboxState.update_tenant``."""
    known = (*_SWITCHES, *_LISTS, "token_lifetime_s", "limits", "mailboxes", "apps")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in _SWITCHES:
            changes[key] = _bool(key, value)
        elif key in _LISTS:
            changes[key] = _strings(key, value)
        elif key == "token_lifetime_s":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _invalid(key, "must be a positive integer (seconds)")
            changes[key] = value
        elif key == "limits":
            changes[key] = _changed(tenant.limits, _mapping(key, value), key)
        elif key == "mailboxes":
            changes[key] = _merge(tenant.mailboxes, _mapping(key, value), "address", Mailbox, key)
        elif key == "apps":
            changes[key] = _merge(tenant.apps, _mapping(key, value), "client_id", App, key)
        else:
            raise _invalid(key, f"unknown field (known: {', '.join(known)})")
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
            result.append(_changed(kind(**{key_field: key}), _mapping(path, change), path))
        else:
            result[found] = _changed(result[found], _mapping(path, change), path)
    return tuple(result)


def _changed(item: Any, change: Mapping[str, Any], where: str) -> Any:
    """Return ``item`` (a frozen dataclass) with fields changed after checking each value's type."""
    hints = typing.get_type_hints(type(item))
    names = {f.name for f in fields(item)}
    values: dict[str, Any] = {}
    for name, value in change.items():
        path = f"{where}.{name}"
        if name not in names:
            raise _invalid(path, f"unknown field (known: {', '.join(sorted(names))})")
        values[name] = _coerce(path, value, hints[name])
    return replace(item, **values)


def _coerce(path: str, value: Any, hint: Any) -> Any:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if union else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise _invalid(path, "must not be null")
    for option in allowed:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if typing.get_origin(option) is tuple:
            return _strings(path, value)
    raise _invalid(path, f"has the wrong type (expected {hint})")


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(path, "must be true or false")
    return value


def _strings(path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(path, "must be a list of strings")
    return tuple(value)


def _mapping(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(path, "must be an object")
    return value


def _invalid(path: str, message: str) -> ApiError:
    return sandbox_error(400, "InvalidRequest", f"'{path}': {message}", field=path)


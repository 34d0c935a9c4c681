"""Check admin API input field by field: the one place that says what a valid value is.

Every admin route reads its body through these checks, so junk (``NaN``, ``Infinity``, a zero limit, an empty
address, a wrong type) is a 400 naming the field instead of a value that breaks the sandbox later. Ranges of
tenant settings live beside the fields themselves, as dataclass metadata (``config.bounded``, ``config.checked``).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from .http_wire import ApiError, sandbox_error


def invalid(path: str, message: str) -> ApiError:
    """Return the 400 answer for a bad request body field."""
    return sandbox_error(400, "InvalidRequest", f"'{path}': {message}", field=path)


def only(body: Mapping[str, Any], allowed: set[str] | tuple[str, ...], where: str = "") -> None:
    """Refuse the first field of ``body`` not in ``allowed``."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise invalid(_join(where, unknown[0]), f"unknown field (known: {', '.join(sorted(allowed))})")


def text(path: str, value: Any) -> str:
    """Return a non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(path, "is required and must be a non-empty string")
    return value.strip()


def address(path: str, value: Any) -> str:
    """Return an email address: a non-empty local part and domain around one ``@``."""
    checked = text(path, value)
    local, at, domain = checked.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in checked):
        raise invalid(path, "must be an email address like name@contoso.com")
    return checked


def flag(path: str, value: Any) -> bool:
    """Return a JSON boolean."""
    if not isinstance(value, bool):
        raise invalid(path, "must be true or false")
    return value


def number(path: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    """Return a finite number from ``low`` to ``high`` (an integer when asked); NaN and Infinity are refused."""
    kind = "an integer" if integer else "a number"
    wrong_type = not isinstance(value, int | float) or isinstance(value, bool) or (integer and isinstance(value, float))
    if wrong_type or not math.isfinite(value) or not low <= value <= high:
        raise invalid(path, f"must be {kind} from {low:g} to {high:g}")
    checked: float = value
    return checked


def strings(path: str, value: Any) -> tuple[str, ...]:
    """Return a list of non-empty strings as a tuple."""
    if not isinstance(value, list):
        raise invalid(path, "must be a list of non-empty strings")
    return tuple(text(f"{path}[{n}]", item) for n, item in enumerate(value))


def mapping(path: str, value: Any) -> Mapping[str, Any]:
    """Return a JSON object."""
    if not isinstance(value, Mapping):
        raise invalid(path, "must be an object")
    return value


def changed(item: Any, change: Mapping[str, Any], where: str) -> Any:
    """Return ``item`` (a frozen dataclass) with fields changed, each value checked against its type and range."""
    hints = typing.get_type_hints(type(item))
    known = {f.name: f for f in fields(item)}
    only(change, tuple(known), where)
    values = {name: _value(_join(where, name), value, hints[name], known[name].metadata)
              for name, value in change.items()}
    return replace(item, **values)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _value(path: str, value: Any, hint: Any, metadata: Mapping[str, Any]) -> Any:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if union else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise invalid(path, "must not be null")
    low, high = metadata.get("range", (-math.inf, math.inf))
    for option in allowed:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return int(number(path, value, low, high, integer=True))
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(number(path, value, low, high))
        if option is str and isinstance(value, str):
            return {"address": address, "text": text}.get(metadata.get("check", ""), _as_is)(path, value)
        if typing.get_origin(option) is tuple:
            return strings(path, value)
    raise invalid(path, f"has the wrong type (expected {hint})")


def _as_is(path: str, value: str) -> str:
    return value

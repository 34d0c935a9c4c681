"""Read a connection's extras as typed values, naming the key and the fix when one is wrong.

Extras arrive from the Airflow UI, a connection URI or JSON, so numbers and booleans may be strings ("587",
"true") and unset UI fields may be empty strings. Unknown keys are refused with a did-you-mean, because a typo
in a setting silently falling back to a default is how mail ends up going to the wrong place.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Collection, Mapping
from enum import Enum
from typing import Any, TypeVar

from airflow_provider_m365mail.core.errors import ConfigurationError

E = TypeVar("E", bound=Enum)
log = logging.getLogger(__name__)

# Airflow 2 stored custom connection fields as "extra__<conn_type>__<name>"; accept that spelling too.
_LEGACY_PREFIX = re.compile(r"^extra__[a-z0-9_]+?__")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def did_you_mean(value: str, choices: Collection[str]) -> str:
    """Return " Did you mean 'x'?" for the closest choice, or an empty string."""
    close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class ExtraReader:
    """Typed, validating access to a connection's extras; errors name the field as ``extra.<key>``.

    ``renamed`` maps a former key to its new name: it is still read, with a warning naming the new key.
    """

    def __init__(
        self, extra: Mapping[str, Any], known: Collection[str], *, renamed: Mapping[str, str] | None = None
    ) -> None:
        renamed = renamed or {}
        values: dict[str, Any] = {}
        for raw_key, value in extra.items():
            key = _LEGACY_PREFIX.sub("", str(raw_key))
            if key in renamed:
                key = _renamed_key(key, renamed[key], extra)
            if key not in known:
                raise ConfigurationError(
                    f"extra.{raw_key}",
                    f"unknown setting {raw_key!r}.{did_you_mean(key, known)}",
                    hint=f"valid extras: {', '.join(sorted(known))}",
                )
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            values[key] = value.strip() if isinstance(value, str) else value
        self._values = values

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def text(self, key: str) -> str | None:
        """Return a string setting, or None when unset."""
        value = self._values.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigurationError(f"extra.{key}", f"expected text, got {type(value).__name__}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """Return a boolean setting given as a bool or as "true"/"false" (also yes/no, on/off, 1/0)."""
        value = self._values.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ConfigurationError(f"extra.{key}", f"{value!r} is not a boolean", hint="use true or false")

    def integer(self, key: str) -> int | None:
        """Return a whole-number setting given as an int or a string of digits."""
        value = self._values.get(key)
        if value is None:
            return None
        return parse_int(value, field=f"extra.{key}")

    def number(self, key: str) -> float | None:
        """Return a numeric setting given as a number or a numeric string."""
        value = self._values.get(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"extra.{key}", f"{value!r} is not a number", hint="e.g. 30") from None

    def choice(self, key: str, enum: type[E]) -> E | None:
        """Return an enum member from its value, case-insensitively; list the valid values otherwise."""
        value = self._values.get(key)
        if value is None:
            return None
        if isinstance(value, enum):
            return value
        options = [str(member.value) for member in enum]
        text = str(value).strip().lower().replace("-", "_")
        for member in enum:
            if member.value == text:
                return member
        raise ConfigurationError(
            f"extra.{key}",
            f"{value!r} is not a valid {key}.{did_you_mean(text, options)}",
            hint=f"use one of: {', '.join(options)}",
        )

    def listing(self, key: str) -> tuple[str, ...]:
        """Return a list setting given as a list or as a comma/semicolon separated string."""
        value = self._values.get(key)
        if value is None:
            return ()
        items = re.split(r"[,;]", value) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
            raise ConfigurationError(
                f"extra.{key}", "expected a list of strings or a comma-separated string"
            )
        return tuple(item.strip() for item in items if item.strip())


def _renamed_key(old: str, new: str, extra: Mapping[str, Any]) -> str:
    """Return the new name of a renamed extra, warning once per read; refuse the extra under both names."""
    if any(_LEGACY_PREFIX.sub("", str(key)) == new for key in extra):
        raise ConfigurationError(f"extra.{old}", f"{old} is the former name of {new}", hint=f"keep only {new}")
    log.warning("The connection extra %r is deprecated: rename it to %r (Airflow masks that name).", old, new)
    return new


def parse_int(value: Any, *, field: str) -> int:
    """Return ``value`` as an int, accepting strings of digits ("587"); refuse bools and fractions."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ConfigurationError(field, f"{value!r} is not a whole number")

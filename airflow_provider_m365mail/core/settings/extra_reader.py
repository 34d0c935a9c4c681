"""Read a connection's extras as typed values, naming the key and the fix when one is wrong.

Extras arrive from the Airflow UI, a connection URI or JSON, so numbers and booleans may be strings ("587",
"true") and unset UI fields may be empty strings. Unknown keys are refused with a did-you-mean, because a typo
in a setting silently falling back to a default is how mail ends up going to the wrong place. Extras that are not
a JSON object are refused as such (Airflow itself would quietly read them as no extras at all), and every
numeric extra goes through one reader that refuses booleans, NaN, infinity and values not above zero.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Collection, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_m365mail.core.errors import ConfigurationError

E = TypeVar("E", bound=Enum)
log = logging.getLogger(__name__)

# Airflow 2 stored custom connection fields as "extra__<conn_type>__<name>"; accept that spelling too.
_LEGACY_PREFIX = re.compile(r"^extra__[a-z0-9_]+?__")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def did_you_mean(value: str, choices: Collection[str]) -> str:
    """Return " Did you mean 'x'?" for the closest choice, or an empty string."""
    close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def decode_extra(extra: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Return a connection's extras from their JSON text (or as given); refuse anything but a JSON object."""
    if extra is None or (isinstance(extra, str) and not extra.strip()):
        return {}
    decoded: Any = extra
    if isinstance(extra, str):
        try:
            decoded = json.loads(extra)
        except json.JSONDecodeError as exc:  # its message holds the position, never the text itself
            raise ConfigurationError(
                "extra",
                f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} (character {exc.pos})",
                hint='write the extras as one JSON object, e.g. {"transport": "graph", "tenant_id": "..."}',
            ) from None
    if not isinstance(decoded, Mapping):
        kind = _JSON_KINDS.get(type(decoded), type(decoded).__name__)
        raise ConfigurationError(
            "extra",
            f"must be a JSON object of settings, not {kind}",
            hint='write the extras as one JSON object, e.g. {"transport": "graph", "tenant_id": "..."}',
        )
    return decoded


class ExtraReader:
    """Typed, validating access to a connection's extras; errors name the field as ``extra.<key>``.

    ``renamed`` maps a former key to its new name: it is still read, with a warning naming the new key.
    """

    def __init__(
        self,
        extra: str | Mapping[str, Any] | None,
        known: Collection[str],
        *,
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        renamed = renamed or {}
        values: dict[str, Any] = {}
        decoded = decode_extra(extra)
        for raw_key, value in decoded.items():
            key = _LEGACY_PREFIX.sub("", str(raw_key))
            if key in renamed:
                key = _renamed_key(key, renamed[key], decoded)
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

    def existing_file(self, key: str) -> str | None:
        """Return the file path under ``key`` (None when unset), refusing a path where no file is."""
        value = self.text(key)
        if value is not None and not Path(value).expanduser().is_file():
            raise ConfigurationError(f"extra.{key}", f"file not found: {value}", hint="give a readable file path")
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

    def positive_number(self, key: str, default: float, *, at_most: float | None = None) -> float:
        """Return a number above zero (and at most ``at_most``), given as a number or numeric text."""
        value = self._values.get(key)
        return default if value is None else parse_positive(value, field=f"extra.{key}", at_most=at_most)

    def positive_integer(self, key: str, default: int) -> int:
        """Return a whole number above zero, given as a number or numeric text."""
        value = self._values.get(key)
        if value is None:
            return default
        number = parse_positive(value, field=f"extra.{key}")
        if not number.is_integer():
            raise ConfigurationError(f"extra.{key}", f"{value!r} is not a whole number", hint="e.g. 30")
        return int(number)

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


def parse_positive(value: Any, *, field: str, at_most: float | None = None) -> float:
    """Return ``value`` as a finite number above zero: the one reader of every numeric extra.

    Booleans are refused although Python counts ``true`` as 1, and so are NaN and infinity, which would turn a
    timeout into "fail at once" or "wait for ever".
    """
    hint = "give a number greater than 0, e.g. 30"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigurationError(field, f"{value!r} is not a number", hint=hint)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ConfigurationError(field, f"{value!r} is not a number", hint=hint) from None
    if not math.isfinite(number):
        raise ConfigurationError(field, f"{value!r} is not a finite number", hint=hint)
    if number <= 0:
        raise ConfigurationError(field, f"must be greater than 0, got {value!r}", hint=hint)
    if at_most is not None and number > at_most:
        raise ConfigurationError(field, f"must be at most {at_most:g}, got {value!r}")
    return number


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

"""Hold a secret setting so that only code asking for it by name sees it in clear.

A password, client secret, refresh token, private key or proxy URL inside ``MailSettings`` would otherwise come out
of every generic view of the settings: ``repr``, ``dataclasses.asdict`` (which copies the values), ``str`` in an
f-string, ``pickle`` or ``json.dumps``. ``Secret`` answers each of them with a mask or an error; ``reveal()`` is the
one way to the value, used where it is handed to a server.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

MASK = "***"


class Secret:
    """A secret text value: masked in ``repr``/``str``, kept (not copied) by ``copy``/``asdict``, never pickled."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret in clear, for the call that sends it to a server."""
        return self._value

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "a Secret is not pickled: pass the connection id and read the settings again where they are needed"
        )

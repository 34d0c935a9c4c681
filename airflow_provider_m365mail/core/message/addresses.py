"""Parse and check email addresses ("Name <a@b>" or "a@b") before they reach a header or an envelope.

The display name is parsed with the stdlib's RFC 5322 header parser (quoted names may hold commas and angle
brackets, names may be non-ASCII); the address itself is checked by ``address_syntax`` the way mail servers check
it, without DNS and without refusing private domains. Line breaks and NUL are refused anywhere, so a value can
never smuggle in another header or SMTP command.

The parser is lenient: given ``a@x.com b@x.com`` or ``a@x.com <b@x.com>`` it keeps the first address, notes a
defect and drops the rest. Every defect it notes is therefore an error here, so no input loses an address in
silence. The one exception is a period in an unquoted display name (``Mr. Smith <smith@x.com>``): obsolete
syntax, but common and unambiguous, and the name goes out quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email import errors as email_errors
from email import headerregistry
from typing import cast

from airflow_provider_m365mail.core.errors import MessageValidationError, ValidationError
from airflow_provider_m365mail.core.message.address_syntax import (
    AddressSyntaxError,
    check_addr_spec,
    check_domain,
    domain_key,
)
from airflow_provider_m365mail.core.message.header_factory import HEADER_FACTORY

_FORBIDDEN = re.compile(r"[\r\n\x00]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # half of a UTF-16 pair: no encoding can send it
# Obsolete syntax the parser notes that changes nothing about which mailbox is meant.
_HARMLESS_DEFECTS = frozenset({"period in 'phrase'"})
# A bare ASCII address (dot-atom local part, letters-digits-hyphens domain): the header parser would return it
# unchanged, with no name and no defect, so it goes straight to the syntax check. Without "=" and "?", which could
# open an encoded word the parser treats apart. Most recipients of a mail merge look like this.
_PLAIN_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
# Text shaped like an RFC 2047 encoded word ("=?utf-8?q?...?="): mail clients decode it wherever it appears.
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


@dataclass(frozen=True)
class Address:
    """A mailbox: the address and an optional display name (any Unicode; the MIME builder encodes it)."""

    email: str
    name: str = ""

    @property
    def domain(self) -> str:
        """The part after the "@", lower-cased."""
        return self.email.rpartition("@")[2].lower()

    def formatted(self) -> str:
        """Return ``Name <a@b>`` with the name quoted as RFC 5322 needs (non-ASCII left for the MIME policy)."""
        local, _, domain = self.email.rpartition("@")  # parsing a UTF-8 local part again would flag it a defect
        return str(headerregistry.Address(display_name=self.name, username=local, domain=domain))


def refuse_line_breaks(value: str, *, field: str, error: type[ValidationError] = MessageValidationError) -> None:
    """Raise ``error`` naming ``field`` when ``value`` holds CR, LF or NUL (header or command injection)."""
    if _FORBIDDEN.search(value):
        raise error(field, "must not contain line breaks (CR/LF) or NUL characters")


def refuse_control_characters(
    value: str, *, field: str, error: type[ValidationError] = MessageValidationError
) -> None:
    """Refuse line breaks (any Unicode line separator) and control characters other than tab in a header."""
    refuse_line_breaks(value, field=field, error=error)
    if _CONTROL.search(value):
        raise error(field, "must not contain control characters or line separators")
    refuse_unencodable(value, field=field, error=error)


def refuse_unencodable(value: str, *, field: str, error: type[ValidationError] = MessageValidationError) -> None:
    """Refuse text holding a lone UTF-16 surrogate (from a mis-decoded file name, say): it cannot be encoded."""
    if _SURROGATE.search(value):
        raise error(field, "holds a lone surrogate character (\\ud800-\\udfff), which no encoding can carry")


def parse_display_name(name: str, *, field: str, error: type[ValidationError]) -> str:
    """Return a display name as readers see it (blanks and tabs between words count as one space), or raise ``error``.

    Refused: line breaks and control characters (header injection) and text shaped like an RFC 2047 encoded word.
    """
    refuse_control_characters(name, field=field, error=error)
    if ENCODED_WORD.search(name):
        raise error(
            field,
            f"the display name {name!r} holds an RFC 2047 encoded word that mail clients would decode",
            hint="pass the decoded name",
        )
    return re.sub(r"[ \t]+", " ", name).strip()


def _checked_email(addr_spec: str, *, field: str, error: type[ValidationError]) -> str:
    try:
        return check_addr_spec(addr_spec)
    except AddressSyntaxError as exc:
        raise error(field, f"{addr_spec!r} is not a valid email address: {exc}") from None


def parse_address(
    value: str | Address, *, field: str, error: type[ValidationError] = MessageValidationError
) -> Address:
    """Return the ``Address`` in ``"Name <a@b>"`` or ``"a@b"``; raise ``error`` naming ``field`` otherwise."""
    if isinstance(value, Address):
        name = parse_display_name(value.name, field=field, error=error)
        refuse_line_breaks(value.email, field=field, error=error)
        return Address(_checked_email(value.email.strip(), field=field, error=error), name)
    if not isinstance(value, str):
        raise error(field, f"expected an address string, got {type(value).__name__}")
    refuse_control_characters(value, field=field, error=error)
    text = value.strip()
    if not text:
        raise error(field, "the address is empty")
    if _PLAIN_ADDR_SPEC.fullmatch(text):
        return Address(_checked_email(text, field=field, error=error))
    return _parse_with_header_parser(text, field=field, error=error)


def _parse_with_header_parser(text: str, *, field: str, error: type[ValidationError]) -> Address:
    one_address = 'use "Name <name@example.com>" or name@example.com; separate addresses with "," or ";"'
    try:
        header = HEADER_FACTORY("to", text)
    except (email_errors.HeaderParseError, ValueError, IndexError, TypeError):  # the parser's own slips
        raise error(field, f"{text!r} is not one address", hint=one_address) from None
    defects = [
        str(defect)
        for defect in header.defects
        # A UTF-8 local part (RFC 6532) is no defect for us: address_syntax checks it, SMTPUTF8 carries it.
        if str(defect) not in _HARMLESS_DEFECTS and not isinstance(defect, email_errors.NonASCIILocalPartDefect)
    ]
    if defects:
        raise error(field, f"{text!r} is not one address ({'; '.join(defects)})", hint=one_address)
    parsed = cast(headerregistry.AddressHeader, header).addresses
    if len(parsed) != 1 or not parsed[0].addr_spec or parsed[0].addr_spec == "<>":
        raise error(field, f"{text!r} is not one address", hint=one_address)
    found = parsed[0]
    name = parse_display_name(found.display_name, field=field, error=error)
    return Address(_checked_email(found.addr_spec, field=field, error=error), name)


def split_addresses(text: str) -> list[str]:
    """Split a list of addresses on "," and ";", except inside quoted names, comments or angle brackets."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth_angle = depth_comment = 0
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth_comment):
            escaped = True
        elif char == '"' and not depth_comment:
            quoted = not quoted
        elif not quoted:
            depth_angle += {"<": 1, ">": -1}.get(char, 0) if not depth_comment else 0
            depth_comment += {"(": 1, ")": -1}.get(char, 0)
            if char in ",;" and depth_angle <= 0 and depth_comment <= 0:
                pieces.append("".join(current))
                current = []
                continue
        current.append(char)
    pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]


def parse_address_list(
    value: str | Address | Iterable[str | Address] | None,
    *,
    field: str,
    error: type[ValidationError] = MessageValidationError,
) -> tuple[Address, ...]:
    """Return the addresses in a string ("a@b, Name <c@d>; e@f"), an ``Address`` or a sequence of either.

    Addresses are de-duplicated case-insensitively, keeping the first occurrence and its display name.
    """
    if value is None:
        return ()
    if isinstance(value, (str, Address)):
        items: Iterable[object] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray, Mapping)):
        items = value
    else:
        raise error(field, f"expected an address, a list of addresses or None, got {type(value).__name__}")
    found: dict[str, Address] = {}
    for item in items:
        if isinstance(item, str):
            refuse_control_characters(item, field=field, error=error)
            parsed = [parse_address(piece, field=field, error=error) for piece in split_addresses(item)]
        elif isinstance(item, Address):
            parsed = [parse_address(item, field=field, error=error)]
        else:
            raise error(field, f"expected address strings, got {type(item).__name__} {_shown(item)}")
        for address in parsed:
            found.setdefault(address.email.lower(), address)
    return tuple(found.values())


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_sender_pattern(
    pattern: str, *, field: str, error: type[ValidationError] = MessageValidationError
) -> str:
    """Return an allow-list entry (an address, ``*@domain`` or ``*``) in the form ``matches_allow_list`` compares.

    Domains are checked like an address's (private and internationalized ones accepted); the error says what is
    wrong with the entry, not merely that it is not one of the three shapes.
    """
    text = pattern.strip()
    if text == "*":
        return text
    if text.startswith("*@"):
        try:
            return "*@" + check_domain(text[2:])
        except AddressSyntaxError as exc:
            raise error(field, f"{pattern!r}: {exc}", hint="e.g. *@contoso.com") from None
    if "*" in text:
        raise error(
            field,
            f"{pattern!r} puts a wildcard where only '*' (anyone) or '*@domain' (anyone at the domain) may have one",
            hint="e.g. reports@contoso.com, *@contoso.com, *",
        )
    return _allow_list_key(parse_address(text, field=field, error=error).email)


def _allow_list_key(address: str) -> str:
    local, _, domain = address.strip().rpartition("@")
    return f"{local.lower()}@{domain_key(domain)}"


def matches_allow_list(address: str, patterns: Sequence[str]) -> bool:
    """Tell whether ``address`` matches one of ``patterns``: an address, ``*@domain`` or ``*``.

    Domains compare in A-label form, so ``*@bücher.de`` and ``*@xn--bcher-kva.de`` are the same entry.
    """
    email = _allow_list_key(address)
    domain = email.rpartition("@")[2]
    for pattern in patterns:
        wanted = pattern.strip()
        if wanted == "*" or (wanted.startswith("*@") and domain_key(wanted[2:]) == domain):
            return True
        if "@" in wanted and not wanted.startswith("*@") and _allow_list_key(wanted) == email:
            return True
    return False

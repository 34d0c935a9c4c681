"""Write the headers whose stdlib encoding would change what the reader sees.

The ``email`` package's SMTP policy stores and folds any object that has ``name`` and ``fold(policy=...)`` as
it is; these two classes use that to encode text exactly:

- text that merely looks like an RFC 2047 encoded word ("=?utf-8?q?x?=") is sent unencoded by the stdlib, and
  every mail client would decode it, so such a value is sent entirely as encoded words;
- the stdlib's unstructured folder puts plain spaces *between* encoded words, where readers drop them (a space
  before a no-break space is lost), so any non-ASCII value is sent entirely as encoded words too;
- the stdlib's phrase folder can glue an encoded word to the next character (for display names mixing no-break
  and plain spaces), which loses characters, so address headers are written here: a short ASCII name as a
  quoted string, any other name as encoded words, one address per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from typing import Any

from airflow_provider_m365mail.core.message.addresses import ENCODED_WORD, Address

_MAX_QUOTED = 76


@dataclass(frozen=True)
class EncodedTextHeader:
    """An unstructured header (Subject, X-...) sent entirely as RFC 2047 encoded words."""

    name: str
    value: str

    def fold(self, *, policy: Any) -> str:
        encoded = Header(self.value, "utf-8", header_name=self.name).encode(
            linesep=policy.linesep, maxlinelen=policy.max_line_length
        )
        return f"{self.name}: {encoded}{policy.linesep}"

    def __str__(self) -> str:
        return self.value


def text_header(name: str, value: str) -> str | EncodedTextHeader:
    """Return the value to store for an unstructured header, encoding it whole when it needs to be."""
    return EncodedTextHeader(name, value) if ENCODED_WORD.search(value) or not value.isascii() else value


def _mailbox(address: Address, linesep: str) -> str:
    if not address.name:
        return address.email
    quoted = address.formatted()
    if address.name.isascii() and len(quoted) <= _MAX_QUOTED:
        return quoted
    name = Header(address.name, "utf-8").encode(linesep=linesep, maxlinelen=_MAX_QUOTED)
    return f"{name} <{address.email}>"


@dataclass(frozen=True)
class AddressListHeader:
    """An address header (From, Sender, To, Cc, Reply-To) with display names encoded exactly."""

    name: str
    addresses: tuple[Address, ...]

    def fold(self, *, policy: Any) -> str:
        separator = f",{policy.linesep} "
        return f"{self.name}: {separator.join(_mailbox(a, policy.linesep) for a in self.addresses)}{policy.linesep}"

    def __str__(self) -> str:
        return ", ".join(a.formatted() for a in self.addresses)


def address_header(name: str, addresses: Sequence[Address]) -> AddressListHeader:
    """Return the value to store for an address header."""
    return AddressListHeader(name, tuple(addresses))

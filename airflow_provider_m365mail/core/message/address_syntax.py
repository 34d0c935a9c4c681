"""Check an address's syntax the way mail servers do, without judging which domains exist.

A private mail system may host any domain its DNS (or its own tables) knows: ``contoso.test``, ``corp.local``, a
single-label host such as ``localhost``. So the rules here are the protocol's only (RFC 5321/5322 for the address,
RFC 1035 for host names, IDNA 2008 with UTS 46 mapping for internationalized domains, RFC 6531 for UTF-8 local
parts), quoted local parts excepted. Whether a domain is public is a separate question, ``public_domain_problem``,
which a connection to Exchange Online asks so as to warn about what Microsoft would refuse.

The form kept for an address: the domain lower-cased and, when the local part is ASCII, as IDNA A-labels
(``bob@xn--bcher-kva.de``), which every server takes; a UTF-8 local part keeps its Unicode domain (NFC), since it
needs SMTPUTF8 anyway.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_DOT_ATOM = re.compile(rf"^[{_ATEXT}\u0080-\U0010ffff]+(?:\.[{_ATEXT}\u0080-\U0010ffff]+)*$")
_QUOTED = re.compile(r'^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*"$')
_LDH_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_DOTTED_QUAD = re.compile(r"^\d+(?:\.\d+){3}$")
_MAX_LOCAL = 64  # octets, RFC 5321 4.5.3.1.1
_MAX_DOMAIN = 253  # octets in A-label form, RFC 1035
_MAX_ADDRESS = 254  # octets: a 256-octet path less its angle brackets (RFC 5321 4.5.3.1.3)
# Names no public mail system serves (RFC 2606, 6761, 6762, 7686, 8375, and .internal / .lan in common use).
SPECIAL_USE_SUFFIXES = ("test", "example", "invalid", "localhost", "local", "onion", "internal", "lan", "home.arpa")


class AddressSyntaxError(ValueError):
    """The address breaks a protocol rule; the text says which, in words a user can act on."""


def check_addr_spec(addr_spec: str) -> str:
    """Return ``local@domain`` in the form to send (see the module docstring), or raise ``AddressSyntaxError``."""
    local, at, domain = addr_spec.rpartition("@")
    if not at:
        raise AddressSyntaxError("it has no @-sign")
    if not local:
        raise AddressSyntaxError("there is nothing before the @-sign")
    local = check_local_part(local)
    ascii_local = local.isascii()
    domain = check_domain(domain, ascii_form=ascii_local)
    address = f"{local}@{domain}"
    size = len(address.encode("utf-8"))
    if size > _MAX_ADDRESS:
        raise AddressSyntaxError(f"it is {size} octets long; SMTP allows {_MAX_ADDRESS}")
    return address


def check_local_part(local: str) -> str:
    """Return the part before the @-sign (NFC when it is UTF-8), or raise ``AddressSyntaxError``."""
    local = unicodedata.normalize("NFC", local)
    if _QUOTED.match(local):
        raise AddressSyntaxError(
            "the part before the @-sign is a quoted string: Exchange Online has no such mailboxes and most "
            "applications mishandle them, so they are refused"
        )
    if not _DOT_ATOM.match(local):
        if local.startswith(".") or local.endswith(".") or ".." in local:
            raise AddressSyntaxError("the part before the @-sign may not start or end with a dot or hold two in a row")
        raise AddressSyntaxError(
            "the part before the @-sign holds a space or one of ()<>[]:;@\\,\" outside quotes"
        )
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Zs") for char in local if not char.isascii()):
        raise AddressSyntaxError("the part before the @-sign holds an invisible or control character")
    size = len(local.encode("utf-8"))
    if size > _MAX_LOCAL:
        raise AddressSyntaxError(f"the part before the @-sign is {size} octets long; SMTP allows {_MAX_LOCAL}")
    return local


def check_domain(domain: str, *, ascii_form: bool = True) -> str:
    """Return the domain lower-cased (A-labels when ``ascii_form``, else Unicode), or raise ``AddressSyntaxError``.

    Any syntactically valid host name is accepted, single-label and special-use names included, and so is an
    address literal such as ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``.
    """
    if domain.startswith("[") and domain.endswith("]"):
        return _address_literal(domain)
    if not domain:
        raise AddressSyntaxError("there is nothing after the @-sign")
    if _DOTTED_QUAD.match(domain):
        raise AddressSyntaxError(f"{domain} is an IP address: write it in brackets, [{domain}]")
    labels = domain.split(".")
    if "" in labels:
        raise AddressSyntaxError(f"the domain {domain!r} has an empty label (a leading, trailing or double dot)")
    a_labels = [_a_label(label, domain) for label in labels]
    ascii_domain = ".".join(a_labels)
    if len(ascii_domain) > _MAX_DOMAIN:
        raise AddressSyntaxError(f"the domain is {len(ascii_domain)} octets long; DNS allows {_MAX_DOMAIN}")
    if ascii_form:
        return ascii_domain
    return idna.decode(ascii_domain) if "xn--" in ascii_domain else ascii_domain


def _a_label(label: str, domain: str) -> str:
    if label.isascii() and not label.lower().startswith("xn--"):
        if not _LDH_LABEL.match(label):
            raise AddressSyntaxError(
                f"the domain {domain!r} has the label {label!r}: host names hold letters, digits and inner hyphens, "
                "at most 63 of them per label"
            )
        return label.lower()
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressSyntaxError(
            f"the domain {domain!r} is not a valid internationalized domain name ({exc})"
        ) from None


def _address_literal(domain: str) -> str:
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            return f"[IPv6:{ipaddress.IPv6Address(inner[5:]).compressed}]"
        return f"[{ipaddress.IPv4Address(inner)}]"
    except ValueError:
        raise AddressSyntaxError(f"{domain} is not an address literal like [192.0.2.1] or [IPv6:2001:db8::1]") from None


def domain_key(domain: str) -> str:
    """Return the domain in the form to compare on: lower-cased A-labels (or the domain as is if not valid)."""
    try:
        return check_domain(domain)
    except AddressSyntaxError:
        return domain.lower()


def needs_smtputf8(address: str) -> bool:
    """Tell whether sending to or from ``address`` needs the server's SMTPUTF8 extension (a UTF-8 local part)."""
    return not address.isascii()


def public_domain_problem(domain: str) -> str | None:
    """Say why no public mail system (Exchange Online included) would take ``domain``, or None if one may."""
    key = domain_key(domain)
    if key.startswith("["):
        return f"{domain} is an IP address literal, which Exchange Online neither accepts nor sends to"
    if "." not in key:
        return f"{domain} is a single-label name, which only a private mail system can route"
    for suffix in SPECIAL_USE_SUFFIXES:
        if key == suffix or key.endswith("." + suffix):
            return f"{domain} ends in the special-use name .{suffix}, which no public mail system serves"
    return None

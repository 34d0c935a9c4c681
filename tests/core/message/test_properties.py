"""Properties of everything that parses or builds headers and addresses.

Whatever a DAG author puts in a display name, subject or custom header (quotes, commas, angle brackets, any
script), the sent message parses back to the same values with no header added; and no value holding a line break
gets into a message at all.
"""

from __future__ import annotations

import email
import re
from dataclasses import replace
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_m365mail.core.delivery.mailer import split_per_recipient, split_recipients
from airflow_provider_m365mail.core.errors import MessageValidationError, parse_enhanced_status
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.addresses import ENCODED_WORD, Address, parse_address, parse_address_list
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage, build_mime

EXAMPLES = settings(max_examples=150, deadline=None)

# Header text: any Unicode except control characters and line separators (those are refused, tested below).
header_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=80,
)
emails = st.from_regex(r"\A[a-z0-9]{1,12}(\.[a-z0-9]{1,8}){0,2}@[a-z0-9]{1,12}(\.[a-z]{2,6}){1,2}\Z")
names = header_text.filter(lambda name: not ENCODED_WORD.search(name))
addresses = st.builds(Address, email=emails, name=names)
header_names = st.from_regex(r"\AX-[A-Za-z0-9-]{1,20}\Z")
line_breaks = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\u2028", "\x85", "\x0b"])


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def same_text(value: str) -> str:
    """The value as a header carries it: surrounding whitespace is not part of a header's content."""
    return value.strip()


def same_name(name: str) -> str:
    """The display name as readers see it: blanks and tabs between words are one space."""
    return re.sub(r"[ \t]+", " ", name).strip()


def decoded_mailboxes(raw: bytes, header: str) -> list[tuple[str, str]]:
    """Read an address header with the RFC 2047 decoder that keeps every character of a display name."""
    legacy = email.message_from_bytes(raw, policy=policy.compat32)
    return [(str(make_header(decode_header(name))), addr) for name, addr in getaddresses(legacy.get_all(header))]


def assert_mailboxes(raw: bytes, parsed: EmailMessage, header: str, expected: list[Address]) -> None:
    want = [(same_name(a.name), a.email) for a in expected]
    assert decoded_mailboxes(raw, header) == want
    # policy.default's phrase parser collapses whitespace inside decoded names and keeps the space between
    # adjacent encoded words (RFC 2047 section 6.2 drops it): compare its names without whitespace.
    got = [("".join(a.display_name.split()), a.addr_spec) for a in parsed[header].addresses]
    assert got == [("".join(name.split()), addr) for name, addr in want]


@EXAMPLES
@given(
    sender=addresses,
    to=st.lists(addresses, min_size=1, max_size=3, unique_by=lambda a: a.email),
    cc=st.lists(addresses, max_size=2, unique_by=lambda a: a.email),
    subject=header_text,
    headers=st.dictionaries(header_names, header_text, max_size=3,
                            dict_class=dict).filter(lambda d: len({k.lower() for k in d}) == len(d)),
)
def test_built_messages_parse_back_to_the_same_values(
    sender: Address, to: list[Address], cc: list[Address], subject: str, headers: dict[str, str]
) -> None:
    cc = [a for a in cc if a.email not in {t.email for t in to}]
    message = OutgoingMessage.create(to=to, cc=cc or None, bcc="hidden@bcc.example.com", subject=subject,
                                     text="body", headers=headers)
    identity = SenderIdentity(None, parse_address(sender, field="from_email"))
    raw = build_mime(message, identity).as_bytes()
    parsed = parse(raw)

    assert parsed["Subject"] == same_text(subject)
    assert_mailboxes(raw, parsed, "From", [sender])
    assert_mailboxes(raw, parsed, "To", to)
    if cc:
        assert_mailboxes(raw, parsed, "Cc", cc)
    for name, value in headers.items():
        assert parsed.get_all(name) == [same_text(value)]
    expected = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                "content-transfer-encoding", *(n.lower() for n in headers)} | ({"cc"} if cc else set())
    assert {k.lower() for k in parsed} == expected
    assert b"hidden@bcc.example.com" not in raw


def inject(value: str, breaker: str, position: int) -> str:
    cut = position % (len(value) + 1)
    return value[:cut] + breaker + value[cut:]


@EXAMPLES
@given(value=header_text, breaker=line_breaks, position=st.integers(min_value=0))
def test_values_with_line_breaks_are_always_refused(value: str, breaker: str, position: int) -> None:
    bad = inject(value, breaker, position)
    with pytest.raises(MessageValidationError) as subject_error:
        OutgoingMessage.create(to="a@contoso.com", subject=bad)
    assert subject_error.value.field == "subject"
    with pytest.raises(MessageValidationError) as header_error:
        OutgoingMessage.create(to="a@contoso.com", subject="s", headers={"X-Value": bad})
    assert header_error.value.field == "headers[X-Value]"
    with pytest.raises(MessageValidationError) as name_error:
        OutgoingMessage.create(to=Address("a@contoso.com", bad), subject="s")
    assert name_error.value.field == "to"
    with pytest.raises(MessageValidationError):
        parse_address(f"{bad} <a@contoso.com>", field="to")


@EXAMPLES
@given(to=st.lists(addresses, min_size=1, max_size=4, unique_by=lambda a: a.email.lower()),
       separator=st.sampled_from([", ", "; ", ",", ";"]))
def test_formatted_address_lists_parse_back(to: list[Address], separator: str) -> None:
    text = separator.join(a.formatted() for a in to)
    assert parse_address_list(text, field="to") == tuple(Address(a.email, same_name(a.name)) for a in to)


@EXAMPLES
@given(
    code=st.sampled_from(["250", "421", "535", "550", "554"]),
    status=st.tuples(st.sampled_from("245"), st.integers(0, 999), st.integers(0, 999)).map(
        lambda t: f"{t[0]}.{t[1]}.{t[2]}"
    ),
    tail=st.text(st.characters(blacklist_categories=("Nd",)), max_size=40),
)
def test_enhanced_status_is_found_after_the_reply_code(code: str, status: str, tail: str) -> None:
    assert parse_enhanced_status(f"{code} {status} {tail}") == status


@EXAMPLES
@given(
    author=addresses,
    sender=addresses,
    reply_to=st.lists(addresses, min_size=1, max_size=3, unique_by=lambda a: a.email),
    subject=header_text,
)
def test_sender_and_reply_to_parse_back_to_the_same_values(
    author: Address, sender: Address, reply_to: list[Address], subject: str
) -> None:
    author, sender = parse_address(author, field="from_email"), parse_address(sender, field="on_behalf_of")
    reply_to = [parse_address(a, field="reply_to") for a in reply_to]  # as resolve_identity reads them
    identity = SenderIdentity(sender.email, author, sender=sender, reply_to=tuple(reply_to))
    raw = build_mime(OutgoingMessage.create(to="a@contoso.com", subject=subject, text="body"), identity).as_bytes()
    parsed = parse(raw)
    assert_mailboxes(raw, parsed, "From", [author])
    assert_mailboxes(raw, parsed, "Sender", [sender])
    assert_mailboxes(raw, parsed, "Reply-To", reply_to)
    assert parsed["Subject"] == same_text(subject)
    assert {k.lower() for k in parsed} >= {"from", "sender", "reply-to"}
    assert len(parsed.get_all("Sender") or []) == len(parsed.get_all("From") or []) == 1


@settings(max_examples=60, deadline=None)  # each example builds and parses up to 18 messages
@given(
    to=st.lists(emails, min_size=1, max_size=12, unique_by=str.lower),
    cc=st.lists(emails, max_size=6, unique_by=str.lower),
    limit=st.integers(min_value=1, max_value=8),
    subject=header_text,
)
def test_batches_and_separate_messages_reach_each_recipient_once_under_stable_ids(
    to: list[str], cc: list[str], limit: int, subject: str
) -> None:
    cc = [a for a in cc if a.lower() not in {t.lower() for t in to}]
    identity = SenderIdentity(None, Address("reports@contoso.com"))
    message = OutgoingMessage.create(to=to, cc=cc or None, subject=subject, text="body",
                                     message_id="<run-1@contoso.com>")
    batches = split_recipients(message, identity, limit)
    separate = split_per_recipient(replace(message, cc=()), identity)
    for parts, expected in ((batches, to + cc), (separate, to)):
        assert [a.email for p in parts for a in p.recipients()] == expected
        ids = [p.message_id for p in parts]
        assert len(set(ids)) == len(ids)
        for part in parts:
            parsed = parse(build_mime(part, identity).as_bytes())
            assert parsed["Message-ID"] == part.message_id
            assert parsed["Subject"] == same_text(subject)
            for header in ("To", "Cc"):
                shown = [a.addr_spec for a in parsed[header].addresses] if header in parsed else []
                assert shown == [a.email for a in getattr(part, header.lower())]
    assert [p.message_id for p in split_recipients(message, identity, limit)] == [p.message_id for p in batches]
    reordered = split_per_recipient(replace(message, cc=(), to=message.to[::-1]), identity)
    assert sorted(str(p.message_id) for p in reordered) == sorted(str(p.message_id) for p in separate)

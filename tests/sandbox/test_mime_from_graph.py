"""Properties of the sandbox's Graph-JSON-to-MIME converter and of its MIME-form header editing."""

from __future__ import annotations

import base64
import re
from email import message_from_bytes, policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_m365mail.sandbox.mime_from_graph import (
    Address,
    InvalidGraphMessage,
    decode_mime_submission,
    finish_mime,
    graph_to_mime,
    parse_graph_message,
)


def same_lines(text: str) -> str:
    """Normalise line endings as email does (CR, LF, CRLF only; str.splitlines also splits on \x1c-\x1e)."""
    return re.sub(r"\r\n?|\n", "\n", text).rstrip("\n")


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
local = st.from_regex(r"[a-z0-9]+([._+-][a-z0-9]+){0,3}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(subject=text, name=text, body=text, local_part=local, html=st.booleans())
def test_converted_messages_parse_back_with_their_headers_and_body(
    subject: str, name: str, body: str, local_part: str, html: bool
) -> None:
    recipient = f"{local_part}@example.com"
    message = parse_graph_message({
        "subject": subject,
        "body": {"contentType": "HTML" if html else "Text", "content": body},
        "toRecipients": [{"emailAddress": {"address": recipient, "name": name}}],
        "bccRecipients": [{"emailAddress": {"address": "hidden@example.com"}}],
    })

    raw = graph_to_mime(message, from_=Address("airflow@contoso.com", name), sender=None)

    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"].split() == subject.split()
    assert [a.addr_spec for a in parsed["To"].addresses] == [recipient]
    assert parsed["Bcc"] is None
    assert message.recipients() == [recipient, "hidden@example.com"]
    part = parsed.get_body(preferencelist=("html" if html else "plain",))
    assert part is not None
    assert same_lines(part.get_content()) == same_lines(body)


@given(st.text(max_size=30))
def test_addresses_without_a_domain_are_invalid_recipients(value: str) -> None:
    data = {"toRecipients": [{"emailAddress": {"address": value.replace("@", "")}}]}
    try:
        parse_graph_message(data)
    except InvalidGraphMessage as exc:
        assert exc.code == "ErrorInvalidRecipients"
    else:
        raise AssertionError("an address without @ was accepted")


@given(body=st.binary(max_size=200), newline=st.sampled_from([b"\r\n", b"\n"]))
def test_finish_mime_edits_headers_and_never_the_body(body: bytes, newline: bytes) -> None:
    head = newline.join([b"From: a@contoso.com", b"Bcc: secret@example.com,", b"  folded@example.com",
                         b"Subject: s"])
    raw = head + newline + newline + body
    submission = decode_mime_submission(base64.b64encode(raw))
    assert submission.recipients == ("secret@example.com", "folded@example.com")

    finished = finish_mime(raw, replace={"Sender": "b@contoso.com"}, defaults={"From": "x@y", "Message-ID": "<m@x>"})

    assert finished.endswith(newline + newline + body)
    header_block = finished[: len(finished) - len(body)]
    assert b"Bcc" not in header_block and b"folded" not in header_block
    assert header_block.count(b"From:") == 1
    assert b"Sender: b@contoso.com" in header_block and b"Message-ID: <m@x>" in header_block

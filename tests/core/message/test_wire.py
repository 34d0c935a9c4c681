"""The bytes SMTP sends: the same message ``build_mime`` makes, with a mail merge's shared part rendered once."""

from __future__ import annotations

import email
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage

import pytest

from airflow_provider_m365mail.core.delivery.batches import split_per_recipient, split_recipients
from airflow_provider_m365mail.core.identity import SenderIdentity, resolve_identity
from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage, build_mime
from airflow_provider_m365mail.core.message.wire import UTF8_POLICY, WireRenderer
from airflow_provider_m365mail.core.settings import MailSettings

DATE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def identity() -> SenderIdentity:
    settings = MailSettings.from_connection_fields(
        host="mail.example.com", port=587, login="airflow@contoso.com", password="p",
        extra={"from_name": "Zoë's reports", "reply_to": "team@contoso.com"},
    )
    return resolve_identity(settings)


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_same_message(rendered: bytes, built: bytes) -> None:
    """Same headers (the multipart boundary aside) and the same parts, byte for byte once decoded."""
    ours, theirs = parsed(rendered), parsed(built)
    assert headers(ours) == headers(theirs)
    assert parts(ours) == parts(theirs)


def headers(message: EmailMessage) -> list[tuple[str, str]]:
    return [*sorted((k, v) for k, v in message.items() if k != "Content-Type"), ("type", message.get_content_type())]


def parts(message: EmailMessage) -> list[tuple[str, object, str | None]]:
    return [(p.get_content_type(), p.get_payload(decode=True), p["Content-ID"]) for p in message.walk()]


MESSAGES = {
    "plain": OutgoingMessage.create(to="bob@contoso.com", subject="Report", text="Figures",
                                    message_id="<plain@contoso.com>"),
    "unicode-names-and-cc": OutgoingMessage.create(
        to=["Zoë Ünïcode <zoe@contoso.com>", "bob@contoso.com"], cc="Ça va <cc@contoso.com>",
        bcc="hidden@contoso.com", subject="Rapport für dich ✓", text="plain", html="<p>html ✓</p>",
        headers={"X-Run": "run 1"}, importance="high", message_id="<unicode@contoso.com>",
    ),
    "attachments-and-inline": OutgoingMessage.create(
        to="bob@contoso.com", subject="Chart", html='<img src="cid:chart">',
        attachments=[Attachment("chart.png", b"\x89PNG...", content_id="chart"), Attachment("a.csv", b"a,b\n1,2\n")],
        message_id="<chart@contoso.com>",
    ),
}


@pytest.mark.parametrize("name", MESSAGES)
def test_a_rendered_message_is_the_message_build_mime_makes(name: str, identity: SenderIdentity) -> None:
    message = MESSAGES[name]
    message_id, data = WireRenderer().render(message, identity, utf8=False, date=DATE)
    built = build_mime(message, identity, date=DATE)
    assert_same_message(data, built.as_bytes())
    assert message_id == str(built["Message-ID"]) and b"hidden@contoso.com" not in data


def test_utf8_addresses_are_rendered_raw_for_smtputf8(identity: SenderIdentity) -> None:
    message = OutgoingMessage.create(to="josé@contoso.com", subject="Olá", text="...",
                                     message_id="<ola@contoso.com>")
    _, data = WireRenderer().render(message, identity, utf8=True, date=DATE)
    assert_same_message(data, build_mime(message, identity, date=DATE).as_bytes(policy=UTF8_POLICY))
    assert "To: josé@contoso.com".encode() in data


def test_each_message_of_a_merge_carries_only_its_own_recipients_and_message_id(identity: SenderIdentity) -> None:
    merge = OutgoingMessage.create(to=[f"Client {i} <c{i}@example.org>" for i in range(3)], subject="Statement",
                                   html="<p>Your statement</p>", message_id="<merge@contoso.com>")
    renderer = WireRenderer()
    for part in split_per_recipient(merge, identity):
        message_id, data = renderer.render(part, identity, utf8=False, date=DATE)
        assert_same_message(data, build_mime(part, identity, date=DATE).as_bytes())
        assert parsed(data)["To"] == str(part.to[0].formatted()) and parsed(data)["Message-ID"] == message_id
    batches = split_recipients(MESSAGES["unicode-names-and-cc"], identity, 1)  # then another message altogether
    for part in batches:
        _, data = renderer.render(part, identity, utf8=False, date=DATE)
        assert_same_message(data, build_mime(part, identity, date=DATE).as_bytes())

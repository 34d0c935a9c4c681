"""OutgoingMessage validation and the MIME it builds: structure, headers, encodings, attachments."""

from __future__ import annotations

import email
import email.header
import email.utils
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage, build_mime, make_message_id

IDENTITY = SenderIdentity("airflow@contoso.com", Address("reports@contoso.com", "Contoso Reports"))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def create(**kwargs: Any) -> OutgoingMessage:
    kwargs.setdefault("to", "alice@contoso.com")
    kwargs.setdefault("subject", "Daily report")
    return OutgoingMessage.create(**kwargs)


def roundtrip(message: OutgoingMessage, identity: SenderIdentity = IDENTITY) -> EmailMessage:
    raw = build_mime(message, identity).as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def structure(part: EmailMessage) -> Any:
    if part.is_multipart():
        return (part.get_content_type(), [structure(p) for p in part.iter_parts()])  # type: ignore[arg-type]
    return part.get_content_type()


def text_of(part: Any) -> str:
    """Return a text part's content with the wire's CRLF line ends read back as newlines."""
    content: str = part.get_content()
    return content.replace("\r\n", "\n")


def refused(field: str, match: str | None = None, **kwargs: Any) -> None:
    with pytest.raises(MessageValidationError, match=match) as info:
        create(**kwargs)
    assert info.value.field == field, str(info.value)


# --- validation ------------------------------------------------------------------------------------------------


def test_create_normalises_fields() -> None:
    message = create(to=["Alice <alice@contoso.com>", "bob@contoso.com"], cc="carol@contoso.com",
                     bcc="dave@contoso.com; ALICE@contoso.com", importance=" HIGH ", message_id="abc@contoso.com",
                     headers={"X-Run-Id": "  run-1  "})
    assert [a.email for a in message.to] == ["alice@contoso.com", "bob@contoso.com"]
    assert message.importance == "high"
    assert message.message_id == "<abc@contoso.com>"
    assert message.headers == (("X-Run-Id", "run-1"),)
    assert [a.email for a in message.recipients()] == ["alice@contoso.com", "bob@contoso.com",
                                                      "carol@contoso.com", "dave@contoso.com"]


def test_bcc_alone_is_enough() -> None:
    assert create(to=None, bcc="x@contoso.com").recipients() == (Address("x@contoso.com"),)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to": None}, "to"),
        ({"to": []}, "to"),
        ({"to": "not-an-address"}, "to"),
        ({"cc": "a@contoso.com\nBcc: x@evil.com"}, "cc"),
        ({"bcc": ["fine@contoso.com", "broken@"]}, "bcc"),
        ({"subject": "Hello\r\nBcc: x@evil.com"}, "subject"),
        ({"subject": "Hello\u2028there"}, "subject"),
        ({"subject": "bell\x07"}, "subject"),
        ({"subject": 5}, "subject"),
        ({"importance": "urgent"}, "importance"),
        ({"message_id": "<no-at-sign>"}, "message_id"),
        ({"message_id": "<a@b>\r\nX: y"}, "message_id"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"X-Colon:": "x"}}, "headers"),
        ({"headers": {"X-Ümlaut": "x"}}, "headers"),
        ({"headers": {"X-Ok": "a\r\nBcc: x@evil.com"}}, "headers[X-Ok]"),
        ({"headers": {"X-Ok": "a\nb"}}, "headers[X-Ok]"),
        ({"headers": {"X-Ok": 5}}, "headers[X-Ok]"),
        ({"headers": {"Bcc": "x@evil.com"}}, "headers[Bcc]"),
        ({"headers": {"content-type": "text/plain"}}, "headers[content-type]"),
        ({"headers": {"X-Priority": "1"}}, "headers[X-Priority]"),
    ],
)
def test_create_refusals_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    refused(field, **kwargs)


def test_attachment_refusals(tmp_path: Path) -> None:
    refused("attachments", "file not found", attachments=[tmp_path / "missing.csv"])
    refused("attachments", "content_id", attachments=[Attachment("a.png", b"x", content_id="a"),
                                                      Attachment("b.png", b"y", content_id="A")])
    for bad in (
        lambda: Attachment("a.bin"),
        lambda: Attachment("a.bin", content=b"x", path=tmp_path),
        lambda: Attachment("a\r\n.bin", content=b"x"),
        lambda: Attachment(" ", content=b"x"),
        lambda: Attachment("a.bin", content=b"x", mimetype="not a type"),
        lambda: Attachment("a.png", content=b"x", content_id="<logo>"),
    ):
        with pytest.raises(MessageValidationError) as info:
            bad()
        assert info.value.field == "attachments"


def test_attachment_from_path_reads_lazily_and_guesses_the_type(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n")
    attachment = Attachment.from_path(str(path))
    assert (attachment.filename, attachment.size, attachment.content_type) == ("report.csv", 10, "text/csv")
    assert attachment.read_bytes() == b"a,b\r\n1,2\r\n"
    assert Attachment("blob", content=b"").content_type == "application/octet-stream"
    assert Attachment("x.bin", content=b"", mimetype="image/png").content_type == "image/png"


# --- MIME -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "charset"),
    [("Stadt,Umsatz\r\nMünchen,12 €\r\n".encode(), "utf-8"), (b"a,b\r\n1,2\r\n", None), (b"caf\xe9\r\n", None)],
)
def test_text_attachment_says_utf8_only_when_it_is_non_ascii_utf8(content: bytes, charset: str | None) -> None:
    parsed = roundtrip(create(text="see attached", attachments=[Attachment("sales.csv", content=content)]))
    (part,) = parsed.iter_attachments()
    assert part.get_content_type() == "text/csv"
    assert part.get_param("charset") == charset
    assert part.get_payload(decode=True) == content


def test_bcc_never_appears_in_headers() -> None:
    message = create(to="alice@contoso.com", bcc="secret-bcc@contoso.com")
    raw = build_mime(message, IDENTITY).as_bytes()
    assert b"secret-bcc" not in raw
    assert b"Bcc" not in raw


def test_headers_of_a_plain_message() -> None:
    when = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    message = create(to="Alice <alice@contoso.com>", cc="bob@contoso.com", text="hello", message_id="<m1@contoso.com>",
                     headers={"X-Airflow-Dag": "reports"})
    identity = SenderIdentity("airflow@contoso.com", Address("team@contoso.com", "Team"),
                              sender=Address("airflow@contoso.com"), reply_to=(Address("desk@contoso.com"),))
    mime = build_mime(message, identity, date=when)
    raw = mime.as_bytes()
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["From"] == "Team <team@contoso.com>"
    assert parsed["Sender"] == "airflow@contoso.com"
    assert parsed["To"] == "Alice <alice@contoso.com>"
    assert parsed["Cc"] == "bob@contoso.com"
    assert parsed["Reply-To"] == "desk@contoso.com"
    assert parsed["Subject"] == "Daily report"
    assert parsed["Date"] == "Sun, 01 Mar 2026 12:30:00 +0000"
    assert parsed["Message-ID"] == "<m1@contoso.com>"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["X-Airflow-Dag"] == "reports"
    assert parsed["Importance"] is None
    assert structure(parsed) == "text/plain"
    assert text_of(parsed) == "hello\n"


def test_naive_dates_are_taken_as_utc_and_a_message_id_is_made_on_the_from_domain() -> None:
    parsed = email.message_from_bytes(
        build_mime(create(), IDENTITY, date=datetime(2026, 1, 2, 3, 4, 5)).as_bytes(), policy=policy.default
    )
    assert parsed["Date"].endswith("+0000")
    assert parsed["Message-ID"].endswith("@contoso.com>")


@pytest.mark.parametrize(("importance", "values"), [("high", ("High", "1")), ("low", ("Low", "5"))])
def test_importance_headers(importance: str, values: tuple[str, str]) -> None:
    parsed = roundtrip(create(importance=importance))
    assert (parsed["Importance"], parsed["X-Priority"]) == values


def test_unicode_subject_names_and_headers_are_encoded_and_decode_back() -> None:
    message = create(to='"Müller, Jörg" <joerg@contoso.com>', subject="Grüße — 日本語 " + "long " * 30,
                     text="Grüße", headers={"X-Note": "café ☕"})
    identity = SenderIdentity(None, Address("reports@contoso.com", "Bericht «Täglich»"))
    raw = build_mime(message, identity).as_bytes()
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == message.subject
    assert parsed["To"].addresses[0].display_name == "Müller, Jörg"
    assert parsed["From"].addresses[0].display_name == "Bericht «Täglich»"
    assert parsed["X-Note"] == "café ☕"
    assert text_of(parsed) == "Grüße\n"


def test_text_and_html_make_an_alternative() -> None:
    parsed = roundtrip(create(text="plain", html="<p>rich</p>"))
    assert structure(parsed) == ("multipart/alternative", ["text/plain", "text/html"])
    text, html = parsed.iter_parts()
    assert text_of(text) == "plain\n"
    assert text_of(html) == "<p>rich</p>\n"


def test_html_only_is_a_single_html_part() -> None:
    assert structure(roundtrip(create(html="<p>x</p>"))) == "text/html"


def test_no_body_is_an_empty_text_part() -> None:
    parsed = roundtrip(create())
    assert structure(parsed) == "text/plain"
    assert parsed.get_content().strip() == ""


def test_inline_image_makes_a_related_part_referenced_by_cid_and_files_go_in_mixed(tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_bytes(b"a,b\r\n1,2\r\n")
    binary = bytes(range(256)) * 10
    message = create(text="see chart", html='<img src="cid:chart@report">',
                     attachments=[Attachment("chart.png", PNG, content_id="chart@report"), csv,
                                  Attachment("blob.bin", binary), Attachment("naïve.txt", "é".encode())])
    parsed = roundtrip(message)
    assert structure(parsed) == (
        "multipart/mixed",
        [("multipart/related", [("multipart/alternative", ["text/plain", "text/html"]), "image/png"]),
         "text/csv", "application/octet-stream", "text/plain"],
    )
    related = next(parsed.iter_parts())
    image = list(related.iter_parts())[1]  # type: ignore[attr-defined]
    assert image["Content-ID"] == "<chart@report>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == PNG
    files = list(parsed.iter_attachments())
    assert [f.get_filename() for f in files] == ["data.csv", "blob.bin", "naïve.txt"]
    assert [f.get_content_disposition() for f in files] == ["attachment"] * 3
    assert files[0].get_payload(decode=True) == b"a,b\r\n1,2\r\n"
    assert files[1].get_content() == binary
    assert files[2].get_payload(decode=True) == "é".encode()


def test_inline_images_without_html_become_attachments() -> None:
    parsed = roundtrip(create(text="x", attachments=[Attachment("chart.png", PNG, content_id="chart")]))
    assert structure(parsed) == ("multipart/mixed", ["text/plain", "image/png"])


def test_inline_images_alone_make_related_without_mixed() -> None:
    parsed = roundtrip(create(html='<img src="cid:c">', attachments=[Attachment("c.png", PNG, content_id="c")]))
    assert structure(parsed) == ("multipart/related", ["text/html", "image/png"])


def test_message_rfc822_files_are_sent_as_opaque_bytes() -> None:
    parsed = roundtrip(create(attachments=[Attachment("fwd.eml", b"From: a@b.com\r\n\r\nhi\r\n")]))
    attachment = next(parsed.iter_attachments())
    assert attachment.get_content_type() == "application/octet-stream"
    assert attachment.get_content() == b"From: a@b.com\r\n\r\nhi\r\n"


def test_long_lines_and_8bit_bodies_stay_7bit_safe() -> None:
    body = "x" * 2000 + "\nÜber"
    raw = build_mime(create(text=body), IDENTITY).as_bytes()
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert text_of(email.message_from_bytes(raw, policy=policy.default)) == body + "\n"


def test_make_message_id_is_stable_per_seed() -> None:
    first = make_message_id("dag/run/task/0", "Contoso.com")
    assert first == make_message_id("dag/run/task/0", "contoso.com")
    assert first != make_message_id("dag/run/task/1", "contoso.com")
    assert first.startswith("<")
    assert first.endswith("@contoso.com>")


def test_text_that_looks_like_an_encoded_word_reaches_the_reader_unchanged() -> None:
    subject = "About =?utf-8?q?J=C3=B6rg?= headers"
    message = create(subject=subject, headers={"X-Echo": "=?utf-8?b?SGk=?="})
    raw = build_mime(message, IDENTITY).as_bytes()
    assert b"=?utf-8?q?J=C3=B6rg?=" not in raw
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert (parsed["Subject"], parsed["X-Echo"]) == (subject, "=?utf-8?b?SGk=?=")


def test_non_ascii_display_names_are_encoded_whole() -> None:
    name = "Zoë\u00a0 \u00a0Støre, «Ops»"
    raw = build_mime(create(to=Address("zoe@contoso.com", name)), IDENTITY).as_bytes()
    to_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"To:"))
    assert to_line.startswith(b"To: =?utf-8?")
    assert to_line.endswith(b"?= <zoe@contoso.com>")
    legacy = email.message_from_bytes(raw, policy=policy.compat32)
    (encoded_name, address), = email.utils.getaddresses(legacy.get_all("To"))
    assert str(email.header.make_header(email.header.decode_header(encoded_name))) == name
    assert address == "zoe@contoso.com"


# -- hostile argument shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_path", [str, Path])
def test_one_path_given_as_files_is_one_attachment_not_its_characters(tmp_path: Path, as_path: Any) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n", encoding="utf-8")
    message = create(attachments=as_path(report))
    assert [a.filename for a in message.attachments] == ["report.csv"]


def test_an_attachment_deleted_after_validation_is_a_validation_error_when_built(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n", encoding="utf-8")
    message = create(attachments=[report])
    report.unlink()
    with pytest.raises(MessageValidationError, match=r"cannot read .*report\.csv") as info:
        build_mime(message, IDENTITY)
    assert info.value.field == "attachments"


@pytest.mark.parametrize("name", ["Return-Path", "Received", "Resent-From", "resent-to", "RESENT-MESSAGE-ID"])
def test_trace_headers_are_refused_naming_the_header(name: str) -> None:
    with pytest.raises(MessageValidationError, match="trace header") as info:
        create(headers={name: "<x@contoso.com>"})
    assert info.value.field == f"headers[{name}]"


def test_a_read_receipt_request_header_is_allowed() -> None:
    parsed = roundtrip(create(headers={"Disposition-Notification-To": "reports@contoso.com"}))
    assert parsed["Disposition-Notification-To"] == "reports@contoso.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", 12345),
        ("html", ["<p>"]),
        ("text", "half a pair \ud800"),
        ("subject", "half a pair \udfff"),
        ("headers", ["X-A", "b"]),
        ("message_id", 42),
        ("save_to_sent_items", "yes"),
        ("attachments", 3.14),
        ("attachments", [None]),
    ],
)
def test_a_field_of_the_wrong_kind_is_a_validation_error_naming_it(field: str, value: Any) -> None:
    with pytest.raises(MessageValidationError) as info:
        create(**{field: value})
    assert info.value.field == field


@pytest.mark.parametrize(
    "arguments",
    [{"filename": "a.txt", "content": "text, not bytes"}, {"filename": 42, "content": b"x"},
     {"filename": "a.txt", "path": "/etc/hostname"}],
)
def test_an_attachment_built_from_the_wrong_kinds_is_a_validation_error(arguments: dict[str, Any]) -> None:
    with pytest.raises(MessageValidationError) as info:
        Attachment(**arguments)
    assert info.value.field == "attachments"

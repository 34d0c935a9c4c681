"""Graph JSON built from OutgoingMessage, and Graph's limits enforced before any request."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage
from airflow_provider_m365mail.core.transports.graph.payload import (
    MAX_ATTACHMENT_BYTES,
    MAX_INLINE_IMAGE_BYTES,
    MAX_REQUEST_BYTES,
    UPLOAD_THRESHOLD_BYTES,
    attachment_json,
    message_json,
    plan_graph_send,
    to_graph_json,
    upload_item_json,
)
from airflow_provider_m365mail.core.transports.graph.transport import GraphTransport
from airflow_provider_m365mail.sandbox.mime_from_graph import parse_graph_message

SEND_AS = SenderIdentity("airflow@contoso.com", Address("reports@contoso.com", "Contoso Reports"))
ON_BEHALF = SenderIdentity(
    "airflow@contoso.com",
    Address("data-team@contoso.com"),
    sender=Address("airflow@contoso.com"),
    reply_to=(Address("help@contoso.com", "Help Desk"),),
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
MB = 1024 * 1024


def create(**kwargs: Any) -> OutgoingMessage:
    kwargs.setdefault("to", "alice@contoso.com")
    kwargs.setdefault("subject", "Daily report")
    return OutgoingMessage.create(**kwargs)


def sparse_file(path: Path, size: int) -> Path:
    """Create a file of ``size`` bytes that takes no disk space."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def refused(message: OutgoingMessage, field: str, match: str) -> MessageValidationError:
    with pytest.raises(MessageValidationError, match=match) as info:
        to_graph_json(message, SEND_AS, save_to_sent_items=True)
    assert info.value.field == field, str(info.value)
    return info.value


# --- the JSON -------------------------------------------------------------------------------------------------


def test_send_as_sets_from_only_and_keeps_every_field() -> None:
    message = create(to=["Alice <alice@contoso.com>", "bob@contoso.com"], cc="carol@contoso.com",
                     bcc="dave@contoso.com", text="plain", importance="high", message_id="<run-1@contoso.com>",
                     headers={"X-Run-Id": "run-1"})
    body = to_graph_json(message, SEND_AS, save_to_sent_items=False)
    assert body["saveToSentItems"] is False
    graph = body["message"]
    assert graph["from"] == {"emailAddress": {"address": "reports@contoso.com", "name": "Contoso Reports"}}
    assert "sender" not in graph
    assert graph["toRecipients"] == [
        {"emailAddress": {"address": "alice@contoso.com", "name": "Alice"}},
        {"emailAddress": {"address": "bob@contoso.com"}},
    ]
    assert graph["ccRecipients"] == [{"emailAddress": {"address": "carol@contoso.com"}}]
    assert graph["bccRecipients"] == [{"emailAddress": {"address": "dave@contoso.com"}}]
    assert graph["body"] == {"contentType": "text", "content": "plain"}
    assert (graph["subject"], graph["importance"], graph["internetMessageId"]) == (
        "Daily report", "high", "<run-1@contoso.com>")
    assert graph["internetMessageHeaders"] == [{"name": "X-Run-Id", "value": "run-1"}]


def test_send_on_behalf_sets_from_and_sender_and_reply_to() -> None:
    graph = message_json(create(text="x"), ON_BEHALF)
    assert graph["from"] == {"emailAddress": {"address": "data-team@contoso.com"}}
    assert graph["sender"] == {"emailAddress": {"address": "airflow@contoso.com"}}
    assert graph["replyTo"] == [{"emailAddress": {"address": "help@contoso.com", "name": "Help Desk"}}]


def test_html_wins_over_text_and_inline_images_carry_their_content_id() -> None:
    message = create(text="plain", html='<img src="cid:logo">',
                     attachments=[Attachment("logo.png", content=PNG, content_id="logo"),
                                  Attachment("report.csv", content=b"a,b\n1,2\n")])
    graph = to_graph_json(message, SEND_AS, save_to_sent_items=True)["message"]
    assert graph["body"] == {"contentType": "html", "content": '<img src="cid:logo">'}
    logo, report = graph["attachments"]
    assert logo == {"@odata.type": "#microsoft.graph.fileAttachment", "name": "logo.png", "contentType": "image/png",
                    "isInline": True, "contentId": "logo", "contentBytes": base64.b64encode(PNG).decode()}
    assert (report["isInline"], report["contentType"]) == (False, "text/csv")
    assert base64.b64decode(report["contentBytes"]) == b"a,b\n1,2\n"


def test_content_id_without_html_is_a_plain_attachment() -> None:
    attachment = Attachment("logo.png", content=PNG, content_id="logo")
    assert attachment_json(attachment, inline=False)["isInline"] is False
    graph = message_json(create(text="no html"), SEND_AS, attachments=[attachment])
    assert graph["attachments"][0]["isInline"] is False


def test_the_sandbox_reads_back_what_was_built() -> None:
    message = create(cc="carol@contoso.com", html="<p>hi</p>", importance="low", headers={"x-trace": "t"},
                     attachments=[Attachment("logo.png", content=PNG, content_id="logo")])
    parsed = parse_graph_message(to_graph_json(message, ON_BEHALF, save_to_sent_items=True)["message"])
    assert (parsed.from_.address if parsed.from_ else None, parsed.sender.address if parsed.sender else None) == (
        "data-team@contoso.com", "airflow@contoso.com")
    assert parsed.recipients() == ["alice@contoso.com", "carol@contoso.com"]
    assert (parsed.body_is_html, parsed.importance, parsed.headers) == (True, "low", (("x-trace", "t"),))
    assert (parsed.attachments[0].data, parsed.attachments[0].is_inline) == (PNG, True)


def test_upload_item_names_the_file_and_its_size(tmp_path: Path) -> None:
    big = sparse_file(tmp_path / "big.bin", 5 * MB)
    assert upload_item_json(Attachment.from_path(big), inline=False) == {
        "attachmentType": "file", "name": "big.bin", "size": 5 * MB, "contentType": "application/octet-stream",
        "isInline": False}


# --- limits ---------------------------------------------------------------------------------------------------


def test_custom_headers_must_start_with_x() -> None:
    error = refused(create(text="x", headers={"Auto-Submitted": "auto-generated"}), "headers[Auto-Submitted]",
                    "start with 'x-'")
    assert error.hint is not None and "X-Auto-Submitted" in error.hint


def test_custom_headers_are_limited_to_5_kb_in_total() -> None:
    fits = {f"X-H{i}": "v" * 1000 for i in range(5)}
    to_graph_json(create(text="x", headers=fits), SEND_AS, save_to_sent_items=True)
    refused(create(text="x", headers={**fits, "X-More": "v" * 100}), "headers", "5120 in total")


def test_attachments_over_150_mb_are_refused(tmp_path: Path) -> None:
    ok = sparse_file(tmp_path / "ok.bin", MAX_ATTACHMENT_BYTES)
    assert plan_graph_send(create(text="x", attachments=[ok]), SEND_AS).uploaded[0].path == ok
    huge = sparse_file(tmp_path / "huge.bin", MAX_ATTACHMENT_BYTES + 1)
    refused(create(text="x", attachments=[huge]), "attachments", "up to 150 MB")


def test_inline_images_must_stay_under_3_mb(tmp_path: Path) -> None:
    image = sparse_file(tmp_path / "chart.png", MAX_INLINE_IMAGE_BYTES)
    message = create(html="<img src='cid:chart'>", attachments=[Attachment.from_path(image, content_id="chart")])
    refused(message, "attachments", "under 3 MB")
    as_file = create(text="no html", attachments=[Attachment.from_path(image, content_id="chart")])
    assert plan_graph_send(as_file, SEND_AS).needs_draft


def test_a_missing_attachment_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "gone.csv"
    path.write_text("x")
    message = create(text="x", attachments=[path])
    path.unlink()
    refused(message, "attachments", "gone.csv")


# --- which attachments go where -------------------------------------------------------------------------------


def test_small_messages_fit_one_send_mail_request() -> None:
    plan = plan_graph_send(create(text="x", attachments=[Attachment("a.txt", content=b"a")]), SEND_AS)
    assert (len(plan.embedded), plan.posted, plan.uploaded, plan.needs_draft) == (1, (), (), False)


def test_attachments_from_3_mb_go_through_upload_sessions(tmp_path: Path) -> None:
    below = Attachment("below.bin", content=b"\0" * (UPLOAD_THRESHOLD_BYTES // 2))
    at = Attachment.from_path(sparse_file(tmp_path / "at.bin", UPLOAD_THRESHOLD_BYTES))
    plan = plan_graph_send(create(text="x", attachments=[below, at]), SEND_AS)
    assert (plan.embedded, plan.uploaded) == ((below,), (at,))
    with pytest.raises(MessageValidationError, match="draft"):
        to_graph_json(create(text="x", attachments=[at]), SEND_AS, save_to_sent_items=True)


def test_small_attachments_beyond_the_first_request_are_posted_one_by_one() -> None:
    parts = [Attachment(f"part{i}.bin", content=b"\1" * MB) for i in range(4)]
    plan = plan_graph_send(create(text="x", attachments=parts), SEND_AS)
    names = [[a.filename for a in group] for group in (plan.embedded, plan.posted, plan.uploaded)]
    assert names == [["part0.bin", "part1.bin"], ["part2.bin", "part3.bin"], []]
    size = len(json.dumps(message_json(create(text="x", attachments=parts[:2]), SEND_AS,
                                       attachments=parts[:2])))
    assert size < MAX_REQUEST_BYTES


def test_a_body_over_the_request_limit_is_refused() -> None:
    refused(create(html="x" * MAX_REQUEST_BYTES), "html", "4 MB")


def test_an_attachment_too_large_to_post_yet_too_small_to_upload_is_refused() -> None:
    edge = Attachment("edge.bin", content=b"\0" * (UPLOAD_THRESHOLD_BYTES - 16))
    refused(create(text="x", attachments=[edge]), "attachments", "too small for an upload session")


PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))


@settings(max_examples=40, deadline=None)
@given(subject=st.text(PRINTABLE, max_size=200), body=st.text(max_size=2000), name=st.text(PRINTABLE, max_size=40))
def test_the_size_estimate_never_undercounts_what_the_sdk_sends(subject: str, body: str, name: str) -> None:
    message = create(subject=subject, html=body, attachments=[Attachment("a.txt", content=body.encode())])
    identity = SenderIdentity(None, Address("reports@contoso.com", name))
    request = GraphTransport._send_mail_body(to_graph_json(message, identity, save_to_sent_items=True))
    writer = JsonSerializationWriter()
    writer.write_object_value(None, request)
    sent = len(writer.get_serialized_content())
    estimate = len(json.dumps({"message": message_json(message, identity, attachments=message.attachments),
                               "saveToSentItems": True}))
    assert sent <= estimate + 64

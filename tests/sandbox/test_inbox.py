"""The web inbox renders captured messages as inert, escaped HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP

import httpx
import pytest

from airflow_provider_m365mail.sandbox.server import Sandbox

HOSTILE_SUBJECT = "<script>alert('subject')</script> & more"
HOSTILE_HTML = "<script>alert('body')</script><p onclick=\"steal()\">Hello \"team\"</p>"


@pytest.fixture
def browser(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=m365_sandbox.settings["http_base"], verify=m365_sandbox.client_context(),
                      trust_env=False) as client:
        yield client


def store_hostile(sandbox: Sandbox) -> str:
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"] = "airflow@contoso.com", "someone@example.com", HOSTILE_SUBJECT
    mime.set_content("Plain <b>text</b>\n")
    mime.add_alternative(HOSTILE_HTML, subtype="html")
    mime.add_attachment(b"<html><script>alert('file')</script></html>", maintype="text", subtype="html",
                        filename="page.html")
    raw = mime.as_bytes(policy=SMTP)
    return sandbox.call(lambda: sandbox.state.store_message(
        raw=raw, envelope_from="airflow@contoso.com", envelope_to=["someone@example.com"], transport="graph",
        principal=None)).id


def test_the_list_escapes_subjects(m365_sandbox: Sandbox, browser: httpx.Client) -> None:
    message_id = store_hostile(m365_sandbox)
    page = browser.get("/")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt; &amp; more" in page.text
    assert f'href="/messages/{message_id}"' in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_message_page_shows_the_html_body_only_inside_a_sandboxed_iframe(
    m365_sandbox: Sandbox, browser: httpx.Client
) -> None:
    message_id = store_hostile(m365_sandbox)
    page = browser.get(f"/messages/{message_id}").text
    assert "<script>" not in page and "<p onclick" not in page
    assert ('<iframe sandbox srcdoc="&lt;script&gt;alert(&#x27;body&#x27;)&lt;/script&gt;&lt;p onclick=&quot;'
            'steal()&quot;&gt;Hello &quot;team&quot;&lt;/p&gt;\n"') in page
    assert "Plain &lt;b&gt;text&lt;/b&gt;" in page
    assert f'href="/messages/{message_id}/attachments/0">page.html</a>' in page


def test_attachments_download_as_opaque_files(m365_sandbox: Sandbox, browser: httpx.Client) -> None:
    message_id = store_hostile(m365_sandbox)
    download = browser.get(f"/messages/{message_id}/attachments/0")
    assert download.content == b"<html><script>alert('file')</script></html>"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    missing = browser.get(f"/messages/{message_id}/attachments/7")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "AttachmentNotFound")


def test_an_empty_inbox_and_an_unknown_message(browser: httpx.Client) -> None:
    assert "No messages yet." in browser.get("/").text
    unknown = browser.get("/messages/nope")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "MessageNotFound")


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def store_with_inline_image(sandbox: Sandbox) -> str:
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"] = "airflow@contoso.com", "someone@example.com", "Chart"
    mime.set_content("See the chart.\n")
    mime.add_alternative('<p>Chart: <img src="cid:chart.1@contoso.com" alt="chart"> '
                         '<img src="cid:missing@contoso.com"></p>', subtype="html")
    mime.get_payload()[1].add_related(PNG, maintype="image", subtype="png", cid="<chart.1@contoso.com>",
                                      filename="chart.png")
    mime.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="data.csv")
    raw = mime.as_bytes(policy=SMTP)
    return sandbox.call(lambda: sandbox.state.store_message(
        raw=raw, envelope_from="airflow@contoso.com", envelope_to=["someone@example.com"], transport="graph",
        principal=None)).id


def test_inline_images_are_served_and_the_html_body_points_at_them(
    m365_sandbox: Sandbox, browser: httpx.Client
) -> None:
    message_id = store_with_inline_image(m365_sandbox)
    page = browser.get(f"/messages/{message_id}")
    srcdoc = html.unescape(re.search(r'<iframe sandbox srcdoc="([^"]*)"', page.text).group(1))  # type: ignore[union-attr]
    [image_url] = re.findall(r'<img src="([^"]+)" alt="chart">', srcdoc)
    origin = m365_sandbox.settings["http_base"]

    image = browser.get(image_url)

    assert image_url.startswith(f"{origin}/messages/{message_id}/")
    assert '<img src="cid:missing@contoso.com">' in srcdoc  # no such part: left alone
    assert (image.status_code, image.content, image.headers["Content-Type"]) == (200, PNG, "image/png")
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    img_src = next(d for d in page.headers["Content-Security-Policy"].split(";") if d.strip().startswith("img-src"))
    assert origin in img_src.split() and "*" not in img_src
    assert "script-src" not in page.headers["Content-Security-Policy"]
    links = dict(re.findall(r'href="(/messages/[^"]+/attachments/\d+)">([^<]+)</a>', page.text))
    assert sorted(links.values()) == ["chart.png", "data.csv"]
    csv = browser.get(next(url for url, name in links.items() if name == "data.csv"))
    assert (csv.content, csv.headers["Content-Disposition"]) == (b"a,b\n1,2\n", 'attachment; filename="data.csv"')


def test_only_image_parts_are_served_inline(m365_sandbox: Sandbox, browser: httpx.Client) -> None:
    message_id = store_with_inline_image(m365_sandbox)
    parts = browser.get(f"/_sandbox/messages/{message_id}").json()["attachments"]
    csv_number = next(n for n, p in enumerate(parts) if p["filename"] == "data.csv")
    refused = browser.get(f"/messages/{message_id}/inline/{csv_number}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "AttachmentNotFound")

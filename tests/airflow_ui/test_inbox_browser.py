"""The sandbox's web inbox in headless Chromium: a message renders, its HTML body only inside a sandboxed frame,
and its attachment downloads as the bytes that were sent."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from airflow_provider_m365mail.sandbox.server import Sandbox

ATTACHMENT = b"order,amount\n1,9.99\n"
# A 1x1 PNG referenced from the HTML body by Content-ID.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005fe02fea73581e40000000049454e44ae426082"
)


def store_report(sandbox: Sandbox) -> str:
    """Store a message with a plain and an HTML body (showing an inline cid: image) and a CSV attachment."""
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"] = "airflow@contoso.com", "ops@contoso.com", "Daily report"
    mime.set_content("The report is attached.\n")
    mime.add_alternative('<p id="greeting">Hello <b>team</b></p><img id="logo" src="cid:logo@contoso">',
                         subtype="html")
    mime.get_payload()[1].add_related(PIXEL, maintype="image", subtype="png", cid="<logo@contoso>")
    mime.add_attachment(ATTACHMENT, maintype="text", subtype="csv", filename="orders.csv")
    raw = mime.as_bytes(policy=SMTP)
    return sandbox.call(lambda: sandbox.state.store_message(
        raw=raw, envelope_from="airflow@contoso.com", envelope_to=["ops@contoso.com"], transport="smtp",
        principal=None)).id


def inline_image_loaded(body_frame: Any, image_id: str) -> bool:
    """Tell whether the body frame's image ``image_id`` has loaded (a broken or blocked image has no width)."""
    width: int = body_frame.locator(f"#{image_id}").evaluate("img => img.naturalWidth")
    return width > 0


def test_a_message_renders_with_a_sandboxed_body_and_a_downloadable_attachment(
    page: Any, m365_sandbox: Sandbox, screenshots: Path, tmp_path: Path
) -> None:
    store_report(m365_sandbox)
    page.goto(m365_sandbox.settings["inbox_url"])
    page.get_by_role("link", name="Daily report").click()
    body = page.frame_locator("iframe")
    body.locator("#greeting").wait_for()
    page.screenshot(path=screenshots / "sandbox-inbox-message.png", full_page=True)

    assert body.locator("#greeting").inner_text() == "Hello team"
    assert page.locator("iframe").get_attribute("sandbox") == ""  # every restriction: no scripts, no same origin
    with page.expect_download() as started:
        page.get_by_role("link", name="orders.csv").click()
    download = started.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert (download.suggested_filename, saved.read_bytes()) == ("orders.csv", ATTACHMENT)


def test_inline_cid_images_show_inside_the_sandboxed_body(
    page: Any, m365_sandbox: Sandbox, screenshots: Path
) -> None:
    store_report(m365_sandbox)
    page.goto(m365_sandbox.settings["inbox_url"])
    page.get_by_role("link", name="Daily report").click()
    body = page.frame_locator("iframe")
    body.locator("#logo").wait_for()
    body.locator("#logo").evaluate("img => img.complete || new Promise(done => img.onload = done)")
    page.screenshot(path=screenshots / "sandbox-inbox-inline-image.png", full_page=True)

    assert inline_image_loaded(body, "logo")

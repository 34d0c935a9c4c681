"""docs/troubleshooting.md is generated from the reply catalogue: one entry per classified reply, and back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from known_replies import classify_example

from airflow_provider_m365mail.core.doctor.report import DOCTOR_ANCHORS
from airflow_provider_m365mail.core.errors import (
    KNOWN_REPLIES,
    KnownReply,
    M365MailError,
    ReplySource,
    classify_smtp_reply,
    parse_enhanced_status,
)
from airflow_provider_m365mail.core.errors.troubleshooting import anchor_for, anchors
from docs_gen.troubleshooting_page import main, render

DOCS = Path(__file__).resolve().parents[3] / "docs"
PAGE = DOCS / "troubleshooting.md"
REGENERATE = "python -m docs_gen.troubleshooting_page docs/troubleshooting.md"


def page_anchors(page: Path) -> list[str]:
    return re.findall(r'<a id="([^"]+)"></a>', page.read_text(encoding="utf-8"))


def classify(entry: KnownReply) -> M365MailError:
    return classify_example(entry, smtp_stage="auth")


def identifying_code(entry: KnownReply) -> str:
    """Return the code people search for: "535 5.7.139", "ErrorSendAsDenied", "AADSTS7000215"."""
    if entry.source is ReplySource.SMTP:
        reply_code = entry.example.split(" ", 1)[0]
        status = entry.enhanced_status or parse_enhanced_status(entry.example)
        return f"{reply_code} {status}" if status else reply_code
    return entry.code or str(entry.http_status)


def test_the_committed_page_is_the_generated_one() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), f"docs/troubleshooting.md is stale: run {REGENERATE}"


def test_every_classified_reply_has_an_entry_and_every_entry_a_reply() -> None:
    documented = page_anchors(PAGE)
    catalogued = anchors()

    assert len(documented) == len(set(documented)), "an anchor is used twice"
    assert set(documented) == set(catalogued.values())
    assert len(re.findall(r"^### ", PAGE.read_text(encoding="utf-8"), re.MULTILINE)) == len(KNOWN_REPLIES)


@pytest.mark.parametrize("entry", KNOWN_REPLIES, ids=lambda e: anchors()[e])
def test_each_entry_shows_its_code_reply_meaning_and_fix(entry: KnownReply) -> None:
    anchor = anchors()[entry]
    section = PAGE.read_text(encoding="utf-8").split(f'<a id="{anchor}"></a>', 1)[1].split("<a id=", 1)[0]

    heading = section.strip().splitlines()[0]
    assert heading.startswith("### ")
    assert identifying_code(entry) in heading
    assert entry.example in section
    assert f"**Meaning:** {entry.meaning}." in section
    assert f"**Fix:** {entry.fix}." in section


@pytest.mark.parametrize("entry", KNOWN_REPLIES, ids=lambda e: anchors()[e])
def test_a_classified_error_links_to_its_own_entry(entry: KnownReply) -> None:
    assert anchor_for(classify(entry)) == f"troubleshooting.md#{anchors()[entry]}"


def test_an_error_without_a_catalogue_entry_has_no_link() -> None:
    assert anchor_for(classify_smtp_reply(554, "5.9.99 something new", stage="data")) is None


def test_main_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "troubleshooting.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render()


def test_every_section_the_doctor_links_to_exists() -> None:
    doctor_page = set(page_anchors(DOCS / "doctor.md"))
    assert set(DOCTOR_ANCHORS.values()) <= doctor_page
    assert "json-output" in doctor_page

"""The cached header factory builds each header class once and parses exactly like the stdlib's."""

from __future__ import annotations

from email import policy

import pytest

from airflow_provider_m365mail.core.message.header_factory import HEADER_FACTORY


def test_each_header_class_is_built_once_whatever_the_case_of_its_name() -> None:
    assert HEADER_FACTORY["Subject"] is HEADER_FACTORY["subject"] is HEADER_FACTORY["SUBJECT"]
    assert HEADER_FACTORY["To"] is not HEADER_FACTORY["Subject"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("To", '"Müller, Zoë" <zoe@contoso.com>, bob@contoso.com'),
        ("Subject", "=?utf-8?q?Tagesbericht?= ✓"),
        ("Date", "Mon, 30 Nov 2026 08:00:00 +0000"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("X-Report-Id", "daily/2026-11-30"),
    ],
)
def test_headers_parse_as_the_stdlib_parses_them(name: str, value: str) -> None:
    ours, stdlib = HEADER_FACTORY(name, value), policy.default.header_factory(name, value)
    assert (str(ours), ours.defects, type(ours).__mro__[1:]) == (str(stdlib), stdlib.defects, type(stdlib).__mro__[1:])

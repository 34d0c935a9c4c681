"""Address parsing: display names, lists with quoted commas, validation without DNS, injection refused."""

from __future__ import annotations

import pytest

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.message.addresses import (
    Address,
    matches_allow_list,
    parse_address,
    parse_address_list,
    split_addresses,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@contoso.com", Address("a@contoso.com")),
        ("  <a@contoso.com> ", Address("a@contoso.com")),
        ("Alice <alice@contoso.com>", Address("alice@contoso.com", "Alice")),
        ('"Doe, John" <john@contoso.com>', Address("john@contoso.com", "Doe, John")),
        ('"a <b> c" <x@contoso.com>', Address("x@contoso.com", "a <b> c")),
        ("Jörg Müller <joerg@contoso.com>", Address("joerg@contoso.com", "Jörg Müller")),
        ("=?utf-8?q?J=C3=B6rg?= <j@contoso.com>", Address("j@contoso.com", "Jörg")),
        ("user@BÜCHER.de", Address("user@xn--bcher-kva.de")),
    ],
)
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text, field="to") == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "nobody", "a@", "a..b@contoso.com", "a@contoso.com, b@contoso.com", "Doe, John <j@contoso.com>",
     "<>", "a@@contoso.com", "a@-contoso.com"],
)
def test_parse_address_refuses_non_addresses(text: str) -> None:
    with pytest.raises(MessageValidationError) as info:
        parse_address(text, field="cc")
    assert info.value.field == "cc"


@pytest.mark.parametrize("bad", ["a@contoso.com\r\nBcc: x@evil.com", "Name\n <a@contoso.com>", "a@contoso.com\x00"])
def test_line_breaks_and_nul_are_refused_anywhere(bad: str) -> None:
    with pytest.raises(MessageValidationError, match="line breaks"):
        parse_address(bad, field="to")
    with pytest.raises(MessageValidationError, match="line breaks"):
        parse_address(Address("a@contoso.com", bad), field="to")
    with pytest.raises(MessageValidationError, match="line breaks"):
        parse_address_list([bad], field="to")


def test_parse_address_checks_address_objects_too() -> None:
    assert parse_address(Address(" A@Contoso.com ", " Al "), field="to") == Address("A@contoso.com", "Al")
    with pytest.raises(MessageValidationError):
        parse_address(Address("not-an-address"), field="to")


def test_error_class_can_be_chosen_for_connection_fields() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_address("nobody", field="extra.from_email", error=ConfigurationError)
    assert info.value.field == "extra.from_email"


def test_non_string_values_are_refused() -> None:
    with pytest.raises(MessageValidationError, match="expected an address"):
        parse_address(42, field="to")  # type: ignore[arg-type]


def test_split_respects_quotes_comments_and_brackets() -> None:
    assert split_addresses('"Doe, John" <j@x.com>; a@x.com ,b@x.com (Bob; team), <c,d@x.com>,,') == [
        '"Doe, John" <j@x.com>', "a@x.com", "b@x.com (Bob; team)", "<c,d@x.com>"
    ]
    assert split_addresses(r'"quote \" , inside" <q@x.com>, z@x.com') == [r'"quote \" , inside" <q@x.com>', "z@x.com"]


def test_parse_address_list_from_string_sequence_and_none() -> None:
    assert parse_address_list(None, field="to") == ()
    assert parse_address_list("", field="to") == ()
    parsed = parse_address_list('"Doe, John" <john@contoso.com>; amy@contoso.com', field="to")
    assert parsed == (Address("john@contoso.com", "Doe, John"), Address("amy@contoso.com"))
    mixed = parse_address_list(["a@contoso.com, b@contoso.com", Address("c@contoso.com", "C")], field="to")
    assert [a.email for a in mixed] == ["a@contoso.com", "b@contoso.com", "c@contoso.com"]


def test_parse_address_list_deduplicates_case_insensitively_keeping_the_first() -> None:
    parsed = parse_address_list(["Amy <amy@contoso.com>", "AMY@CONTOSO.COM", "amy@contoso.com"], field="to")
    assert parsed == (Address("amy@contoso.com", "Amy"),)


def test_formatted_quotes_names_that_need_it() -> None:
    assert Address("j@contoso.com", "Doe, John").formatted() == '"Doe, John" <j@contoso.com>'
    assert Address("j@contoso.com").formatted() == "j@contoso.com"
    assert Address("j@contoso.com", "Jörg").formatted() == "Jörg <j@contoso.com>"
    assert Address("j@Contoso.COM").domain == "contoso.com"


@pytest.mark.parametrize(
    ("address", "patterns", "allowed"),
    [
        ("reports@contoso.com", ["reports@contoso.com"], True),
        ("Reports@Contoso.com", ["reports@CONTOSO.com"], True),
        ("reports@contoso.com", ["*@contoso.com"], True),
        ("reports@sub.contoso.com", ["*@contoso.com"], False),
        ("reports@evil-contoso.com", ["*@contoso.com"], False),
        ("anyone@anywhere.com", ["*"], True),
        ("reports@contoso.com", [], False),
        ("reports@contoso.com", ["alerts@contoso.com", "*@fabrikam.com"], False),
    ],
)
def test_matches_allow_list(address: str, patterns: list[str], allowed: bool) -> None:
    assert matches_allow_list(address, patterns) is allowed


def test_display_names_read_as_readers_see_them() -> None:
    assert parse_address("Ann \t  Lee <ann@contoso.com>", field="to").name == "Ann Lee"
    assert parse_address(Address("ann@contoso.com", " Ann\t\tLee "), field="to").name == "Ann Lee"


def test_display_names_holding_a_literal_encoded_word_are_refused() -> None:
    with pytest.raises(MessageValidationError, match="encoded word"):
        parse_address(Address("a@contoso.com", "=?utf-8?q?x?="), field="to")
    with pytest.raises(MessageValidationError, match="encoded word"):
        parse_address("=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?= <a@contoso.com>", field="to")  # encoded twice


@pytest.mark.parametrize("bad", ["a@contoso.com\u2028", "Name\x0b <a@contoso.com>", "\x85<a@contoso.com>"])
def test_unicode_line_separators_and_controls_are_refused(bad: str) -> None:
    with pytest.raises(MessageValidationError, match="control characters"):
        parse_address(bad, field="to")

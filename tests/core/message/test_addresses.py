"""Address parsing: display names, lists with quoted commas, validation without DNS, injection refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.message.addresses import (
    _PLAIN_ADDR_SPEC,
    Address,
    _parse_with_header_parser,
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


# -- every defect the parser notes is an error: no address is dropped in silence -----------------------------


@pytest.mark.parametrize(
    "text",
    [
        "alice@contoso.com bob@contoso.com",  # a space instead of a comma
        "alice@contoso.com <bob@contoso.com>",  # an address as display name, another in the angle brackets
        "reports@contoso.com <ceo@contoso.com>",
        "alice@contoso.com bob",
        "<alice@contoso.com> bob@contoso.com",
    ],
)
def test_text_the_parser_reads_as_one_address_and_leftovers_is_refused_naming_it(text: str) -> None:
    with pytest.raises(MessageValidationError) as info:
        parse_address_list(text, field="to")
    assert info.value.field == "to"
    assert repr(text) in str(info.value)


def test_two_addresses_separated_by_a_space_never_mail_only_the_first() -> None:
    with pytest.raises(MessageValidationError, match="not one address"):
        parse_address("alice@contoso.com bob@contoso.com", field="to")


def test_a_period_in_an_unquoted_display_name_is_still_accepted() -> None:
    assert parse_address("Mr. J. Smith <smith@contoso.com>", field="to") == Address("smith@contoso.com", "Mr. J. Smith")


@pytest.mark.parametrize("value", [12345, 1.5, b"alice@contoso.com", {"alice@contoso.com": 1}, object()])
def test_a_recipient_value_that_is_no_address_nor_list_is_a_validation_error(value: object) -> None:
    with pytest.raises(MessageValidationError) as info:
        parse_address_list(value, field="cc")  # type: ignore[arg-type]
    assert info.value.field == "cc"
    assert type(value).__name__ in str(info.value)


def test_a_list_holding_something_other_than_addresses_is_a_validation_error() -> None:
    with pytest.raises(MessageValidationError, match="expected address strings, got int"):
        parse_address_list(["alice@contoso.com", 42], field="bcc")  # type: ignore[list-item]


def _outcome(parse: Callable[[], Address]) -> Address | tuple[str, str]:
    try:
        return parse()
    except MessageValidationError as exc:
        return type(exc).__name__, str(exc)


BARE_ADDRESSES = ["bob@contoso.com", "a.b+c@x-y.example", "-@x.com", "a@-x.com", "a@x", "a@1.2.3.4",
                  "x@" + "a" * 64 + ".com", "a" * 65 + "@x.com", "a'b{c}|d@x.com"]


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.from_regex(_PLAIN_ADDR_SPEC, fullmatch=True), st.sampled_from(BARE_ADDRESSES)))
def test_a_bare_address_reads_as_the_header_parser_reads_it(text: str) -> None:
    assert _PLAIN_ADDR_SPEC.fullmatch(text)
    assert _outcome(lambda: parse_address(text, field="to")) == _outcome(
        lambda: _parse_with_header_parser(text, field="to", error=MessageValidationError)
    )

"""Addresses are checked as mail servers check them: private and internationalized domains pass, broken syntax not."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.address_syntax import (
    AddressSyntaxError,
    check_addr_spec,
    public_domain_problem,
)
from airflow_provider_m365mail.core.message.addresses import (
    Address,
    matches_allow_list,
    parse_address,
    parse_address_list,
    parse_sender_pattern,
)
from airflow_provider_m365mail.core.message.outgoing import MIME_POLICY, OutgoingMessage, build_mime
from airflow_provider_m365mail.core.settings import MailSettings

PRIVATE = ["bob@contoso.local", "bob@x.test", "bob@localhost", "bob@mail", "bob@corp.internal", "bob@[192.0.2.1]"]


@pytest.mark.parametrize("address", PRIVATE)
@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
def test_domains_a_private_mail_system_may_host_are_accepted_as_recipients(address: str, field: str) -> None:
    recipients = {"to": None, field: f"Bob <{address}>"}
    message = OutgoingMessage.create(subject="s", text="t", **recipients)
    assert getattr(message, field)[0].email == address


@pytest.mark.parametrize("address", PRIVATE)
def test_private_domains_are_accepted_as_sender_settings(address: str) -> None:
    settings = MailSettings.from_connection_fields(
        host="mail.contoso.test", port=587, login=address, password="p",
        extra={"from_email": address, "reply_to": address, "allowed_senders": f"{address}, *@contoso.test"},
    )
    assert (settings.from_email, settings.reply_to) == (address, address)
    assert settings.allowed_senders == (address, "*@contoso.test")


def test_a_domain_pattern_in_a_special_use_domain_is_an_allowed_sender() -> None:
    settings = MailSettings.from_connection_fields(
        host="mail.contoso.test", port=None, login="airflow@contoso.test", password="p",
        extra={"allowed_senders": "*@contoso.test"},
    )
    assert matches_allow_list("reports@contoso.test", settings.allowed_senders)
    assert not matches_allow_list("reports@contoso.com", settings.allowed_senders)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("*@contoso..test", "empty label"),
        ("*@-contoso.test", "label '-contoso'"),
        ("*@", "nothing after the @-sign"),
        ("*.contoso.com", "puts a wildcard where"),
        ("rep*@contoso.com", "puts a wildcard where"),
        ("reports@", "not one address"),
    ],
)
def test_allowed_senders_errors_say_what_is_wrong_with_the_entry(pattern: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason) as info:
        parse_sender_pattern(pattern, field="extra.allowed_senders", error=ConfigurationError)
    assert info.value.field == "extra.allowed_senders"
    assert "neither an address" not in str(info.value)


def test_internationalized_domains_match_the_allow_list_in_either_form() -> None:
    patterns = [parse_sender_pattern("*@Bücher.de", field="f"), parse_sender_pattern("jörg@bücher.de", field="f")]
    assert patterns == ["*@xn--bcher-kva.de", "jörg@xn--bcher-kva.de"]
    assert matches_allow_list("anna@xn--bcher-kva.de", patterns[:1])
    assert matches_allow_list("JÖRG@bücher.de", patterns[1:])


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("jörg@bücher.de", "jörg@bücher.de"),  # UTF-8 local part: SMTPUTF8, the domain as written (NFC)
        ("Jörg <joerg@BÜCHER.de>", "joerg@xn--bcher-kva.de"),  # ASCII local part: A-labels, sendable anywhere
        ("用户@例子.广告", "用户@例子.广告"),
        ("josé@contoso.com", "josé@contoso.com"),
    ],
)
def test_internationalized_addresses_are_accepted_in_the_form_they_are_sent(text: str, kept: str) -> None:
    assert parse_address(text, field="to").email == kept


def test_a_utf8_local_part_is_normalized_to_nfc() -> None:
    decomposed = "jo\u0065\u0301@contoso.com"  # e + combining acute
    assert parse_address(decomposed, field="to").email == "jo\u00e9@contoso.com"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("a..b@contoso.com", "two in a row"),
        (".a@contoso.com", "start or end with a dot"),
        ("a@contoso..com", "empty label"),
        ("a@-contoso.com", "inner hyphens"),
        ("a@con_toso.com", "inner hyphens"),
        ("a@192.0.2.1", "write it in brackets"),
        ("a@[192.0.2.999]", "not an address literal"),
        ("a@xn--zz.com", "not a valid internationalized domain name"),
        ('"john doe"@contoso.com', "quoted string"),
        ("a\u200b@contoso.com", "invisible or control character"),
        ("x" * 65 + "@contoso.com", "octets long; SMTP allows 64"),
        ("a@" + ".".join(["d" * 63] * 4) + ".com", "DNS allows 253"),
    ],
)
def test_broken_syntax_is_refused_with_the_reason(address: str, reason: str) -> None:
    with pytest.raises(AddressSyntaxError, match=reason):
        check_addr_spec(address)
    with pytest.raises(MessageValidationError):
        parse_address(address, field="to")


def test_a_message_with_a_utf8_address_builds_its_mime_form() -> None:
    message = OutgoingMessage.create(to="Jörg <jörg@bücher.de>", cc="anna@bücher.de", subject="Grüße", text="Hallo")
    identity = SenderIdentity("airflow@contoso.test", Address("jörg@contoso.test", "Jörg"))
    mime = build_mime(message, identity)
    raw = mime.as_bytes(policy=MIME_POLICY.clone(utf8=True)).decode("utf-8")
    assert str(mime["From"]) == "Jörg <jörg@contoso.test>"
    assert "<jörg@contoso.test>" in raw and "<jörg@bücher.de>" in raw and "anna@xn--bcher-kva.de" in raw
    assert str(mime["Message-ID"]).endswith("@contoso.test>")


def test_the_message_id_of_an_idn_sender_is_ascii() -> None:
    identity = SenderIdentity(None, Address("jörg@bücher.de"))
    mime = build_mime(OutgoingMessage.create(to="a@contoso.com", subject="s", text="t"), identity)
    assert str(mime["Message-ID"]).endswith("@xn--bcher-kva.de>")


@given(st.sampled_from(PRIVATE), st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü0123456789._-", min_size=1,
                                         max_size=20))
def test_a_valid_local_part_at_any_accepted_domain_round_trips(address: str, local: str) -> None:
    candidate = f"{local}@{address.partition('@')[2]}"
    try:
        checked = check_addr_spec(candidate)
    except AddressSyntaxError:
        return
    assert check_addr_spec(checked) == checked
    assert parse_address_list([checked, checked.upper()], field="to")[0].email == checked


@pytest.mark.parametrize(
    ("domain", "public"),
    [("contoso.com", True), ("xn--bcher-kva.de", True), ("contoso.test", False), ("corp.local", False),
     ("localhost", False), ("mail", False), ("[192.0.2.1]", False), ("home.arpa", False)],
)
def test_public_domain_problem_names_what_public_mail_refuses(domain: str, public: bool) -> None:
    assert (public_domain_problem(domain) is None) is public


def test_a_microsoft_connection_warns_about_senders_exchange_would_refuse(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        MailSettings.from_connection_fields(
            host="smtp.office365.com", port=None, login="airflow@contoso.com", password="p",
            extra={"from_email": "reports@contoso.local", "allowed_senders": "*@corp.test, *@contoso.com"},
        )
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("reports@contoso.local" in m and ".local" in m for m in warned)
    assert any("*@corp.test" in m for m in warned)
    assert not any("*@contoso.com" in m for m in warned)


def test_a_private_server_does_not_warn_about_private_domains(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        MailSettings.from_connection_fields(
            host="mail.contoso.test", port=None, login="airflow@contoso.test", password="p",
            extra={"from_email": "reports@contoso.local", "allowed_senders": "*@corp.test"},
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", ["Reports\r\nBcc: victim@contoso.com", "Re\x00ports", "=?utf-8?q?X?="])
def test_from_name_is_validated_at_settings_time_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        MailSettings.from_connection_fields(
            host="mail.contoso.test", port=None, login="airflow@contoso.test", password="p", extra={"from_name": name}
        )
    assert info.value.field == "extra.from_name"


def test_from_name_keeps_a_plain_name_with_blanks_folded() -> None:
    settings = MailSettings.from_connection_fields(
        host="mail.contoso.test", port=None, login="airflow@contoso.test", password="p",
        extra={"from_name": "  Data \t Team "},
    )
    assert settings.from_name == "Data Team"

"""Sender identity: send as, send on behalf, defaults, and the connection's allow-list."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity, resolve_identity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.settings import MailSettings


def settings(login: str | None = "airflow@contoso.com", **extra: Any) -> MailSettings:
    return MailSettings.from_connection_fields(
        host=None, port=None, login=login, password="pw" if login else None, extra=extra
    )


def test_default_from_is_the_login() -> None:
    identity = resolve_identity(settings())
    assert identity == SenderIdentity("airflow@contoso.com", Address("airflow@contoso.com"), None, ())
    assert identity.envelope_from == "airflow@contoso.com"


def test_default_from_is_the_connections_from_email_with_its_name() -> None:
    identity = resolve_identity(settings(from_email="reports@contoso.com", from_name="Contoso Reports"))
    assert identity.from_address == Address("reports@contoso.com", "Contoso Reports")
    assert identity.sender is None
    assert identity.envelope_from == "reports@contoso.com"


def test_send_as_an_allowed_mailbox_puts_it_in_from_and_envelope() -> None:
    identity = resolve_identity(settings(allowed_senders="*@contoso.com"), from_email="Team <team@contoso.com>")
    assert identity.from_address == Address("team@contoso.com", "Team")
    assert identity.sender is None
    assert identity.envelope_from == "team@contoso.com"
    assert identity.auth_account == "airflow@contoso.com"


def test_send_on_behalf_names_the_login_as_sender_and_envelope() -> None:
    identity = resolve_identity(settings(allowed_senders=["data-team@contoso.com"]),
                                on_behalf_of="data-team@contoso.com")
    assert identity.from_address == Address("data-team@contoso.com")
    assert identity.sender == Address("airflow@contoso.com")
    assert identity.envelope_from == "airflow@contoso.com"


def test_on_behalf_of_oneself_needs_no_sender() -> None:
    identity = resolve_identity(settings(), on_behalf_of="AIRFLOW@contoso.com")
    assert identity.sender is None


def test_login_and_from_email_need_no_allow_list() -> None:
    s = settings(from_email="reports@contoso.com")
    assert resolve_identity(s, from_email="Airflow@Contoso.com").from_address.email == "Airflow@contoso.com"
    assert resolve_identity(s, from_email="reports@contoso.com").from_address.name == ""


@pytest.mark.parametrize("argument", ["from_email", "on_behalf_of"])
def test_addresses_outside_the_allow_list_are_refused_naming_the_argument(argument: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_identity(settings(allowed_senders="*@contoso.com"), **{argument: "ceo@fabrikam.com"})
    assert info.value.field == argument
    assert "allowed_senders" in (info.value.hint or "")
    assert "*@contoso.com" in str(info.value)


def test_without_allow_list_only_the_login_and_from_email_are_allowed() -> None:
    with pytest.raises(ConfigurationError, match="none besides"):
        resolve_identity(settings(), from_email="reports@contoso.com")


def test_from_email_and_on_behalf_of_together_are_refused() -> None:
    with pytest.raises(MessageValidationError) as info:
        resolve_identity(settings(allowed_senders="*"), from_email="a@contoso.com", on_behalf_of="b@contoso.com")
    assert info.value.field == "on_behalf_of"


def test_on_behalf_of_needs_an_authenticated_account() -> None:
    direct = MailSettings.from_connection_fields(
        host="contoso-com.mail.protection.outlook.com", port=None, login=None, password=None,
        extra={"allowed_senders": "*@contoso.com"},
    )
    with pytest.raises(ConfigurationError, match="authenticated account"):
        resolve_identity(direct, on_behalf_of="team@contoso.com")
    assert resolve_identity(direct, from_email="team@contoso.com").auth_account is None


def test_no_sender_at_all_is_refused() -> None:
    direct = MailSettings.from_connection_fields(
        host="contoso-com.mail.protection.outlook.com", port=None, login=None, password=None, extra={}
    )
    with pytest.raises(ConfigurationError) as info:
        resolve_identity(direct)
    assert info.value.field == "from_email"


def test_a_login_that_is_no_address_needs_from_email() -> None:
    s = MailSettings.from_connection_fields(host="mail.example.com", port=587, login="CORP\\svc", password="pw",
                                            extra={})
    with pytest.raises(ConfigurationError) as info:
        resolve_identity(s)
    assert info.value.field == "from_email"


def test_reply_to_argument_wins_over_the_connections() -> None:
    s = settings(reply_to="desk@contoso.com")
    assert resolve_identity(s).reply_to == (Address("desk@contoso.com"),)
    assert resolve_identity(s, reply_to=["a@contoso.com", "B <b@contoso.com>"]).reply_to == (
        Address("a@contoso.com"), Address("b@contoso.com", "B"))


def test_injection_in_from_is_refused() -> None:
    with pytest.raises(MessageValidationError) as info:
        resolve_identity(settings(allowed_senders="*"), from_email="a@contoso.com\r\nBcc: x@evil.com")
    assert info.value.field == "from_email"

"""High Volume Email against the sandbox's HVE listener (real sockets, STARTTLS, AUTH basic and XOAUTH2):
internal recipients only, refused before connecting when external or in a domain HVE refused before, and HVE's
refusals with their hints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from connection_settings import note, settings_for

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageValidationError,
    PermanentSendError,
    RecipientsRefusedError,
)
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, Security, SmtpMode
from airflow_provider_m365mail.core.settings.hve import forget_learned_domains
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.sandbox.config import HveAccount
from airflow_provider_m365mail.sandbox.server import Sandbox

HVE = "hve@contoso.com"


hve = partial(settings_for, name="hve")


@pytest.fixture(autouse=True)
def no_learned_domains() -> Iterator[None]:
    """Start and end each test with nothing learned from HVE's refusals (they are kept for the process)."""
    forget_learned_domains()
    yield
    forget_learned_domains()


def test_hve_defaults_to_its_endpoint_with_starttls_and_keeps_no_sent_items() -> None:
    settings = MailSettings.from_connection_fields(
        host=None, port=None, login=HVE, password="pw", extra={"smtp_mode": "hve"}
    )

    assert (settings.host, settings.port, settings.security) == ("smtp.hve.mx.microsoft", 587, Security.STARTTLS)
    assert (settings.smtp_mode, settings.auth_type) == (SmtpMode.HVE, AuthType.BASIC)
    assert settings.accepted_domains == ("contoso.com",)  # the HVE account's own domain, when none are listed
    assert settings.save_to_sent_items is False


def test_hve_refuses_a_sign_in_it_does_not_take() -> None:
    with pytest.raises(ConfigurationError, match=r"extra\.auth_type.*HVE account"):
        MailSettings.from_connection_fields(
            host=None, port=None, login=HVE, password=None, extra={"smtp_mode": "hve", "auth_type": "none"}
        )


@pytest.mark.parametrize("auth", ["basic", "oauth2_app"])
async def test_an_internal_message_goes_out_through_hve_signed_in_as_the_account(
    m365_sandbox: Sandbox, auth: str
) -> None:
    extra: dict[str, Any] = {}
    if auth == "oauth2_app":  # the app added with Add-HVEAppAccess, the HVE account as the XOAUTH2 user
        sandbox_settings = m365_sandbox.settings
        extra = {"auth_type": auth, "tenant_id": sandbox_settings["tenant_id"], "client_id":
                 sandbox_settings["client_id"], "authority_host": sandbox_settings["authority_host"],
                 "password": sandbox_settings["client_secret"]}
    settings = hve(m365_sandbox, **extra)

    [result] = await Mailer(settings).send(note(f"over hve {auth}"), resolve_identity(settings))

    [stored] = [m for m in m365_sandbox.messages() if m.subject == f"over hve {auth}"]
    assert (stored.transport, stored.principal, stored.envelope_to) == ("hve", HVE, ("bob@contoso.com",))
    assert result.accepted == ("bob@contoso.com",)


async def test_an_external_recipient_is_refused_before_connecting_and_named(m365_sandbox: Sandbox) -> None:
    settings = hve(m365_sandbox)
    message = OutgoingMessage.create(
        subject="to a partner", text="x", to="bob@contoso.com", cc="Partner <ops@fabrikam.example>"
    )

    with pytest.raises(MessageValidationError, match=r"ops@fabrikam\.example") as caught:
        await Mailer(settings).send(message, resolve_identity(settings))

    assert "transport acs" in (caught.value.hint or "")
    assert m365_sandbox.state.stats["smtp_sessions"] == 0 and m365_sandbox.messages() == []


async def test_the_transport_alone_refuses_an_external_recipient_before_connecting(m365_sandbox: Sandbox) -> None:
    settings = hve(m365_sandbox)

    with pytest.raises(MessageValidationError, match=r"ops@fabrikam\.example"):
        await make_transport(settings).send(note("direct", to="ops@fabrikam.example"), resolve_identity(settings))

    assert m365_sandbox.state.stats["smtp_sessions"] == 0


async def test_a_domain_the_tenant_does_not_accept_is_refused_by_hve_with_its_hint(m365_sandbox: Sandbox) -> None:
    settings = hve(m365_sandbox, accepted_domains="contoso.com,fabrikam.example")  # wrongly listed

    with pytest.raises(RecipientsRefusedError, match=r"5\.7\.54") as caught:
        await Mailer(settings).send(note("listed wrongly", to="ops@fabrikam.example"), resolve_identity(settings))

    assert "Azure Communication Services" in (caught.value.hint or "")


async def test_an_account_without_a_billing_policy_is_refused_with_the_fix(m365_sandbox: Sandbox) -> None:
    inactive = replace(m365_sandbox.tenant.hve_accounts[0], active=False)
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(hve_accounts=(inactive,)))
    settings = hve(m365_sandbox)

    with pytest.raises(PermanentSendError, match="not active") as caught:
        await Mailer(settings).send(note("inactive"), resolve_identity(settings))

    assert "billing policy" in (caught.value.hint or "")


async def test_an_app_not_added_to_the_hve_account_is_refused_with_add_hveappaccess(m365_sandbox: Sandbox) -> None:
    account = HveAccount(HVE, password="Hve-Passw0rd!", app_access=())
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(hve_accounts=(account,)))
    s = m365_sandbox.settings
    settings = hve(m365_sandbox, auth_type="oauth2_app", tenant_id=s["tenant_id"], client_id=s["client_id"],
                   authority_host=s["authority_host"], password=s["client_secret"])

    with pytest.raises(AuthenticationError, match=r"5\.7\.3") as caught:
        await Mailer(settings).send(note("app not added"), resolve_identity(settings))

    assert "Add-HVEAppAccess" in (caught.value.hint or "")


async def test_a_domain_hve_refused_is_refused_before_connecting_on_later_sends(m365_sandbox: Sandbox) -> None:
    settings = hve(m365_sandbox, accepted_domains="contoso.com,fabrikam.example")  # wrongly listed
    mailer = Mailer(settings)
    with pytest.raises(RecipientsRefusedError, match=r"5\.7\.54"):
        await mailer.send(note("first", to="ops@fabrikam.example"), resolve_identity(settings))
    sessions = m365_sandbox.state.stats["smtp_sessions"]

    with pytest.raises(MessageValidationError, match=r"Ops2@fabrikam\.example.*5\.7\.54.*learned from the server"):
        await mailer.send(note("later", to="bob@contoso.com, Ops2@Fabrikam.example"), resolve_identity(settings))
    with pytest.raises(MessageValidationError, match="learned from the server"):  # a new Mailer, same process
        await make_transport(hve(m365_sandbox, accepted_domains="contoso.com,fabrikam.example")).send(
            note("again", to="ops3@fabrikam.example"), resolve_identity(settings))

    assert m365_sandbox.state.stats["smtp_sessions"] == sessions
    assert [m.subject for m in m365_sandbox.messages()] == []


async def test_a_domain_refused_beside_an_accepted_recipient_is_learned_too(m365_sandbox: Sandbox) -> None:
    settings = hve(m365_sandbox, accepted_domains="contoso.com,fabrikam.example")
    transport = make_transport(settings)

    result = await transport.send(note("partly", to="bob@contoso.com, ops@fabrikam.example"),
                                  resolve_identity(settings))

    assert result.accepted == ("bob@contoso.com",) and list(result.refused) == ["ops@fabrikam.example"]
    with pytest.raises(MessageValidationError, match=r"ops@fabrikam\.example.*learned from the server"):
        await transport.send(note("retry", to="ops@fabrikam.example"), resolve_identity(settings))


async def test_a_learned_domain_holds_for_its_server_and_account_only(m365_sandbox: Sandbox) -> None:
    second = HveAccount("hve2@contoso.com", password="Hve2-Passw0rd!")
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(
        hve_accounts=(*m365_sandbox.tenant.hve_accounts, second)))
    listed = "contoso.com,fabrikam.example"
    first = hve(m365_sandbox, accepted_domains=listed)
    with pytest.raises(RecipientsRefusedError):
        await Mailer(first).send(note("learn", to="ops@fabrikam.example"), resolve_identity(first))
    other = hve(m365_sandbox, accepted_domains=listed, login=second.address, password=second.password,
                from_email=second.address)

    with pytest.raises(RecipientsRefusedError, match=r"5\.7\.54"):  # asked the server again: not learned for it
        await Mailer(other).send(note("other account", to="ops@fabrikam.example"), resolve_identity(other))

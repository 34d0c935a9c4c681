"""EwsTransport against the sandbox's EWS endpoint (real sockets, TLS, NTLM computed by pyspnego on both sides):
Send As and on Behalf as Exchange checks them, impersonation, faults with their hints, Exchange Online refused."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from email.utils import getaddresses
from functools import partial
from typing import Any

import pytest
from connection_settings import note, settings_for

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    PermanentSendError,
    SendAsDeniedError,
    ThrottledError,
    classify_ews_fault,
)
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import AuthType, TransportKind
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.core.transports.ews import soap
from airflow_provider_m365mail.sandbox.config import Limits
from airflow_provider_m365mail.sandbox.server import Sandbox

SERVICE = "airflow@contoso.com"


ews = partial(settings_for, name="ews")


def stored(sandbox: Sandbox, subject: str) -> tuple[Any, Any]:
    [found] = [m for m in sandbox.messages() if m.subject == subject]
    return found, message_from_bytes(sandbox.call(lambda: sandbox.state.raw(found.id)), policy=policy.default)


def addresses(message: Any, name: str) -> list[str]:
    return [address for _, address in getaddresses(message.get_all(name, []))]


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
async def test_a_message_goes_out_with_create_item_signed_in_by_ntlm_or_basic(m365_sandbox: Sandbox, auth: str) -> None:
    settings = ews(m365_sandbox, auth_type=auth)

    [result] = await Mailer(settings).send(note(f"via {auth}", bcc="alice@contoso.com"), resolve_identity(settings))

    record, message = stored(m365_sandbox, f"via {auth}")
    assert (record.transport, record.principal) == ("ews", SERVICE)
    assert record.envelope_to == ("bob@contoso.com", "alice@contoso.com")
    assert message["Bcc"] is None  # Bcc recipients travel beside the MIME, never in it
    assert result.message_id == record.message_id and result.transport == "ews"


def test_the_sandbox_connection_defaults_to_ntlm_and_the_ews_url(m365_sandbox: Sandbox) -> None:
    settings = ews(m365_sandbox)

    assert (settings.transport, settings.auth_type) == (TransportKind.EWS, AuthType.NTLM)
    assert settings.ews_url == m365_sandbox.settings["ews_url"]


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
async def test_a_wrong_password_fails_at_once_with_the_hint(m365_sandbox: Sandbox, auth: str) -> None:
    settings = ews(m365_sandbox, auth_type=auth, password="wrong")

    with pytest.raises(AuthenticationError) as caught:
        await Mailer(settings).send(note("nope"), resolve_identity(settings))

    assert caught.value.code == "HTTP401" and "Authentication" in (caught.value.hint or "")
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["ews_requests"]) <= 2  # no retries
    assert m365_sandbox.messages() == []


async def test_send_as_needs_the_grant_and_is_sent_once_it_is_live(m365_sandbox: Sandbox) -> None:
    settings = ews(m365_sandbox, allowed_senders="*@contoso.com")
    identity = resolve_identity(settings, from_email="alerts@contoso.com")

    with pytest.raises(SendAsDeniedError) as caught:
        await Mailer(settings).send(note("denied"), identity)
    m365_sandbox.call(lambda: m365_sandbox.state.grant(SERVICE, "alerts@contoso.com", "send_as"))
    await Mailer(settings).send(note("granted"), identity)

    assert caught.value.code == "ErrorSendAsDenied" and "Add-RecipientPermission" in (caught.value.hint or "")
    _, message = stored(m365_sandbox, "granted")
    assert addresses(message, "From") == ["alerts@contoso.com"] and message["Sender"] is None


async def test_send_on_behalf_names_the_account_as_sender(m365_sandbox: Sandbox) -> None:
    settings = ews(m365_sandbox)

    await Mailer(settings).send(note("on behalf"), resolve_identity(settings, from_email="data-team@contoso.com"))

    _, message = stored(m365_sandbox, "on behalf")
    assert addresses(message, "From") == ["data-team@contoso.com"]
    assert addresses(message, "Sender") == [SERVICE]


async def test_impersonation_needs_the_role_and_then_acts_as_the_mailbox(m365_sandbox: Sandbox) -> None:
    settings = ews(m365_sandbox, ews_impersonation=True, allowed_senders="*@contoso.com")
    identity = resolve_identity(settings, from_email="alerts@contoso.com")

    with pytest.raises(SendAsDeniedError) as caught:
        await Mailer(settings).send(note("no role"), identity)
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(impersonators=(SERVICE,)))
    await Mailer(settings).send(note("impersonated"), identity)

    assert caught.value.code == "ErrorImpersonateUserDenied"
    record, message = stored(m365_sandbox, "impersonated")
    assert record.principal == "alerts@contoso.com" and addresses(message, "From") == ["alerts@contoso.com"]


@pytest.mark.sandbox(faults=[{"target": "ews", "kind": "reply", "message": "ErrorServerBusy", "retry_after_s": 0.2}])
async def test_server_busy_is_retried_after_its_back_off(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ews(m365_sandbox)

    await Mailer(settings).send(note("busy"), resolve_identity(settings))

    assert len([m for m in m365_sandbox.messages() if m.subject == "busy"]) == 1
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 1 and "ThrottledError" in retries[0] and "retrying in 0.2 s" in retries[0]


@pytest.mark.sandbox(tenant={"limits": Limits(max_message_size=2000)})
async def test_a_message_over_the_size_limit_fails_with_the_fix(m365_sandbox: Sandbox) -> None:
    settings = ews(m365_sandbox)

    with pytest.raises(PermanentSendError) as caught:
        await Mailer(settings).send(OutgoingMessage.create(to="bob@contoso.com", subject="big", text="x" * 5000),
                                    resolve_identity(settings))

    assert caught.value.code == "ErrorMessageSizeExceeded" and "MaxSendSize" in (caught.value.hint or "")


async def test_the_connection_check_signs_in_and_sends_nothing(m365_sandbox: Sandbox) -> None:
    result = await make_transport(ews(m365_sandbox)).check()

    assert result.ok and result.transport == "ews" and result.error is None
    assert m365_sandbox.messages() == []


@pytest.mark.parametrize("url", [
    "https://outlook.office365.com/EWS/Exchange.asmx",
    "https://outlook.office.com/EWS/Exchange.asmx",
    "https://outlook.office365.us/EWS/Exchange.asmx",
])
def test_an_exchange_online_ews_host_is_refused_with_the_dates_and_graph(m365_sandbox: Sandbox, url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ews(m365_sandbox, ews_url=url)

    text = str(caught.value)
    assert caught.value.field == "extra.ews_url"
    assert "1 October 2026" in text and "1 April 2027" in text and "transport graph" in text


def test_ntlm_is_refused_outside_ews(m365_sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_for(m365_sandbox, "smtp_basic", auth_type="ntlm")

    assert caught.value.field == "extra.auth_type" and "ews" in str(caught.value)


def test_create_item_sends_only_or_saves_a_copy_and_impersonates_on_request() -> None:
    mime = b"Subject: x\r\n\r\nbody"

    saved = soap.create_item(mime, [], save_copy=True).decode()
    sent_only = soap.create_item(
        mime, ["carol@contoso.com"], save_copy=False, impersonate="alerts@contoso.com"
    ).decode()

    assert 'MessageDisposition="SendAndSaveCopy"' in saved and 'Id="sentitems"' in saved
    assert "ExchangeImpersonation" not in saved
    assert 'MessageDisposition="SendOnly"' in sent_only and "SavedItemFolderId" not in sent_only
    assert "<t:PrimarySmtpAddress>alerts@contoso.com</t:PrimarySmtpAddress>" in sent_only
    assert "<t:BccRecipients><t:Mailbox><t:EmailAddress>carol@contoso.com" in sent_only
    assert base64.b64encode(mime).decode() in saved


def test_a_soap_fault_carries_the_back_off_into_the_throttled_error() -> None:
    answer = (
        f'<s:Envelope xmlns:s="{soap.SOAP}" xmlns:e="{soap.ERRORS}" xmlns:t="{soap.TYPES}"><s:Body><s:Fault>'
        "<faultcode>a:ErrorServerBusy</faultcode><faultstring>The server cannot service this request right now."
        "</faultstring><detail><e:ResponseCode>ErrorServerBusy</e:ResponseCode><e:MessageXml>"
        '<t:Value Name="BackOffMilliseconds">29874</t:Value></e:MessageXml></detail></s:Fault></s:Body></s:Envelope>'
    ).encode()

    fault = soap.read_answer(500, answer)
    assert fault is not None
    error = classify_ews_fault(fault.code, fault.message, back_off_s=fault.back_off_s)

    assert isinstance(error, ThrottledError) and error.retry_after == pytest.approx(29.874)
    assert "New-ThrottlingPolicy" in (error.hint or "")

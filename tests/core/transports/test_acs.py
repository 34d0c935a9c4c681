"""Azure Communication Services Email against the sandbox: the REST API (Entra token or access key, operation
polling, 50-recipient batches, the 10 MB limit, Failed operations, 429 with Retry-After) and the SMTP endpoint with
its composite user name."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from connection_settings import note as short_note
from connection_settings import settings_for
from fake_clock import FakeClock

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageValidationError,
    PermanentSendError,
)
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import Attachment
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, SmtpMode, TransportKind
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.sandbox.server import Sandbox

APP = "11111111-2222-4333-8444-555555555555"
SENDER = "DoNotReply@contoso.com"


acs = partial(settings_for, name="acs")
note = partial(short_note, to="customer@fabrikam.example")


def stored(sandbox: Sandbox, subject: str) -> list[Any]:
    return [m for m in sandbox.messages() if m.subject == subject]


def test_acs_settings_default_to_the_resource_and_refuse_what_acs_does_not_take() -> None:
    rest = MailSettings.from_connection_fields(host=None, port=None, login=None, password=None,
                                               extra={"transport": "acs", "acs_resource": "contoso-mail",
                                                      "acs_access_key": "a2V5"})
    assert (rest.acs_endpoint, rest.auth_type) == ("https://contoso-mail.communication.azure.com", AuthType.ACCESS_KEY)
    assert rest.max_recipients_per_message == 50
    with pytest.raises(ConfigurationError, match=r"max_recipients_per_message.*at most 50"):
        MailSettings.from_connection_fields(host=None, port=None, login=None, password=None, extra={
            "transport": "acs", "acs_resource": "contoso-mail", "acs_access_key": "a2V5",
            "max_recipients_per_message": 100})
    with pytest.raises(ConfigurationError, match=r"extra\.auth_type.*acs only"):
        MailSettings.from_connection_fields(host=None, port=None, login="a@contoso.com", password="p",
                                            extra={"auth_type": "access_key", "acs_access_key": "a2V5"})


def test_the_acs_smtp_preset_builds_the_composite_user_name_and_uses_the_client_secret() -> None:
    settings = MailSettings.from_connection_fields(host=None, port=None, login=None, password=None, extra={
        "smtp_mode": "acs", "acs_resource": "contoso-mail", "client_id": APP, "tenant_id": "contoso.com",
        "client_secret": "s3cret", "from_email": SENDER})
    assert (settings.host, settings.port, settings.smtp_mode) == ("smtp.azurecomm.net", 587, SmtpMode.ACS)
    assert settings.username == f"contoso-mail.{APP}.contoso.com"
    assert settings.password is not None and settings.password.reveal() == "s3cret"


@pytest.mark.parametrize("auth", ["oauth2_app", "access_key"])
async def test_a_message_goes_out_once_its_operation_succeeds(m365_sandbox: Sandbox, auth: str) -> None:
    extra = {"acs_access_key": m365_sandbox.tenant.acs.access_key} if auth == "access_key" else {}
    settings = acs(m365_sandbox, **extra)
    assert (settings.transport, settings.auth_type.value) == (TransportKind.ACS, auth)

    [result] = await Mailer(settings).send(note(f"acs {auth}", bcc="audit@contoso.com"), resolve_identity(settings))

    [record] = stored(m365_sandbox, f"acs {auth}")
    assert record.transport == "acs" and record.principal == (APP if auth == "oauth2_app" else "access_key")
    assert record.envelope_from == SENDER
    assert record.envelope_to == ("customer@fabrikam.example", "audit@contoso.com")
    assert result.message_id in record.message_id and "Succeeded" in result.reply


async def test_more_than_50_recipients_go_in_batches_of_50(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox)
    everyone = [f"reader{n}@fabrikam.example" for n in range(60)]

    results = await Mailer(settings).send(note("newsletter", to=everyone), resolve_identity(settings))

    assert [len(r.accepted) for r in results] == [50, 10]
    assert sorted(len(m.envelope_to) for m in stored(m365_sandbox, "newsletter")) == [10, 50]


async def test_attachments_over_10_mb_are_refused_before_any_request(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox)
    big = Attachment("scan.pdf", content=b"%" * (8 * 1024 * 1024))  # 8 MB: 10.7 MB once in base64

    with pytest.raises(MessageValidationError, match=r"attachments.*10 MB.*scan\.pdf"):
        await Mailer(settings).send(note("big", attachments=[big]), resolve_identity(settings))

    assert m365_sandbox.state.stats["acs_requests"] == 0


@pytest.mark.sandbox(faults=[{"target": "acs", "kind": "fail_operation",
                              "message": "EmailDroppedAllRecipientsSuppressed: All recipients are suppressed."}])
async def test_an_operation_ending_failed_raises_the_services_error(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox)

    with pytest.raises(PermanentSendError, match="All recipients are suppressed") as caught:
        await Mailer(settings).send(note("suppressed"), resolve_identity(settings))

    assert caught.value.code == "EmailDroppedAllRecipientsSuppressed"
    assert stored(m365_sandbox, "suppressed") == []


@pytest.mark.sandbox(faults=[{"target": "acs", "kind": "reply", "code": 429, "retry_after_s": 42, "count": 2}])
async def test_a_429_is_retried_after_the_wait_acs_names(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox)
    clock = FakeClock()

    [result] = await clock.mailer(settings).send(note("throttled"), resolve_identity(settings))

    assert [w for w in clock.slept if w > 0] == [42, 42]  # both refusals waited out, nothing sooner
    assert m365_sandbox.state.stats["acs_throttled"] == 2 and len(stored(m365_sandbox, "throttled")) == 1
    assert "Succeeded" in result.reply


async def test_a_resubmitted_message_is_one_operation_sent_once(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox)
    message = note("once", message_id="<fixed-1@contoso.com>")
    transport = make_transport(settings)

    first = await transport.send(message, resolve_identity(settings))
    again = await transport.send(message, resolve_identity(settings))

    assert first.message_id == again.message_id and len(stored(m365_sandbox, "once")) == 1


async def test_an_app_without_a_role_on_the_resource_is_told_which_role(m365_sandbox: Sandbox) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(
        acs=type(m365_sandbox.tenant.acs)(role_apps=())))
    settings = acs(m365_sandbox)

    with pytest.raises(AuthenticationError, match="HTTP 403") as caught:
        await Mailer(settings).send(note("no role"), resolve_identity(settings))

    assert "Communication and Email Service Owner" in (caught.value.hint or "")


async def test_a_wrong_access_key_is_refused_and_never_shown(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox, acs_access_key="d3Jvbmcta2V5LXZhbHVl")

    with pytest.raises(AuthenticationError, match="HTTP 401") as caught:
        await Mailer(settings).send(note("bad key"), resolve_identity(settings))

    assert "d3Jvbmcta2V5LXZhbHVl" not in str(caught.value)
    check = await make_transport(settings).check()
    assert not check.ok and isinstance(check.error, AuthenticationError)


async def test_the_check_signs_in_without_sending(m365_sandbox: Sandbox) -> None:
    check = await make_transport(acs(m365_sandbox)).check()

    assert check.ok, check.error
    assert m365_sandbox.messages() == []


async def test_acs_smtp_signs_in_with_the_composite_user_name(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "acs_smtp")

    await Mailer(settings).send(note("over acs smtp"), resolve_identity(settings))

    [record] = stored(m365_sandbox, "over acs smtp")
    assert record.transport == "acs_smtp" and record.principal == settings.username
    assert settings.username == f"contoso-acs.{APP}.{m365_sandbox.tenant.tenant_id}"


async def test_acs_smtp_refuses_a_sender_outside_the_verified_domains(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "acs_smtp", from_email="noreply@fabrikam.example")

    with pytest.raises(PermanentSendError, match=r"5\.7\.1") as caught:
        await Mailer(settings).send(note("unverified"), resolve_identity(settings))

    assert "verified domain" in (caught.value.hint or "")


async def test_a_request_near_the_10_mb_limit_is_taken(m365_sandbox: Sandbox) -> None:
    settings = acs(m365_sandbox)
    large = Attachment("export.csv", content=b"a,b\n" * (7 * 1024 * 1024 // 4))  # 7 MB: 9.3 MB in base64

    await Mailer(settings).send(note("large", attachments=[large]), resolve_identity(settings))

    [record] = stored(m365_sandbox, "large")
    assert record.size > 7 * 1024 * 1024

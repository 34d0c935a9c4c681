"""The provider against a real Postfix + Dovecot: what lands in the Maildirs, and how refusals come back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from postfix_server import MailServer

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.errors import PermanentSendError, SendAsDeniedError
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.probe import ProbeMode, ProbeVerdict, probe_identity, probe_send_as
from airflow_provider_m365mail.core.settings import MailSettings

Settings = Callable[..., MailSettings]


def note(subject: str, **recipients: str) -> OutgoingMessage:
    return OutgoingMessage.create(subject=subject, text=f"{subject}: body", **{"to": None, **recipients})


@pytest.mark.parametrize("conn_id", ["m365mail_default", "m365mail_ssl", "m365mail_xoauth2"])
async def test_each_submission_path_delivers_headers_and_recipients(
    postfix: MailServer, postfix_settings: Settings, conn_id: str
) -> None:
    settings = postfix_settings(conn_id)
    message = note(f"via {conn_id}", to="Bob <bob@contoso.test>", cc="carol@contoso.test", bcc="ops@contoso.test")

    result = await Mailer(settings).send(message, resolve_identity(settings, from_email="reports@contoso.test"))

    delivered = {r: postfix.wait_for_delivery(r)[0] for r in ("bob@contoso.test", "carol@contoso.test",
                                                                "ops@contoso.test")}
    for received in delivered.values():
        assert received["Subject"] == f"via {conn_id}"
        assert received["From"] == "reports@contoso.test"
        assert received["To"] == "Bob <bob@contoso.test>" and received["Cc"] == "carol@contoso.test"
        assert "Bcc" not in received and "ops@contoso.test" not in str(received["To"])
        assert received["Message-ID"] == result[0].message_id
        assert received.get_content().strip() == f"via {conn_id}: body"
    assert delivered["ops@contoso.test"]["Delivered-To"] == "ops@contoso.test"


async def test_send_as_refused_at_mail_from_is_a_send_as_denied_error_with_postfix_code(
    postfix: MailServer, postfix_settings: Settings
) -> None:
    settings = postfix_settings()
    with pytest.raises(SendAsDeniedError) as caught:
        await Mailer(settings).send(note("not mine", to="bob@contoso.test"),
                                    resolve_identity(settings, from_email="alice@contoso.test"))
    assert caught.value.code == "553" and caught.value.enhanced_status == "5.7.1"
    assert "not owned by user airflow@contoso.test" in str(caught.value)
    assert postfix.delivered("bob@contoso.test") == []


@pytest.mark.parametrize(("mailbox", "verdict"), [("reports@contoso.test", ProbeVerdict.LIVE),
                                                  ("alice@contoso.test", ProbeVerdict.NOT_YET)])
async def test_envelope_probe_reads_postfix_sender_login_maps(
    postfix: MailServer, postfix_settings: Settings, mailbox: str, verdict: ProbeVerdict
) -> None:
    settings = postfix_settings()
    outcome = await probe_send_as(settings, probe_identity(settings, mailbox), mode=ProbeMode.ENVELOPE,
                                  recipient="bob@contoso.test")
    assert (outcome.verdict, outcome.method) == (verdict, "envelope"), outcome.detail
    if verdict is ProbeVerdict.NOT_YET:
        assert isinstance(outcome.error, SendAsDeniedError) and outcome.error.code == "553"
    assert postfix.delivered("bob@contoso.test") == []  # MAIL FROM, RCPT TO, RSET: nothing is sent


async def test_a_utf8_local_part_is_delivered_with_smtputf8(postfix: MailServer, postfix_settings: Settings) -> None:
    settings = postfix_settings()
    await Mailer(settings).send(note("Grüße", to="Jörg <jörg@contoso.test>"), resolve_identity(settings))

    (received,) = postfix.wait_for_delivery("jörg@contoso.test")
    assert received["Delivered-To"] == "jörg@contoso.test"
    assert received["To"].addresses[0].addr_spec == "jörg@contoso.test"
    assert received["Subject"] == "Grüße"


async def test_an_idn_domain_is_delivered_as_a_labels_even_without_smtputf8(
    postfix: MailServer, postfix_settings: Settings
) -> None:
    settings = postfix_settings("m365mail_no_smtputf8")
    await Mailer(settings).send(note("IDN", to="Bob <bob@bücher.test>"), resolve_identity(settings))

    (received,) = postfix.wait_for_delivery("bob@xn--bcher-kva.test")
    assert received["To"].addresses[0].addr_spec == "bob@xn--bcher-kva.test"


async def test_a_utf8_local_part_without_smtputf8_is_refused_naming_the_address(
    postfix: MailServer, postfix_settings: Settings
) -> None:
    settings = postfix_settings("m365mail_no_smtputf8")
    with pytest.raises(PermanentSendError, match=r"does not offer SMTPUTF8, which jörg@contoso\.test needs") as caught:
        await Mailer(settings).send(note("Grüße", to="jörg@contoso.test", cc="bob@contoso.test"),
                                    resolve_identity(settings))
    assert caught.value.hint and "ASCII" in caught.value.hint
    assert postfix.delivered("bob@contoso.test") == [] and postfix.delivered("jörg@contoso.test") == []

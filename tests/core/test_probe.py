"""probe_send_as against the sandbox: each verdict, what each probe method puts on the wire, and what it stores."""

from __future__ import annotations

from dataclasses import replace

import pytest
from connection_settings import settings_for

from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    HostNotFoundError,
    SendAsDeniedError,
    ServerUnreachableError,
)
from airflow_provider_m365mail.core.probe import (
    PROBE_HEADER,
    PROBE_SUBJECT,
    ProbeMode,
    ProbeVerdict,
    probe_identity,
    probe_send_as,
)
from airflow_provider_m365mail.sandbox.server import Sandbox

SERVICE = "airflow@contoso.com"
MAILBOX = "alerts@contoso.com"  # no grant in the default tenant
ALLOW = {"allowed_senders": "*@contoso.com"}


def grant(sandbox: Sandbox, right: str = "send_as", principal: str = SERVICE) -> None:
    sandbox.call(lambda: sandbox.state.grant(principal, MAILBOX, right))  # type: ignore[arg-type]


def restrict_graph_scope(sandbox: Sandbox) -> None:
    def restrict() -> None:
        state = sandbox.state
        state.update_tenant(apps=tuple(replace(a, graph_scope=(SERVICE,)) for a in state.tenant.apps))

    sandbox.call(restrict)


async def test_auto_over_smtp_waits_at_the_envelope_then_confirms_with_one_marked_message(
    m365_sandbox: Sandbox,
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", **ALLOW)
    identity = probe_identity(settings, MAILBOX)

    before = await probe_send_as(settings, identity, probe_id="p-1")
    sessions_before = m365_sandbox.call(lambda: m365_sandbox.state.stats["smtp_sessions"])
    grant(m365_sandbox)
    after = await probe_send_as(settings, identity, probe_id="p-2")

    assert (before.verdict, before.method) == (ProbeVerdict.NOT_YET, "envelope")
    assert isinstance(before.error, SendAsDeniedError) and before.error.enhanced_status == "5.7.60"
    assert sessions_before == 1
    assert (after.verdict, after.method) == (ProbeVerdict.LIVE, "envelope+message")
    [stored] = m365_sandbox.messages()
    parsed = m365_sandbox.parsed(stored.id)
    assert stored.envelope_to == (SERVICE,)
    assert stored.envelope_from == MAILBOX
    assert parsed["Subject"].startswith(PROBE_SUBJECT)
    assert parsed[PROBE_HEADER] == f"send-as; mailbox={MAILBOX}; id=p-2"


async def test_envelope_probe_sends_nothing(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2", **ALLOW)
    identity = probe_identity(settings, MAILBOX)

    denied = await probe_send_as(settings, identity, mode=ProbeMode.ENVELOPE)
    grant(m365_sandbox, principal=m365_sandbox.settings["client_id"])  # app-only XOAUTH2: the app holds grants
    live = await probe_send_as(settings, identity, mode=ProbeMode.ENVELOPE)

    assert denied.verdict is ProbeVerdict.NOT_YET
    assert (live.verdict, live.method) == (ProbeVerdict.LIVE, "envelope")
    assert m365_sandbox.messages() == []


async def test_message_probe_catches_the_header_check_and_goes_to_the_chosen_recipient(
    m365_sandbox: Sandbox,
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", **ALLOW)
    identity = probe_identity(settings, MAILBOX, "send_on_behalf")

    denied = await probe_send_as(settings, identity, recipient="bob@contoso.com")
    grant(m365_sandbox, "send_on_behalf")
    live = await probe_send_as(settings, identity, recipient="bob@contoso.com")

    assert (denied.verdict, denied.method) == (ProbeVerdict.NOT_YET, "message")
    assert denied.error is not None and denied.error.enhanced_status == "5.2.252"
    assert live.verdict is ProbeVerdict.LIVE
    [stored] = m365_sandbox.messages()
    parsed = m365_sandbox.parsed(stored.id)
    assert stored.envelope_to == ("bob@contoso.com",)
    assert (parsed["From"], parsed["Sender"]) == (MAILBOX, SERVICE)
    assert parsed[PROBE_HEADER].startswith("send-on-behalf; ")


async def test_graph_app_only_waits_for_the_access_policy(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph", **ALLOW)
    identity = probe_identity(settings, MAILBOX)
    restrict_graph_scope(m365_sandbox)

    denied = await probe_send_as(settings, identity)
    m365_sandbox.call(lambda: m365_sandbox.state.add_to_graph_scope(m365_sandbox.settings["client_id"], MAILBOX))
    live = await probe_send_as(settings, identity)

    assert (denied.verdict, denied.method) == (ProbeVerdict.NOT_YET, "message")
    assert denied.error is not None and denied.error.code == "ErrorAccessDenied"
    assert live.verdict is ProbeVerdict.LIVE
    [stored] = m365_sandbox.messages()
    assert (stored.transport, stored.envelope_to) == ("graph", (SERVICE,))
    assert str(m365_sandbox.parsed(stored.id)[PROBE_HEADER]).strip().startswith("send-as; ")


async def test_bad_password_fails_with_the_hint(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", password="wrong", **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX))

    assert outcome.verdict is ProbeVerdict.FAILED
    assert isinstance(outcome.error, AuthenticationError)
    assert outcome.error.code == "535" and outcome.error.hint


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
async def test_smtp_auth_disabled_fails_with_5_7_139(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2", **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX))

    assert outcome.verdict is ProbeVerdict.FAILED
    assert outcome.error is not None and outcome.error.enhanced_status == "5.7.139"
    assert "Set-CASMailbox" in (outcome.error.hint or "")


async def test_unknown_mailbox_over_graph_fails_at_once(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph", **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, "alrets@contoso.com"))

    assert outcome.verdict is ProbeVerdict.FAILED
    assert outcome.error is not None and outcome.error.code == "ErrorInvalidUser"


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "reply", "code": 421, "stage": "mail"}])
async def test_a_dropped_session_is_transient(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX))

    assert (outcome.verdict, outcome.method) == (ProbeVerdict.TRANSIENT, "envelope")
    assert outcome.error is not None and outcome.error.code == "421"


async def test_a_host_that_does_not_exist_fails_at_once(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", host="smtp.contoso-typo.invalid", **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX))

    assert outcome.verdict is ProbeVerdict.FAILED
    assert isinstance(outcome.error, HostNotFoundError)
    assert "smtp.contoso-typo.invalid" in outcome.detail and "check the host field" in outcome.detail


async def test_a_server_that_refuses_connections_is_transient(m365_sandbox: Sandbox, free_port: int) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", port=free_port, **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX))

    assert outcome.verdict is ProbeVerdict.TRANSIENT
    assert isinstance(outcome.error, ServerUnreachableError) and not isinstance(outcome.error, HostNotFoundError)


@pytest.mark.sandbox(faults=[{"target": "graph", "kind": "reply", "code": 503}])
async def test_graph_unavailable_is_transient(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph", **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX))

    assert outcome.verdict is ProbeVerdict.TRANSIENT
    assert m365_sandbox.messages() == []


@pytest.mark.parametrize(("connection", "field"), [("direct_send", "extra.smtp_mode"), ("relay", "extra.smtp_mode")])
def test_connections_without_an_account_are_refused_naming_the_field(
    m365_sandbox: Sandbox, connection: str, field: str
) -> None:
    settings = settings_for(m365_sandbox, connection)

    with pytest.raises(ConfigurationError) as raised:
        probe_identity(settings, MAILBOX)

    assert raised.value.field == field


@pytest.mark.parametrize(("connection", "permission"), [("graph", "send_as"), ("smtp_basic", "send_on_behalf")])
async def test_envelope_probes_that_cannot_answer_are_refused(
    m365_sandbox: Sandbox, connection: str, permission: str
) -> None:
    settings = settings_for(m365_sandbox, connection, **ALLOW)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX, permission), mode=ProbeMode.ENVELOPE)

    assert outcome.verdict is ProbeVerdict.FAILED
    assert isinstance(outcome.error, ConfigurationError) and outcome.error.field == "probe"
    stats = m365_sandbox.call(lambda: dict(m365_sandbox.state.stats))
    assert stats.get("smtp_sessions", 0) == stats.get("graph_requests", 0) == 0


def test_a_mailbox_outside_allowed_senders_is_refused_before_probing(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")

    with pytest.raises(ConfigurationError) as raised:
        probe_identity(settings, MAILBOX)

    assert raised.value.field == "from_email"


async def test_the_envelope_probe_fails_over_to_the_alternate_server_like_a_send(
    m365_sandbox: Sandbox, free_port: int
) -> None:
    smtp = m365_sandbox.settings["smtp"]
    settings = settings_for(m365_sandbox, "smtp_basic", port=free_port, alternate_host=smtp["host"],
                            alternate_port=smtp["submission_port"], **ALLOW)
    grant(m365_sandbox)

    outcome = await probe_send_as(settings, probe_identity(settings, MAILBOX), mode=ProbeMode.ENVELOPE)

    assert (outcome.verdict, outcome.method) == (ProbeVerdict.LIVE, "envelope")  # nothing listens on the primary
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["smtp_sessions"]) == 1
    assert m365_sandbox.messages() == []


async def test_a_grant_to_the_login_mailbox_does_not_count_for_app_only_xoauth2_and_the_outcome_says_so(
    m365_sandbox: Sandbox,
) -> None:
    # What the Send As how-to once said: the trustee is the mailbox. For app-only XOAUTH2 it is the app.
    grant(m365_sandbox, principal=SERVICE)
    app_only = settings_for(m365_sandbox, "smtp_oauth2", **ALLOW)
    basic = settings_for(m365_sandbox, "smtp_basic", **ALLOW)

    refused = await probe_send_as(app_only, probe_identity(app_only, MAILBOX), mode=ProbeMode.ENVELOPE)
    live = await probe_send_as(basic, probe_identity(basic, MAILBOX), mode=ProbeMode.ENVELOPE)

    assert live.verdict is ProbeVerdict.LIVE
    assert refused.verdict is ProbeVerdict.NOT_YET
    assert refused.cause is not None
    assert refused.cause.startswith(
        f"for app-only XOAUTH2 the trustee is the app's Exchange service principal, not {SERVICE}"
    )
    assert f"Get-ServicePrincipal -Identity {app_only.client_id}" in refused.cause
    assert f"Add-RecipientPermission -Identity {MAILBOX} -Trustee <service principal>" in refused.cause


@pytest.mark.parametrize(
    ("connection", "permission", "expected"),
    [
        ("smtp_basic", "send_as", f"the trustee is the signed-in account {SERVICE}: Add-RecipientPermission "
                                   f"-Identity {MAILBOX} -Trustee {SERVICE} -AccessRights SendAs"),
        ("smtp_basic", "send_on_behalf", f"Set-Mailbox {MAILBOX} -GrantSendOnBehalfTo {SERVICE}"),
        ("smtp_oauth2", "send_on_behalf", f"Set-Mailbox {MAILBOX} -GrantSendOnBehalfTo <service principal>"),
        ("graph", "send_as", "app-only Graph needs no Send As: the app (client id "),
    ],
)
def test_the_likely_cause_names_the_trustee_of_each_kind_of_authentication(
    m365_sandbox: Sandbox, connection: str, permission: str, expected: str
) -> None:
    from airflow_provider_m365mail.core.probe import missing_grant_cause

    settings = settings_for(m365_sandbox, connection, **ALLOW)
    assert expected in missing_grant_cause(settings, probe_identity(settings, MAILBOX, permission))


def test_after_the_propagation_time_a_refusal_is_called_missing_not_propagating() -> None:
    from airflow_provider_m365mail.core.probe import PROPAGATION_S, ProbeOutcome, not_live_message

    outcome = ProbeOutcome(ProbeVerdict.NOT_YET, "envelope", "550 5.7.60 ...", cause="the trustee is X")
    early = not_live_message(outcome, probes=1, waited_s=0)
    late = not_live_message(outcome, probes=40, waited_s=PROPAGATION_S + 60)

    assert "Either the grant is still propagating" in early and early.endswith("the trustee is X")
    assert "Still refused 61 minutes after the first probe" in late and "still propagating" not in late

"""Hostile input: junk in every message field, every address and every numeric setting gives our errors only.

Property-based (hypothesis, derandomized so a run is reproducible): whatever a caller passes, the only exceptions
that come out are ``M365MailError`` subclasses, and input that is refused sends nothing: the sandbox's store
stays empty. Input that happens to be valid is sent, and then the store holds exactly that message.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connection_settings import settings_for
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.errors import M365MailError
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage, build_mime
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.graph.payload import plan_graph_send
from airflow_provider_m365mail.sandbox.server import Sandbox

# Inputs a campaign against the provider found or would try first.
HOSTILE_TEXT = [
    "",
    " ",
    "alice@contoso.com bob@contoso.com",
    "alice@contoso.com <bob@contoso.com>",
    "reports@contoso.com <ceo@contoso.com>",
    "bob@contoso.com\r\nBcc: eve@fabrikam.com",
    "bob@contoso.com\x00",
    "=?utf-8?q?ceo?= <bob@contoso.com>",
    '"unclosed <bob@contoso.com>',
    "<>",
    "@",
    "bob@",
    "@contoso.com",
    "bob@@contoso.com",
    "bob@contoso.com,,;;",
    "(comment only)",
    "group: bob@contoso.com;",
    "bob@[127.0.0.1]",
    "half a pair \ud800",
    "\u2028",
    "nan",
    "inf",
    "-1",
    "true",
    "~nosuchuser/report.csv",
    "/",
    "a" * 5000,
    "b\u00f6b@contoso.com",
]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=16),
    st.sampled_from(HOSTILE_TEXT),
    st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none(), st.sampled_from(HOSTILE_TEXT)), max_size=3),
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers()), max_size=2),
)
# Text built from the characters that matter to address syntax, to reach the parser's corners.
ADDRESS_TEXT = st.lists(st.sampled_from([*'ab@.<>,;:" ()\\[]\t\r\n\x00é=?', "alice", "bob", "contoso.com"]),
                        max_size=16).map("".join)
ADDRESS_WRITTEN = re.compile(r"[a-z]+@contoso\.com", re.IGNORECASE)
ADDRESS_JUNK = st.one_of(JUNK, ADDRESS_TEXT, st.lists(ADDRESS_TEXT, max_size=3))
MESSAGE_FIELDS = ("to", "cc", "bcc", "subject", "text", "html", "attachments", "headers", "importance",
                  "message_id", "save_to_sent_items")
IDENTITY_FIELDS = ("from_email", "on_behalf_of", "reply_to")
NUMERIC_EXTRAS = ("timeout", "max_recipients_per_message", "max_messages_per_minute")
NUMBERS = st.one_of(
    JUNK,
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.sampled_from(["1e400", "-0", "0.0", "1_000", " 30 ", "0x1e", "30s", "½", "٣٠"]),
)
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SENDING = settings(PROPERTY, max_examples=60)


def valid_message_fields() -> dict[str, Any]:
    return {"to": "bob@contoso.com", "subject": "Nightly report", "text": "All good."}


def outcome(call: Callable[[], Any]) -> M365MailError | None:
    """Run ``call``; return the provider's error it raised, None if it raised nothing. Anything else fails."""
    try:
        call()
    except M365MailError as exc:
        return exc
    return None


@pytest.fixture
def attachment_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "report.csv"
    path.write_text("region,total\nSüd,97\n", encoding="utf-8")
    yield path


# -- message fields, checked and built without the network ----------------------------------------------------


@PROPERTY
@given(field=st.sampled_from(MESSAGE_FIELDS), value=JUNK)
def test_junk_in_any_message_field_is_refused_with_our_error_or_builds(field: str, value: Any) -> None:
    fields = {**valid_message_fields(), field: value}
    built: list[OutgoingMessage] = []

    def create_and_build() -> None:
        message = OutgoingMessage.create(**fields)
        built.append(message)
        identity = resolve_identity(SMTP_SETTINGS)
        build_mime(message, identity).as_bytes()
        plan_graph_send(message, identity)

    error = outcome(create_and_build)
    if error is not None:
        assert str(error)  # says something
        assert built == [] or field == "headers"  # Graph refuses headers that SMTP takes (non-X- names)


@PROPERTY
@given(field=st.sampled_from(("to", "cc", "bcc")), value=ADDRESS_JUNK)
def test_junk_in_any_recipient_field_is_refused_or_each_address_is_kept(field: str, value: Any) -> None:
    fields = {**valid_message_fields(), "to": None, field: value}
    message: list[OutgoingMessage] = []
    error = outcome(lambda: message.append(OutgoingMessage.create(**fields)))
    if error is None:
        (created,) = message
        kept = getattr(created, field)
        texts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
        # Nothing is dropped in silence: every address written in the input is one of those kept (or part of a
        # display name).
        written = {found.lower() for text in texts for found in ADDRESS_WRITTEN.findall(text)}
        names = " ".join(a.name for a in kept).lower()
        assert written <= {a.email.lower() for a in kept} | {w for w in written if w in names}, (value, kept)


@PROPERTY
@given(field=st.sampled_from(IDENTITY_FIELDS), value=ADDRESS_JUNK)
def test_junk_in_any_sender_field_is_refused_with_our_error(field: str, value: Any) -> None:
    outcome(lambda: resolve_identity(SMTP_SETTINGS, **{field: value}))


@PROPERTY
@given(value=st.one_of(JUNK, st.sampled_from(["reports@contoso.com"]), st.text(max_size=12).map(lambda t: f"/{t}")))
def test_junk_as_attachments_is_refused_or_attached(value: Any) -> None:
    outcome(lambda: OutgoingMessage.create(**valid_message_fields(), attachments=value))


# -- connection settings ----------------------------------------------------------------------------------------


@PROPERTY
@given(key=st.sampled_from(NUMERIC_EXTRAS), value=NUMBERS)
def test_a_numeric_extra_is_a_finite_number_above_zero_or_refused_naming_it(key: str, value: Any) -> None:
    built: list[MailSettings] = []
    error = outcome(lambda: built.append(smtp_settings(**{key: value})))
    if error is not None:
        assert getattr(error, "field", None) in (f"extra.{key}", "extra")
        return
    number = getattr(built[0], key)
    assert not isinstance(number, bool) and math.isfinite(number) and number > 0


@PROPERTY
@given(port=NUMBERS, alternate_port=NUMBERS)
def test_ports_are_tcp_ports_or_refused(port: Any, alternate_port: Any) -> None:
    built: list[MailSettings] = []
    if outcome(lambda: built.append(smtp_settings(port=port, alternate_host="smtp2.contoso.com",
                                                  alternate_port=alternate_port))) is None:
        assert 0 < built[0].port < 65536 and built[0].alternate_port is not None
        assert 0 < built[0].alternate_port < 65536


@PROPERTY
@given(extra=st.one_of(JUNK, st.text(alphabet='{}[]":,0123456789 truefalsn', max_size=30)))
def test_any_extra_is_refused_with_our_error_or_read(extra: Any) -> None:
    outcome(lambda: MailSettings.from_airflow_connection(host="smtp.contoso.com", port=None, login="a@contoso.com",
                                                         password="p", extra=extra))


@PROPERTY
@given(key=st.sampled_from(("from_email", "reply_to", "allowed_senders")), value=ADDRESS_JUNK)
def test_junk_in_an_address_extra_is_refused_with_our_error(key: str, value: Any) -> None:
    outcome(lambda: smtp_settings(**{key: value}))


def smtp_settings(**extra: Any) -> MailSettings:
    port = extra.pop("port", None)
    return MailSettings.from_connection_fields(host="smtp.contoso.com", port=port, login="airflow@contoso.com",
                                               password="p", extra=extra)


SMTP_SETTINGS = MailSettings.from_connection_fields(
    host="smtp.contoso.com", port=None, login="airflow@contoso.com", password="p",
    extra={"allowed_senders": "*@contoso.com"},
)


# -- through a real send: refused input leaves the store empty ---------------------------------------------------


@SENDING
@given(connection=st.sampled_from(("smtp_basic", "graph")),
       field=st.sampled_from((*MESSAGE_FIELDS, *IDENTITY_FIELDS)), value=st.one_of(JUNK, ADDRESS_JUNK))
def test_a_send_with_junk_raises_our_error_and_sends_nothing_or_delivers_once(
    m365_sandbox: Sandbox, attachment_file: Path, connection: str, field: str, value: Any
) -> None:
    m365_sandbox.reset()
    # A budget too short for any retry: a transient failure is left over (and raised) at once.
    settings = settings_for(m365_sandbox, connection, allowed_senders="*@contoso.com", retry_budget_s=0.001)
    message_fields = {**valid_message_fields(), "attachments": [attachment_file]}
    identity_fields: dict[str, Any] = {}
    (identity_fields if field in IDENTITY_FIELDS else message_fields)[field] = value

    def send() -> None:
        identity = resolve_identity(settings, **identity_fields)
        message = OutgoingMessage.create(**message_fields)
        asyncio.run(Mailer(settings).send(message, identity))

    error = outcome(send)
    event(f"{connection}: {'refused' if error is not None else 'sent'}")
    stored = m365_sandbox.messages()
    if error is not None:
        assert stored == [], f"{type(error).__name__} raised after a message was stored"
    else:
        assert len(stored) == 1

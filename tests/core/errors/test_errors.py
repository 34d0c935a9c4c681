"""The error tree, its string form, pickling, and the classification of Exchange, Graph, Entra, EWS and proxy
replies."""

from __future__ import annotations

import pickle

import pytest
from known_replies import classify_example

from airflow_provider_m365mail.core import errors
from airflow_provider_m365mail.core.errors import (
    KNOWN_REPLIES,
    AuthenticationError,
    ConfigurationError,
    KnownReply,
    M365MailError,
    MessageValidationError,
    PermanentSendError,
    RecipientsRefusedError,
    ReplySource,
    SendAsDeniedError,
    ThrottledError,
    TransientSendError,
    ValidationError,
    classify_aadsts,
    classify_graph_error,
    classify_proxy_failure,
    classify_refused_recipients,
    classify_smtp_reply,
    parse_enhanced_status,
)


def classify(entry: KnownReply) -> M365MailError:
    return classify_example(entry, smtp_stage="mail")


@pytest.mark.parametrize(
    "entry", KNOWN_REPLIES, ids=lambda e: f"{e.source.value}-{e.code}-{e.enhanced_status}-{e.pattern}"
)
def test_each_known_reply_classifies_to_its_class_with_its_hint(entry: KnownReply) -> None:
    error = classify(entry)
    assert type(error).__name__ == entry.error
    assert error.hint == f"{entry.meaning}. {entry.fix}"
    assert isinstance(error, TransientSendError) is entry.transient


def test_catalogue_entries_are_distinct_and_each_has_a_matcher() -> None:
    keys = [(e.source, e.code, e.enhanced_status, e.pattern, e.http_status) for e in KNOWN_REPLIES]
    assert len(keys) == len(set(keys))
    for entry in KNOWN_REPLIES:
        assert entry.code or entry.enhanced_status or entry.pattern or entry.http_status
        assert entry.error in {c.__name__ for c in vars(errors).values() if isinstance(c, type)}


def test_catalogue_covers_the_documented_exchange_replies() -> None:
    statuses = {e.enhanced_status for e in KNOWN_REPLIES if e.source is ReplySource.SMTP}
    documented = {
        "5.7.139", "5.7.3", "5.7.30", "4.7.66", "5.7.57", "5.7.60", "5.2.252", "4.3.2", "5.2.2", "5.1.90",
        "5.1.8", "5.1.1", "5.1.10", "5.4.1", "4.7.500-699", "5.7.64", "5.7.51", "5.7.68", "5.7.708",
        "5.7.750", "5.7.705", "5.7.233", "5.3.4", "4.4.2",
    }
    assert documented <= statuses
    entra = {e.code for e in KNOWN_REPLIES if e.source is ReplySource.ENTRA}
    assert {f"AADSTS{n}" for n in (7000215, 700016, 90002, 65001, 50126, 50076, 50079, 7000222, 700027,
                                   53003)} <= entra
    graph = {e.code for e in KNOWN_REPLIES if e.source is ReplySource.GRAPH}
    assert {"ErrorSendAsDenied", "ErrorAccessDenied", "MailboxNotEnabledForRESTAPI", "ErrorInvalidRecipients",
            "ErrorMessageSizeExceeded", "ErrorItemNotFound", "InvalidAuthenticationToken",
            "Authorization_RequestDenied", "ErrorMimeContentInvalidBase64String", "ApplicationThrottled"} <= graph


def test_hierarchy_matches_the_drawn_tree() -> None:
    assert issubclass(ConfigurationError, ValidationError)
    assert issubclass(MessageValidationError, ValidationError)
    assert issubclass(ThrottledError, TransientSendError)
    for cls in (AuthenticationError, SendAsDeniedError, RecipientsRefusedError):
        assert issubclass(cls, PermanentSendError)
    for cls in (ValidationError, TransientSendError, PermanentSendError):
        assert issubclass(cls, M365MailError)
    assert not issubclass(TransientSendError, PermanentSendError)


def test_str_carries_code_status_and_hint() -> None:
    error = AuthenticationError("refused", code="535", enhanced_status="5.7.139", hint="enable SMTP AUTH")
    assert str(error) == "refused [535 5.7.139] Hint: enable SMTP AUTH"
    assert str(M365MailError("plain")) == "plain"


def test_validation_error_names_its_field() -> None:
    error = ConfigurationError("extra.security", "bad", hint="fix it")
    assert error.field == "extra.security"
    assert str(error) == "extra.security: bad Hint: fix it"


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError("port", "bad", hint="h"),
        ThrottledError("slow", code="432", enhanced_status="4.3.2", retry_after=5.0),
        RecipientsRefusedError("none", refused={"a@b.com": (550, "5.1.1 unknown")}, code="550"),
        SendAsDeniedError("denied", code="550", enhanced_status="5.7.60", hint="grant"),
    ],
)
def test_errors_survive_pickling(error: M365MailError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("535 5.7.139 Authentication unsuccessful", "5.7.139"),
        ("5.7.60 SMTP; Client does not have permissions", "5.7.60"),
        ("Authentication unsuccessful [10.1.2.3]", None),
        ("TLS 1.0 and 1.1 are not supported", None),
        ("451 4.7.500 Server busy", "4.7.500"),
        ("no status at all", None),
        ("3.1.1 is not a class", None),
    ],
)
def test_parse_enhanced_status(text: str, status: str | None) -> None:
    assert parse_enhanced_status(text) == status


def test_smtp_send_as_denied_at_mail_from() -> None:
    error = classify_smtp_reply(550, "5.7.60 SMTP; Client does not have permissions to send as this sender",
                                stage="mail")
    assert isinstance(error, SendAsDeniedError)
    assert (error.code, error.enhanced_status) == ("550", "5.7.60")
    assert "Add-RecipientPermission" in (error.hint or "")
    assert "the sender (MAIL FROM)" in str(error)


def test_smtp_auth_disabled_hint_names_the_powershell_step() -> None:
    error = classify_smtp_reply(
        535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
        stage="auth",
    )
    assert isinstance(error, AuthenticationError)
    assert "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false" in (error.hint or "")


def test_smtp_basic_auth_retired_points_to_oauth() -> None:
    error = classify_smtp_reply(550, "5.7.30 Basic authentication is not supported for Client Submission.",
                                stage="auth")
    assert isinstance(error, AuthenticationError)
    assert "oauth2_app" in (error.hint or "")


def test_smtp_ip_throttling_range_is_throttled() -> None:
    for status in ("4.7.500", "4.7.650", "4.7.699"):
        assert isinstance(classify_smtp_reply(451, f"{status} Access denied, please try again later",
                                              stage="connect"), ThrottledError)
    assert not isinstance(classify_smtp_reply(451, "4.7.700 other", stage="connect"), ThrottledError)


def test_submission_quota_is_throttled_with_a_wait_but_mailbox_full_is_not() -> None:
    quota = classify_smtp_reply(554, "5.2.2 Submission quota exceeded", stage="data")
    assert isinstance(quota, ThrottledError)
    assert quota.retry_after == 60.0
    full = classify_smtp_reply(552, "5.2.2 Mailbox full", stage="rcpt")
    assert type(full) is PermanentSendError


@pytest.mark.parametrize(("code", "cls"), [(421, TransientSendError), (450, TransientSendError),
                                           (554, PermanentSendError), (500, PermanentSendError)])
def test_unknown_smtp_replies_fall_back_on_the_reply_class(code: int, cls: type[M365MailError]) -> None:
    error = classify_smtp_reply(code, "something new", stage="data")
    assert type(error) is cls
    assert error.hint is None


def test_tls_too_old_is_not_retried_even_though_421() -> None:
    error = classify_smtp_reply(421, "4.7.66 TLS 1.0 and 1.1 are not supported.", stage="starttls")
    assert type(error) is PermanentSendError


def test_long_replies_are_shortened() -> None:
    error = classify_smtp_reply(550, "5.1.1 " + "x" * 2000, stage="rcpt")
    assert len(error.message) < 700


def test_unknown_stage_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="stage"):
        classify_smtp_reply(550, "x", stage="helo")


def test_refused_recipients_keep_every_refusal_and_the_first_known_hint() -> None:
    refused = {"x@contoso.com": (550, "5.4.1 Recipient address rejected: Access denied"),
               "y@contoso.com": (550, "5.1.1 not found")}
    error = classify_refused_recipients(refused)
    assert error.refused == refused
    assert error.enhanced_status == "5.4.1"
    assert "direct send" in (error.hint or "")
    assert "x@contoso.com" in str(error)
    assert "y@contoso.com" in str(error)


def test_graph_throttling_carries_retry_after() -> None:
    error = classify_graph_error(429, "ApplicationThrottled", "over limit", retry_after=7.0)
    assert isinstance(error, ThrottledError)
    assert error.retry_after == 7.0
    plain = classify_graph_error(429, None, "Too Many Requests", retry_after=2.0)
    assert isinstance(plain, ThrottledError)
    assert plain.retry_after == 2.0


def test_graph_code_matching_is_case_insensitive() -> None:
    assert isinstance(classify_graph_error(403, "errorsendasdenied", "no"), SendAsDeniedError)


@pytest.mark.parametrize(("status", "cls"), [(500, TransientSendError), (502, TransientSendError),
                                             (401, AuthenticationError), (400, PermanentSendError),
                                             (403, PermanentSendError)])
def test_unknown_graph_errors_fall_back_on_the_status(status: int, cls: type[M365MailError]) -> None:
    error = classify_graph_error(status, "SomethingNew", "new")
    assert type(error) is cls
    assert error.code == "SomethingNew"


def test_aadsts_code_is_parsed_from_the_description() -> None:
    description = (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value.\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2026-01-01"
    )
    error = classify_aadsts("invalid_client", description)
    assert isinstance(error, AuthenticationError)
    assert error.code == "AADSTS7000215"
    assert "Trace ID" not in str(error)
    assert "Value (not its Secret ID)" in (error.hint or "")


def test_aadsts_codes_list_wins_and_unknown_codes_are_authentication_errors() -> None:
    assert classify_aadsts("invalid_grant", "whatever", [50076]).code == "AADSTS50076"
    unknown = classify_aadsts("invalid_request", "AADSTS999999: new", None)
    assert type(unknown) is AuthenticationError
    assert unknown.hint is None


def test_aadsts_service_trouble_is_transient() -> None:
    assert isinstance(classify_aadsts("temporarily_unavailable", "try later"), TransientSendError)
    assert isinstance(classify_aadsts("server_error", None), TransientSendError)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("HTTPSConnectionPool(...) (Caused by ProxyError('Unable to connect to proxy', "
         "OSError('Tunnel connection failed: 407 Proxy Authentication Required')))", "407"),
        ("407 Proxy Authentication Required", "407"),
        ("403 Forbidden", "403"),
        ("SOCKSHTTPSConnection(...): Failed to establish a new connection: 0x04: Host unreachable", "socks-0x04"),
        ("Proxy Server could not connect: Connection not allowed by ruleset.", "socks-0x02"),
        ("Invalid username/password", "socks-auth"),
        ("SOCKS5 authentication failed", "socks-auth"),
        ("Requested authentication method not acceptable", "socks-auth"),
        ("Unable to connect to proxy", "unreachable"),
        ("Error connecting to SOCKS5 proxy 127.0.0.1:1080: [Errno 111] Connection refused", "unreachable"),
        ("[Errno 111] Connection refused", None),
        ("Read timed out.", None),
    ],
)
def test_proxy_failure_code_reads_each_http_clients_wording(text: str, code: str | None) -> None:
    assert errors.proxy_failure_code(text) == code


def test_unknown_proxy_answers_fall_back_on_their_class() -> None:
    assert isinstance(classify_proxy_failure("http://p:1", "502", "Bad Gateway", target="h:25"), TransientSendError)
    assert type(classify_proxy_failure("http://p:1", "400", "Bad Request", target="h:25")) is PermanentSendError
    assert isinstance(classify_proxy_failure("socks5://p:1", "socks-0x07", "?", target="h:25"), TransientSendError)

"""The questions of the interactive ``m365mail setup``, and the loop that asks them until the answers are valid.

Each answer is checked as soon as it is given, by the rules ``MailSettings`` applies to a connection (the answers
so far go through the same path as ``--answers``): a problem that names a field already answered sends the
questionnaire back to that question, with the problem and its fix; a problem with a field not asked yet waits
for its question (where the server is comes before how to sign in, so that a server the rules judge by its
authentication, an IP address with a private CA say, is not refused before its CA is known). Pressing Enter
takes the default shown, which follows from the answers so far; "empty: ..." shows what the rules derive when the
answer is left out (the cloud's host, the mode's port).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_m365mail.cli.setup_cmd import FIELDS, connection_from_answers, settings_of
from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.clouds import CLOUDS, Cloud

Answers = Mapping[str, str]
# Reads one answer: (prompt, secret) -> the text typed
Ask = Callable[[str, bool], str]


def _fixed(value: str) -> Callable[[Answers], str]:
    return lambda answers: value


def _always(answers: Answers) -> bool:
    return True


def _nothing(answers: Answers) -> str:
    return ""


@dataclass(frozen=True)
class Question:
    """One question: the answer's key (a connection field or extra), when it applies, and its default."""

    key: str
    text: str
    applies: Callable[[Answers], bool] = _always
    default: Callable[[Answers], str] = _nothing  # taken on Enter; "" leaves the field to the rules
    derived: Callable[[Answers], str] = _nothing  # what the rules fill in when the field is left out
    secret: bool = False

    def prompt(self, answers: Answers) -> str:
        default, derived = self.default(answers), self.derived(answers)
        shown = f" [{default}]" if default else (f" [empty: {derived}]" if derived else "")
        return f"{self.text}{shown}: "


def _auth(answers: Answers) -> str:
    return answers.get("auth_type", "")


def _oauth(answers: Answers) -> bool:
    return _auth(answers) in (AuthType.OAUTH2_APP.value, AuthType.OAUTH2_DELEGATED.value)


def _smtp(answers: Answers) -> bool:
    return answers.get("transport") == TransportKind.SMTP.value


def _default_auth(answers: Answers) -> str:
    unauthenticated = _smtp(answers) and answers.get("smtp_mode") in (SmtpMode.DIRECT_SEND.value, SmtpMode.RELAY.value)
    return AuthType.NONE.value if unauthenticated else AuthType.OAUTH2_APP.value


def _signs_in_as_mailbox(answers: Answers) -> bool:
    auth = _auth(answers)
    return auth in (AuthType.BASIC.value, AuthType.OAUTH2_DELEGATED.value) or (
        _smtp(answers) and auth == AuthType.OAUTH2_APP.value)


def _cloud(answers: Answers) -> Cloud:
    try:
        return Cloud(answers.get("cloud", Cloud.GLOBAL.value))
    except ValueError:
        return Cloud.GLOBAL


def _host_derived(answers: Answers) -> str:
    endpoints = CLOUDS[_cloud(answers)]
    if not _smtp(answers):
        return endpoints.graph_endpoint if answers.get("transport") == TransportKind.GRAPH.value else ""
    return endpoints.smtp_host if answers.get("smtp_mode") == SmtpMode.SUBMISSION.value else ""


def _token_cache(answers: Answers) -> str:
    return str(Path("~/.m365mail") / f"{answers.get('login') or 'mailbox'}.json")


def _choices(kind: Any) -> str:
    return ", ".join(member.value for member in kind)


QUESTIONS: tuple[Question, ...] = (
    Question("transport", f"Transport ({_choices(TransportKind)})", default=_fixed(TransportKind.SMTP.value)),
    Question("smtp_mode", f"SMTP mode ({_choices(SmtpMode)})", _smtp, default=_fixed(SmtpMode.SUBMISSION.value)),
    Question("cloud", f"Cloud ({_choices(Cloud)})", default=_fixed(Cloud.GLOBAL.value)),
    Question("host", "Server host", derived=_host_derived),
    Question("port", "Server port", _smtp, derived=_fixed("the mode's default")),
    Question("ca_bundle", "CA bundle file for a private CA", derived=_fixed("the system's CA store")),
    Question("auth_type", f"Authentication ({_choices(AuthType)})", default=_default_auth),
    Question("authority_host", "Identity platform host", _oauth,
             derived=lambda a: CLOUDS[_cloud(a)].authority_host),
    Question("tenant_id", "Tenant ID (GUID or domain)", _oauth),
    Question("client_id", "Application (client) ID", _oauth),
    Question("certificate_path", "Certificate file, PEM with its private key (Enter to use a client secret)",
             lambda a: _auth(a) == AuthType.OAUTH2_APP.value),
    Question("client_secret", "Client secret",
             lambda a: _auth(a) == AuthType.OAUTH2_APP.value and not a.get("certificate_path"), secret=True),
    Question("from_email", "Sender address (From)"),
    Question("login", "Mailbox that signs in", _signs_in_as_mailbox, default=lambda a: a.get("from_email", "")),
    Question("password", "Mailbox password", lambda a: _auth(a) == AuthType.BASIC.value, secret=True),
    Question("token_cache_path", "Token cache file (m365mail login signs the mailbox in there)",
             lambda a: _auth(a) == AuthType.OAUTH2_DELEGATED.value, default=_token_cache),
)


def field_of(key: str) -> str:
    """Return the name ``MailSettings`` errors give the answer ``key`` (``host``, or ``extra.tenant_id``)."""
    return key if key in FIELDS else f"extra.{key}"


def validate(answers: Answers) -> MailSettings:
    """Validate the answers as ``--answers`` does; raise ``ConfigurationError`` naming the field and the fix."""
    return settings_of(connection_from_answers(dict(answers)))


def ask_until_valid(ask: Ask, say: Callable[[str], None]) -> tuple[dict[str, str], MailSettings]:
    """Ask every question that applies, going back to any answer the rules refuse; return the answers and the
    settings they make. Raises ``ConfigurationError`` when the rules refuse a field no question sets."""
    answers: dict[str, str] = {}
    asked: set[str] = set()
    position = 0
    while position < len(QUESTIONS):
        question = QUESTIONS[position]
        position += 1
        if not question.applies(answers):
            answers.pop(question.key, None)
            asked.discard(question.key)
            continue
        if question.key in asked:  # answered before a later answer sent the questionnaire back
            continue
        value = ask(question.prompt(answers), question.secret).strip() or question.default(answers)
        if value:
            answers[question.key] = value
        else:
            answers.pop(question.key, None)
        asked.add(question.key)
        problem = _problem(answers)
        redo = _question_for(problem, asked) if problem is not None else None
        if problem is not None and redo is not None:
            say(f"  {problem}")  # the field, the problem and its fix
            asked.discard(QUESTIONS[redo].key)
            position = redo
    return answers, validate(answers)


def _problem(answers: Answers) -> ConfigurationError | None:
    try:
        validate(answers)
    except ConfigurationError as exc:
        return exc
    return None


def _question_for(problem: ConfigurationError, asked: set[str]) -> int | None:
    """Return the position of the answered question the problem names, if any."""
    return next((i for i, q in enumerate(QUESTIONS) if q.key in asked and field_of(q.key) == problem.field), None)

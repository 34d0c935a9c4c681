"""Say what went wrong, whether retrying can help, and what fixes it: one exception tree for the provider.

::

    M365MailError                  .code ("535", "ErrorSendAsDenied", "AADSTS7000215"), .enhanced_status, .hint
    ├── ValidationError            .field; bad input, raised before any network I/O
    │   ├── ConfigurationError     a connection setting is wrong
    │   └── MessageValidationError a message field is wrong
    ├── TransientSendError         .retry_after, .delivery_summary; retrying later can succeed
    │   ├── ThrottledError         a rate or concurrency limit was hit
    │   └── ServerUnreachableError the server could not be reached at all (an alternate server may help)
    │       └── HostNotFoundError  its name does not resolve (most often a typo in the host)
    └── PermanentSendError         retrying the same request fails the same way
        ├── AuthenticationError    credentials, token or consent refused
        ├── SendAsDeniedError      the account may not send as / on behalf of the From address (yet)
        ├── RecipientsRefusedError .refused: address -> (code, reply)
        ├── RecipientsPartlyRefusedError .refused, .accepted: the others did get the message
        └── DailyRecipientLimitError .mailbox, .used, .frees_in: refused before sending (Exchange's 10,000 a day)

Messages and hints never carry secrets: they hold server replies and static advice only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class M365MailError(Exception):
    """Base of every error the provider raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        enhanced_status: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.enhanced_status = enhanced_status
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        tag = " ".join(part for part in (self.code, self.enhanced_status) if part)
        if tag:
            text += f" [{tag}]"
        if self.hint:
            text += f" Hint: {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling (Airflow pickles task failures).
        return (_restore, (type(self), self.args, self.__dict__.copy()))


def _restore(cls: type[M365MailError], args: tuple[Any, ...], state: dict[str, Any]) -> M365MailError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ValidationError(M365MailError):
    """Input is wrong; raised before any network I/O. ``field`` names the offending setting or argument."""

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}", hint=hint)
        self.field = field


class ConfigurationError(ValidationError):
    """A connection setting is wrong or incoherent with another one."""


class MessageValidationError(ValidationError):
    """A message field (address, subject, header, attachment) is wrong."""


class TransientSendError(M365MailError):
    """The server or network failed in a way that retrying later can fix."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        enhanced_status: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, enhanced_status=enhanced_status, hint=hint)
        self.retry_after = retry_after
        self.delivery_summary: str | None = None  # set when this error left messages over: what the send did

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.delivery_summary})" if self.delivery_summary else text


class ThrottledError(TransientSendError):
    """A rate, quota or concurrency limit was hit; wait (``retry_after`` when the server said) and retry."""


class ServerUnreachableError(TransientSendError):
    """No connection to the server could be made (refused, timed out, name not resolved); nothing was sent.

    Unlike other transient errors it says the server itself is out of reach, so sending through the connection's
    alternate server is worth trying.
    """


class HostNotFoundError(ServerUnreachableError):
    """The server's name does not exist in DNS (not a lookup that timed out); nothing was sent.

    Still retried and failed over like any unreachable server, since a record can come back; but something that
    waits for a long time, such as ``SendAsPermissionSensor``, fails at once instead: it is most often a typo.
    """


class PermanentSendError(M365MailError):
    """The server refused for a reason retrying does not change."""


class AuthenticationError(PermanentSendError):
    """Credentials, token, consent or tenant policy refused the sign-in."""


class SendAsDeniedError(PermanentSendError):
    """The authenticated account may not send as (or on behalf of) the From address, or the grant has not
    propagated yet."""


class RecipientsRefusedError(PermanentSendError):
    """The server refused every recipient of a message."""

    def __init__(
        self,
        message: str,
        *,
        refused: Mapping[str, tuple[int, str]],
        code: str | None = None,
        enhanced_status: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, code=code, enhanced_status=enhanced_status, hint=hint)
        self.refused: dict[str, tuple[int, str]] = dict(refused)


class RecipientsPartlyRefusedError(PermanentSendError):
    """The server refused some recipients and accepted the others, who got the message."""

    def __init__(
        self,
        message: str,
        *,
        refused: Mapping[str, tuple[int, str]],
        accepted: Sequence[str],
        code: str | None = None,
        enhanced_status: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, code=code, enhanced_status=enhanced_status, hint=hint)
        self.refused: dict[str, tuple[int, str]] = dict(refused)
        self.accepted: tuple[str, ...] = tuple(accepted)


class DailyRecipientLimitError(PermanentSendError):
    """A send would pass the mailbox's recipients of a rolling day; refused before anything was sent.

    ``used`` is the day's count so far, ``frees_in`` the seconds until enough of it frees up (None: never).
    """

    def __init__(self, message: str, *, mailbox: str, used: int, frees_in: float | None, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.mailbox = mailbox
        self.used = used
        self.frees_in = frees_in

"""Show an SMTP session line by line (``C: ...`` / ``S: ...``), AUTH credentials replaced by ``***``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.transports.base import Transcript

if TYPE_CHECKING:
    import aiosmtplib

# Commands whose arguments are safe to show; anything else sent during AUTH (a 334 continuation) is a credential.
_PLAIN_VERBS = frozenset({"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "VRFY", "HELP"})


def redact_command(args: tuple[bytes, ...]) -> str:
    """Return how a command appears in a transcript: AUTH arguments and AUTH continuations become ``***``."""
    verb = args[0].decode("ascii", "replace").upper() if args else ""
    if verb == "AUTH":
        mechanism = args[1].decode("ascii", "replace") if len(args) > 1 else ""
        return f"AUTH {mechanism} ***".replace("  ", " ")
    if verb not in _PLAIN_VERBS:
        return "***"
    return b" ".join(args).decode("utf-8", "replace")


@functools.cache
def transcribing_client() -> Callable[..., aiosmtplib.SMTP]:
    """Return a factory of ``aiosmtplib.SMTP`` clients that report each command and reply to a transcript."""
    import aiosmtplib

    class TranscribingSMTP(aiosmtplib.SMTP):
        def __init__(self, transcript: Transcript, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.transcript = transcript

        async def execute_command(self, *args: bytes, **kwargs: Any) -> aiosmtplib.SMTPResponse:
            self.transcript(f"C: {redact_command(args)}")
            response = await super().execute_command(*args, **kwargs)
            self.transcript(f"S: {response.code} {response.message}")
            return response

        async def starttls(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
            self.transcript("C: STARTTLS")
            response = await super().starttls(**kwargs)
            self.transcript(f"S: {response.code} {response.message}")
            return response

        async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
            self.transcript(f"C: DATA <message, {len(message)} bytes>")
            try:
                response = await super().data(message, **kwargs)
            except aiosmtplib.SMTPResponseException as exc:
                self.transcript(f"S: {exc.code} {exc.message}")
                raise
            self.transcript(f"S: {response.code} {response.message}")
            return response

    return TranscribingSMTP

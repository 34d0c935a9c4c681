"""Send mail through Azure Communication Services Email's REST API, with httpx.

``POST {endpoint}/emails:send?api-version=2025-09-01`` answers ``202 Accepted`` with an ``Operation-Location``;
the send is only done when polling that URL says ``Succeeded`` (or ``Failed``, with the service's error). Each
message carries an ``Operation-Id`` derived from its Message-ID, so a retry after a lost answer resubmits the
same operation and ACS does not send it twice. A 429 (30 mails a minute by default) becomes ``ThrottledError``
with the ``Retry-After`` ACS named, and the ``Mailer``'s retry policy waits for it.

httpx rather than the ``azure-communication-email`` SDK: the SDK's pipeline retries 429s and sleeps in its poller
on its own schedule, out of reach of the connection's ``retry_budget_s`` and of injected clocks, and brings
azure-core besides; one request and one poll need neither, and httpx already carries Graph and EWS (proxy, CA
bundle, timeouts configured the same way).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.errors import (
    ConfigurationError,
    M365MailError,
    TransientSendError,
    classify_acs_error,
)
from airflow_provider_m365mail.core.settings import AuthType, MailSettings
from airflow_provider_m365mail.core.settings.acs import ACS_API_VERSION, ACS_SCOPE
from airflow_provider_m365mail.core.transports.acs.payload import acs_email_json, check_request_size, encode
from airflow_provider_m365mail.core.transports.acs.signing import hmac_headers
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult
from airflow_provider_m365mail.core.transports.http_errors import error_from_transport, retry_after_seconds
from airflow_provider_m365mail.core.transports.http_session import HttpSession

if TYPE_CHECKING:
    import httpx

    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

_FINAL = ("Succeeded", "Failed", "Canceled")
DEFAULT_POLL_S = 1.0  # when ACS names no Retry-After between polls
MAX_POLLS = 600  # with the default wait, ten minutes: ACS finishes a send within seconds


class AcsTransport(HttpSession):
    """Send messages through one Communication Services resource; ``async with`` keeps one HTTP connection."""

    name = "acs"

    def __init__(
        self,
        settings: MailSettings,
        tokens: TokenSource | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        if not settings.acs_endpoint:
            raise ConfigurationError("extra.acs_endpoint", "the ACS transport needs the resource's endpoint")
        self._settings = settings
        self._tokens = tokens if tokens is not None or not settings.uses_oauth else TokenSource(settings)
        self._sleep = sleep
        self._now = now

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        """Submit one message and poll its operation until ACS says it succeeded; raise what it failed with."""
        if not self.in_session:
            async with self:
                return await self.send(message, identity)
        check_request_size(message)
        body = encode(acs_email_json(message, identity))
        operation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, message.message_id) if message.message_id else uuid.uuid4())
        url = f"{self._settings.acs_endpoint}/emails:send?api-version={ACS_API_VERSION}"
        response = await self._request("POST", url, body, doing="sending the message",
                                       headers={"Operation-Id": operation_id, "Content-Type": "application/json"})
        location = response.headers.get("Operation-Location")
        if response.status_code != 202 or not location:
            raise TransientSendError(f"ACS answered HTTP {response.status_code} without an Operation-Location",
                                     hint="the send may not have been accepted; it is retried with the same id")
        status = await self._final_status(location, retry_after_seconds(response.headers))
        return SendResult(
            message_id=str(status.get("id") or operation_id),
            accepted=tuple(a.email for a in message.recipients()),
            refused={},
            reply=f"operation {status.get('id') or operation_id}: {status.get('status')}",
            transport=self.name,
        )

    async def check(self) -> CheckResult:
        """Sign in and ask for the status of an operation that does not exist: 404 shows the sign-in is accepted."""
        steps = [f"GET {self._settings.acs_endpoint}/emails/operations/... ({self._settings.auth_type.value})"]
        url = f"{self._settings.acs_endpoint}/emails/operations/{uuid.uuid4()}?api-version={ACS_API_VERSION}"
        try:
            async with self:
                response = await self._request("GET", url, b"", doing="checking the connection", allow=(404,))
        except M365MailError as exc:
            return CheckResult(False, tuple(steps), self.name, error=exc)
        steps.append(f"signed in; an unknown operation answered HTTP {response.status_code}")
        return CheckResult(True, tuple(steps), self.name)

    async def _final_status(self, location: str, wait: float | None) -> Mapping[str, Any]:
        for _ in range(MAX_POLLS):
            await self._sleep(DEFAULT_POLL_S if wait is None else wait)
            response = await self._request("GET", location, b"", doing="polling the send operation")
            status = _json(response)
            if status.get("status") in _FINAL:
                if status["status"] != "Succeeded":
                    error = status.get("error") or {}
                    raise classify_acs_error(200, error.get("code") or status["status"],
                                             error.get("message") or f"the operation ended {status['status']}")
                return status
            wait = retry_after_seconds(response.headers)
        raise TransientSendError("ACS did not finish the send operation while it was polled",
                                 hint="it is submitted again with the same Operation-Id, which ACS sends once")

    async def _request(
        self, method: str, url: str, body: bytes, *, doing: str, headers: Mapping[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        sent = {**(headers or {}), **await self._auth_headers(method, url, body)}
        try:
            client = self._http_client(self._settings, urlsplit(url).hostname or "", "Azure Communication Services")
            response = await client.request(
                method, url, content=body or None, headers=sent
            )
        except Exception as exc:
            error = error_from_transport(exc, doing, service="Azure Communication Services", proxy=self._proxy)
            if error is None:
                raise
            raise error from exc
        if response.status_code >= 400 and response.status_code not in allow:
            detail = _json(response).get("error") or {}
            raise classify_acs_error(response.status_code, detail.get("code"),
                                     detail.get("message") or response.reason_phrase,
                                     retry_after=retry_after_seconds(response.headers))
        return response

    async def _auth_headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        s = self._settings
        if s.auth_type is AuthType.ACCESS_KEY:
            assert s.acs_access_key is not None
            return hmac_headers(method, url, body, s.acs_access_key.reveal(), self._now())
        assert self._tokens is not None
        token = await self._tokens.get_token(ACS_SCOPE)
        return {"Authorization": f"Bearer {token.token}"}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

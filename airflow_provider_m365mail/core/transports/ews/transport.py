"""Send mail through Exchange Server's EWS: one ``CreateItem`` per message, carrying the MIME we build for SMTP.

Send As and Send on Behalf work as in Outlook: the From (and Sender) headers of the MIME say who sends, and
Exchange checks the signed-in account's rights on them (``ErrorSendAsDenied``). With ``ews_impersonation`` the
account acts *as* the From mailbox instead (ApplicationImpersonation role). ``save_to_sent_items`` chooses
``SendAndSaveCopy`` or ``SendOnly``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.errors import ConfigurationError, M365MailError, classify_ews_fault
from airflow_provider_m365mail.core.message.outgoing import build_mime
from airflow_provider_m365mail.core.settings import AuthType, MailSettings
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult
from airflow_provider_m365mail.core.transports.ews import soap
from airflow_provider_m365mail.core.transports.ews.ntlm import ntlm_auth
from airflow_provider_m365mail.core.transports.http_errors import error_from_transport
from airflow_provider_m365mail.core.transports.http_session import HttpSession

if TYPE_CHECKING:
    import httpx

    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

_ACTIONS = "http://schemas.microsoft.com/exchange/services/2006/messages/"


class EwsTransport(HttpSession):
    """Send messages through one Exchange Server's EWS; ``async with`` keeps one HTTP connection for a batch."""

    name = "ews"

    def __init__(self, settings: MailSettings, tokens: TokenSource | None = None) -> None:
        if not settings.ews_url:
            raise ConfigurationError("extra.ews_url", "the EWS transport needs the server's EWS URL")
        self._settings = settings
        self._tokens = tokens if tokens is not None or not settings.uses_oauth else TokenSource(settings)

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        """Submit one message with ``CreateItem``; Exchange answers once it has taken it for delivery."""
        if not self.in_session:
            async with self:
                return await self.send(message, identity)
        mime = build_mime(message, identity)
        save = message.save_to_sent_items
        request = soap.create_item(
            mime.as_bytes(),
            [a.email for a in message.bcc],
            save_copy=self._settings.save_to_sent_items if save is None else save,
            impersonate=self._impersonated(identity),
        )
        await self._call("CreateItem", request, doing="sending the message")
        return SendResult(
            message_id=str(mime["Message-ID"]),
            accepted=tuple(a.email for a in message.recipients()),
            refused={},
            reply="CreateItem: NoError",
            transport=self.name,
        )

    async def check(self) -> CheckResult:
        """Sign in and read the Sent Items folder's id (``GetFolder``), sending nothing."""
        steps = [f"POST {self._settings.ews_url} ({self._settings.auth_type.value})"]
        try:
            async with self:
                await self._call("GetFolder", soap.get_folder(), doing="checking the connection")
        except M365MailError as exc:
            return CheckResult(False, tuple(steps), self.name, error=exc)
        steps.append("GetFolder sentitems: NoError")
        return CheckResult(True, tuple(steps), self.name)

    def _impersonated(self, identity: SenderIdentity) -> str | None:
        return identity.from_address.email if self._settings.ews_impersonation else None

    async def _call(self, operation: str, body: bytes, *, doing: str) -> None:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{_ACTIONS}{operation}"'}
        if self._tokens is not None:
            token = await self._tokens.get_token(self._settings.ews_scope)
            headers["Authorization"] = f"Bearer {token.token}"
        try:
            response = await self._http().post(self._settings.ews_url or "", content=body, headers=headers)
        except Exception as exc:
            error = error_from_transport(exc, doing, service="EWS", proxy=self._proxy)
            if error is None:
                raise
            raise error from exc
        fault = soap.read_answer(response.status_code, response.content)
        if fault is not None:
            raise classify_ews_fault(fault.code, fault.message, back_off_s=fault.back_off_s)

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is not None:
            return self._client
        s = self._settings
        password = s.password.reveal() if s.password else ""
        auth: httpx.Auth | None = None
        if s.auth_type is AuthType.NTLM:
            auth = ntlm_auth(s.username or "", password)
        elif s.auth_type is AuthType.BASIC:
            auth = httpx.BasicAuth(s.username or "", password)
        return self._http_client(s, s.host, "EWS", auth)

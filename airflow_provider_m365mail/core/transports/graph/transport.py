"""Send mail through Microsoft Graph with msgraph-sdk: sendMail when the message fits one request, else a draft.

A message whose JSON fits Graph's 4 MB request goes out in one ``POST /users/{mailbox}/sendMail`` (202 Accepted,
``saveToSentItems`` always set explicitly: the SDK would otherwise send false). Larger ones are created as a draft
(``POST /users/{mailbox}/messages``), get their remaining attachments added (small ones by ``POST .../attachments``,
3 MB and up through upload sessions, see ``graph_upload``) and are sent with ``POST .../send``; a draft is always
saved to Sent Items. A draft whose attachments or send fail is deleted again (best effort), so a failed message
leaves nothing in Drafts and a retry starts from a new draft.

The mailbox in the URL is the one acting: with app-only tokens the From address (sending *as* it needs no Send As
grant, only an access policy including it) or, when sending *on behalf*, the Sender; with delegated tokens the
signed-in user (``/me``), ``from`` naming the mailbox sent as or for.

Bearer tokens come from ``TokenSource`` for the cloud's Graph scope through a token provider that refuses to hand
one to any host but the Graph endpoint's. The SDK's retry middleware is switched off: the ``Mailer`` retries
transient failures (honouring Retry-After) with the same Message-ID. Only the draft path retries a step in place
when Graph answers with Retry-After (429, 503), so that a throttled ``send`` does not cost a second 150 MB upload;
a Retry-After beyond the connection's ``retry_budget_s`` is not slept but raised, for the Mailer to leave over.
At most ``MAILBOX_CONCURRENCY`` requests per app and mailbox run at once in a process, Graph's own limit.

HTTP clients live on the event loop that made them (reusing them on another loop duplicated mail): one set per
``async with`` session, rebuilt when the loop changes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_m365mail.core.auth.proxies import proxy_for, socks_support_missing
from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.errors import (
    ConfigurationError,
    M365MailError,
    PermanentSendError,
    TransientSendError,
)
from airflow_provider_m365mail.core.message.outgoing import make_message_id
from airflow_provider_m365mail.core.settings import AuthType, MailSettings
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, Session, log_server_wait
from airflow_provider_m365mail.core.transports.graph.errors import error_from_sdk
from airflow_provider_m365mail.core.transports.graph.payload import (
    GraphPlan,
    attachment_json,
    is_inline,
    message_json,
    plan_graph_send,
    to_graph_json,
    upload_item_json,
)
from airflow_provider_m365mail.core.transports.graph.upload import upload_attachment
from airflow_provider_m365mail.core.transports.http_errors import error_from_transport

if TYPE_CHECKING:
    import httpx
    from kiota_abstractions.authentication import AccessTokenProvider

    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

MAILBOX_CONCURRENCY = 4
STEP_ATTEMPTS = 3  # tries of one draft-path request that Graph throttles

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)
_slots_lock = threading.Lock()


def mailbox_slot(key: str) -> asyncio.Semaphore:
    """Return the running loop's semaphore for one app and mailbox (``MAILBOX_CONCURRENCY`` holders)."""
    loop = asyncio.get_running_loop()
    with _slots_lock:
        per_loop = _slots.setdefault(loop, {})
        return per_loop.setdefault(key, asyncio.Semaphore(MAILBOX_CONCURRENCY))


def acting_mailbox(settings: MailSettings, identity: SenderIdentity) -> str | None:
    """Return the mailbox whose URL sends the message (``/users/{it}``), or None for the signed-in user (``/me``)."""
    if settings.auth_type is AuthType.OAUTH2_DELEGATED:
        return None
    mailbox = (identity.sender or identity.from_address).email
    if "@" not in mailbox:
        raise ConfigurationError(
            "login",
            f"sending on behalf of {identity.from_address.email} over Graph needs a mailbox to send from, "
            f"not {mailbox!r}",
            hint="put the app's client id in extra.client_id and the sending mailbox in login",
        )
    return mailbox


def graph_token_provider(tokens: TokenSource, scope: str, host: str) -> AccessTokenProvider:
    """Return a kiota ``AccessTokenProvider`` giving ``TokenSource`` tokens to requests for ``host`` only.

    Unlike the SDK's own provider, a request to any other host is refused instead of being sent without a token.
    """
    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator

    validator = AllowedHostsValidator([host])

    class GraphTokenProvider(AccessTokenProvider):
        async def get_authorization_token(
            self, uri: str, additional_authentication_context: dict[str, Any] | None = None
        ) -> str:
            if not validator.is_url_host_valid(uri):
                raise PermanentSendError("refusing to send the Graph access token to a host other than the endpoint")
            return (await tokens.get_token(scope)).token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return validator

    return GraphTokenProvider()


@dataclass
class _Session:
    """The HTTP clients of one event loop: the Graph SDK client and a bare transport for upload URLs."""

    loop: asyncio.AbstractEventLoop
    client: Any  # msgraph.GraphServiceClient
    http: httpx.AsyncClient
    uploads: httpx.AsyncHTTPTransport
    proxy: str | None

    async def close(self) -> None:
        try:
            await self.http.aclose()
        finally:
            await self.uploads.aclose()


def _open_session(settings: MailSettings, tokens: TokenSource) -> _Session:
    import httpx
    from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_request_adapter import options as sdk_options
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]

    tls = make_ssl_context(settings)
    host = httpx.URL(settings.graph_endpoint).host
    proxy = proxy_for(settings, host)  # upload URLs are on Graph's host too
    try:
        http = httpx.AsyncClient(verify=tls, proxy=proxy, timeout=httpx.Timeout(settings.timeout), trust_env=False)
        uploads = httpx.AsyncHTTPTransport(verify=tls, proxy=proxy)
    except ImportError:  # socks5 proxies need httpx's optional socksio
        raise socks_support_missing("Microsoft Graph") from None
    options = {**sdk_options, RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False)}
    http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
    auth = BaseBearerTokenAuthenticationProvider(graph_token_provider(tokens, settings.graph_scope, host))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{settings.graph_endpoint}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    return _Session(asyncio.get_running_loop(), client, http, uploads, proxy)


def _model(factory: Any, data: dict[str, Any]) -> Any:
    """Build an SDK model from Graph JSON (the SDK serialises it back to the same JSON)."""
    from kiota_serialization_json.json_parse_node import JsonParseNode

    return JsonParseNode(data).get_object_value(factory)


def _translate(exc: Exception, doing: str, proxy: str | None) -> M365MailError | None:
    return error_from_sdk(exc) or error_from_transport(exc, doing, proxy=proxy)


class GraphTransport(Session):
    """Send messages through Microsoft Graph; ``async with`` keeps one set of HTTP connections for a batch."""

    name = "graph"

    def __init__(self, settings: MailSettings, tokens: TokenSource | None = None) -> None:
        if not settings.uses_oauth:
            raise ConfigurationError(
                "extra.auth_type",
                f"Microsoft Graph needs OAuth2 (oauth2_app or oauth2_delegated), not {settings.auth_type.value}",
            )
        self._settings = settings
        self._tokens = tokens if tokens is not None else TokenSource(settings)
        self._session: _Session | None = None

    async def close(self) -> None:
        """Close the HTTP connections, if any are open on this loop."""
        session, self._session = self._session, None
        if session is not None and session.loop is asyncio.get_running_loop():
            await session.close()

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        """Submit one message; Graph answers 202 Accepted (accepted for delivery, not yet delivered)."""
        plan = plan_graph_send(message, identity)
        mailbox = acting_mailbox(self._settings, identity)
        if message.message_id is None:
            message = replace(message, message_id=make_message_id(uuid.uuid4().hex, identity.from_address.domain))
        async with self, mailbox_slot(self._slot_key(mailbox)):
            user = self._user(mailbox)
            if plan.needs_draft:
                reply = await self._send_draft(user, message, identity, plan)
            else:
                save = message.save_to_sent_items
                if save is None:
                    save = self._settings.save_to_sent_items
                body = to_graph_json(message, identity, save_to_sent_items=save)
                await self._request("sending the message", lambda: user.send_mail.post(self._send_mail_body(body)))
                reply = "202 Accepted"
        assert message.message_id is not None
        return SendResult(
            message_id=message.message_id,
            accepted=tuple(a.email for a in message.recipients()),
            refused={},
            reply=reply,
            transport=self.name,
        )

    async def find_sent(self, message_id: str, identity: SenderIdentity) -> bool | None:
        """Tell whether the sending mailbox's Sent Items hold ``message_id`` (an earlier try sent it).

        Needs Mail.Read or Mail.ReadWrite; without it (403), or on any other failure, return None so the caller
        sends. A message sent with ``save_to_sent_items`` false cannot be found.
        """
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.item.mail_folders.item.messages.messages_request_builder import (
            MessagesRequestBuilder,
        )

        mailbox = acting_mailbox(self._settings, identity)
        escaped = message_id.replace("'", "''")
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            filter=f"internetMessageId eq '{escaped}'", select=["id"], top=1
        )
        async with self, mailbox_slot(self._slot_key(mailbox)):
            folder = self._user(mailbox).mail_folders.by_mail_folder_id("sentitems")
            try:
                found = await self._request(
                    "looking the message up in Sent Items",
                    lambda: folder.messages.get(RequestConfiguration(query_parameters=query)),
                )
            except M365MailError as exc:
                log.info("cannot look %s up in Sent Items, so it is sent: %s", message_id, exc)
                return None
        return bool(found is not None and found.value)

    async def check(self) -> CheckResult:
        """Get a token and probe sendMail with a message without recipients, which Graph refuses; send nothing.

        Graph has no read-only call that needs only ``Mail.Send``; the probe passes token validation, the
        permission and the mailbox's access policy, then stops at ``400 ErrorInvalidRecipients``.
        """
        s = self._settings
        steps: list[str] = []
        try:
            token = await self._tokens.get_token(s.graph_scope)
            steps.append(f"got an access token for {s.graph_scope} (expires in {token.expires_in():.0f} s)")
            mailbox = None if s.auth_type is AuthType.OAUTH2_DELEGATED else self._default_mailbox()
            if mailbox == "":
                steps.append("no mailbox to probe: set from_email (or login) to the sending mailbox")
            else:
                steps.append(await self._probe(mailbox))
        except M365MailError as exc:
            steps.append(f"failed: {exc}")
            return CheckResult(False, tuple(steps), self.name, s.graph_endpoint, error=exc)
        return CheckResult(True, tuple(steps), self.name, s.graph_endpoint)

    # -- internals ---------------------------------------------------------------------------------------------

    def _default_mailbox(self) -> str:
        """Return the connection's sending mailbox for app-only checks, or "" when it names none."""
        s = self._settings
        return s.from_email or (s.username if s.username and "@" in s.username else "")

    async def _probe(self, mailbox: str | None) -> str:
        from kiota_abstractions.api_error import APIError

        where = f"/users/{mailbox}" if mailbox else "/me"
        body = self._send_mail_body({"message": {}, "saveToSentItems": False})
        async with self, mailbox_slot(self._slot_key(mailbox)):
            user = self._user(mailbox)
            try:
                await self._request("probing sendMail", lambda: user.send_mail.post(body))
            except M365MailError as exc:
                cause = exc.__cause__
                if isinstance(cause, APIError) and cause.response_status_code == 400:
                    return f"{where}/sendMail accepted the token and permission (probe refused as expected: {exc.code})"
                raise
        return f"{where}/sendMail accepted the token and permission"

    def _slot_key(self, mailbox: str | None) -> str:
        s = self._settings
        return f"{s.graph_endpoint}|{s.client_id}|{(mailbox or s.username or 'me').casefold()}"

    def _current(self) -> _Session:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.loop is not loop:
            self._session = _open_session(self._settings, self._tokens)
        return self._session

    def _user(self, mailbox: str | None) -> Any:
        client = self._current().client
        return client.me if mailbox is None else client.users.by_user_id(mailbox)

    @staticmethod
    def _send_mail_body(body: dict[str, Any]) -> Any:
        from msgraph.generated.models.message import Message
        from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

        return SendMailPostRequestBody(
            message=_model(Message, body["message"]), save_to_sent_items=body["saveToSentItems"]
        )

    @property
    def _proxy(self) -> str | None:
        return self._session.proxy if self._session is not None else None

    async def _request(self, doing: str, call: Callable[[], Awaitable[T]], *, attempts: int = 1) -> T:
        """Run one Graph request, translating failures; retry throttling in place up to ``attempts`` tries."""
        for attempt in range(1, attempts + 1):
            try:
                return await call()
            except Exception as exc:
                error = _translate(exc, doing, self._proxy)
                if error is None:
                    raise
                wait = error.retry_after if isinstance(error, TransientSendError) else None
                if attempt == attempts or wait is None or wait > self._settings.retry_budget_s:
                    raise error from exc  # the Mailer retries, or leaves the message over past the budget
                log_server_wait(log, f"{doing} again", wait, self._settings.retry_budget_s, error)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _send_draft(self, user: Any, message: OutgoingMessage, identity: SenderIdentity, plan: GraphPlan) -> str:
        from msgraph.generated.models.attachment import Attachment as GraphAttachment
        from msgraph.generated.models.attachment_item import AttachmentItem
        from msgraph.generated.models.message import Message
        from msgraph.generated.users.item.messages.item.attachments.create_upload_session import (
            create_upload_session_post_request_body as upload_body,
        )

        draft_json = message_json(message, identity, attachments=plan.embedded)
        draft = await self._request(
            "creating the draft", lambda: user.messages.post(_model(Message, draft_json)), attempts=STEP_ATTEMPTS
        )
        item = user.messages.by_message_id(draft.id)
        current = self._current()
        resent = 0
        try:
            for attachment in plan.posted:
                body = _model(GraphAttachment, attachment_json(attachment, inline=is_inline(attachment, message)))
                await self._request(f"attaching {attachment.filename!r}", partial(item.attachments.post, body),
                                    attempts=STEP_ATTEMPTS)
            for attachment in plan.uploaded:
                request = upload_body.CreateUploadSessionPostRequestBody(
                    attachment_item=_model(AttachmentItem, upload_item_json(attachment, inline=False))
                )
                session = await self._request(
                    f"opening an upload session for {attachment.filename!r}",
                    partial(item.attachments.create_upload_session.post, request),
                    attempts=STEP_ATTEMPTS,
                )
                resent += await upload_attachment(current.uploads, session.upload_url, attachment,
                                                  timeout=self._settings.timeout,
                                                  max_wait_s=self._settings.retry_budget_s, proxy=current.proxy)
            await self._request("sending the draft", item.send.post, attempts=STEP_ATTEMPTS)
        except Exception:
            await self._discard(item)
            raise
        note = f", {resent} range(s) sent again" if resent else ""
        return f"202 Accepted (draft with {len(plan.uploaded)} uploaded attachment(s){note})"

    async def _discard(self, item: Any) -> None:
        """Delete a draft that was not sent, so that neither Drafts nor a retry's new draft leaves it behind.

        Best effort: the caller is raising the error that matters, so a failure here is only logged. A draft whose
        send did go through before its answer was lost has already left Drafts, and deleting it finds nothing.
        """
        try:
            await item.delete()
        except Exception as exc:
            error = _translate(exc, "deleting the draft", self._proxy)
            log.warning("could not delete the unsent draft: %s", error if error is not None else type(exc).__name__)

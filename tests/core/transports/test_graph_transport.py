"""GraphTransport against the sandbox's Graph (real sockets, TLS): send as / on behalf, upload sessions,
throttling, errors with hints, token reuse, proxies; and the upload streamer against a flaky upload URL."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from connection_settings import settings_for
from tcp_pipe import pipe

from airflow_provider_m365mail.core.auth.tokens import AccessToken, TokenSource
from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageValidationError,
    PermanentSendError,
    SendAsDeniedError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
)
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.graph.errors import error_from_body
from airflow_provider_m365mail.core.transports.graph.transport import GraphTransport, graph_token_provider
from airflow_provider_m365mail.core.transports.graph.upload import upload_attachment
from airflow_provider_m365mail.core.transports.http_errors import retry_after_seconds
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

CLIENT_ID = "11111111-2222-4333-8444-555555555555"
MB = 1024 * 1024


def delegated(sandbox: Sandbox, **extra: Any) -> MailSettings:
    """Alice signed in (password grant) through the sandbox app."""
    return settings_for(
        sandbox, "graph", login="alice@contoso.com", password="Alice-Passw0rd!", auth_type="oauth2_delegated",
        client_secret=sandbox.settings["client_secret"], from_email="alice@contoso.com", **extra,
    )


def note(subject: str = "Nightly report", **kwargs: Any) -> OutgoingMessage:
    kwargs.setdefault("text", "All good.")
    return OutgoingMessage.create(to="bob@contoso.com", subject=subject, **kwargs)


def stats(sandbox: Sandbox) -> dict[str, int]:
    return sandbox.call(lambda: dict(sandbox.state.stats))


def restrict_app(sandbox: Sandbox, *mailboxes: str) -> None:
    """Limit the app's Graph access to some mailboxes (an application access policy)."""
    def change() -> None:
        apps = tuple(replace(a, graph_scope=mailboxes) for a in sandbox.state.tenant.apps)
        sandbox.state.update_tenant(apps=apps)

    sandbox.call(change)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- sending ---------------------------------------------------------------------------------------------------


async def test_send_as_arrives_from_the_mailbox_with_headers_and_auth(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph")
    identity = resolve_identity(settings, from_email="reports@contoso.com", reply_to="help@contoso.com")
    message = note(cc="carol@contoso.com", bcc="dave@contoso.com", importance="high",
                   headers={"X-Run-Id": "run-42"}, message_id="<run-42@contoso.com>")
    result = await GraphTransport(settings).send(message, identity)
    assert (result.transport, result.reply, result.message_id) == ("graph", "202 Accepted", "<run-42@contoso.com>")
    assert result.accepted == ("bob@contoso.com", "carol@contoso.com", "dave@contoso.com")
    (stored,) = m365_sandbox.messages()
    # The sandbox answers 401 to a request without a valid Graph bearer token; the principal comes from it.
    assert (stored.transport, stored.principal, stored.envelope_from) == ("graph", CLIENT_ID, "reports@contoso.com")
    assert sorted(stored.envelope_to) == ["bob@contoso.com", "carol@contoso.com", "dave@contoso.com"]
    mime = m365_sandbox.parsed(stored.id)
    assert mime["From"] == "Contoso Reports <reports@contoso.com>"
    assert mime["Sender"] is None and mime["Bcc"] is None
    assert (mime["Reply-To"], mime["X-Run-Id"], mime["Importance"]) == ("help@contoso.com", "run-42", "high")
    assert mime["Message-ID"] == "<run-42@contoso.com>"


async def test_send_on_behalf_sets_sender_and_from(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph", login="airflow@contoso.com", client_id=CLIENT_ID)
    identity = resolve_identity(settings, on_behalf_of="data-team@contoso.com")
    assert identity.sender == Address("airflow@contoso.com")
    await GraphTransport(settings).send(note(), identity)
    (stored,) = m365_sandbox.messages()
    mime = m365_sandbox.parsed(stored.id)
    assert mime["From"] == "Data Team <data-team@contoso.com>"
    assert mime["Sender"] == "Airflow Service <airflow@contoso.com>"


async def test_on_behalf_with_a_client_id_as_login_is_refused_before_sending(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph", login=m365_sandbox.settings["client_id"])  # not a mailbox
    identity = resolve_identity(settings, on_behalf_of="data-team@contoso.com")
    with pytest.raises(ConfigurationError) as info:
        await GraphTransport(settings).send(note(), identity)
    assert info.value.field == "login"
    assert stats(m365_sandbox).get("graph_requests", 0) == 0


async def test_delegated_user_sends_through_me(m365_sandbox: Sandbox) -> None:
    settings = delegated(m365_sandbox)
    await GraphTransport(settings).send(note(), resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert (stored.principal, stored.envelope_from) == ("alice@contoso.com", "alice@contoso.com")


async def test_inline_image_and_attachment_arrive_in_one_send_mail(m365_sandbox: Sandbox) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
    message = note(html='<p><img src="cid:chart"></p>', attachments=[
        Attachment("chart.png", content=png, content_id="chart"), Attachment("data.csv", content=b"a,b\n1,2\n")])
    settings = settings_for(m365_sandbox, "graph")
    await GraphTransport(settings).send(message, resolve_identity(settings))
    assert stats(m365_sandbox)["graph_requests"] == 1
    mime = m365_sandbox.parsed(m365_sandbox.messages()[0].id)
    parts = {p.get_filename(): p for p in mime.walk() if p.get_filename()}
    assert parts["chart.png"]["Content-ID"] == "<chart>" and parts["chart.png"].get_payload(decode=True) == png
    assert parts["data.csv"].get_payload(decode=True) == b"a,b\n1,2\n"


# -- large attachments -----------------------------------------------------------------------------------------


async def test_20_mb_attachment_goes_through_an_upload_session_byte_identical(
    m365_sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data = os.urandom(20 * MB)
    path = tmp_path / "extract.bin"
    path.write_bytes(data)
    settings = settings_for(m365_sandbox, "graph")
    result = await GraphTransport(settings).send(note(attachments=[path]), resolve_identity(settings))
    assert "draft with 1 uploaded attachment" in result.reply
    (stored,) = m365_sandbox.messages()
    (part,) = [p for p in m365_sandbox.parsed(stored.id).walk() if p.get_filename() == "extract.bin"]
    assert digest(part.get_payload(decode=True)) == digest(data)
    # draft, upload session, send: the ranges went to the upload URL (which refuses an Authorization header)
    assert stats(m365_sandbox)["graph_requests"] == 3
    assert "tempauth" not in caplog.text  # the upload URL is a credential


async def test_small_attachments_over_4_mb_in_total_are_added_to_a_draft(m365_sandbox: Sandbox) -> None:
    blobs = {f"part{i}.bin": os.urandom(MB) for i in range(5)}
    message = note(attachments=[Attachment(name, content=data) for name, data in blobs.items()])
    settings = settings_for(m365_sandbox, "graph")
    await GraphTransport(settings).send(message, resolve_identity(settings))
    mime = m365_sandbox.parsed(m365_sandbox.messages()[0].id)
    received = {p.get_filename(): p.get_payload(decode=True) for p in mime.walk() if p.get_filename()}
    assert received == blobs
    assert stats(m365_sandbox)["graph_requests"] == 5  # draft with two embedded, three posted, send


# -- throttling and retries ------------------------------------------------------------------------------------


async def test_429_with_retry_after_is_retried_once_after_the_wait(m365_sandbox: Sandbox) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(
        Fault(target="graph", kind="reply", code=429, retry_after_s=1, count=1)))
    settings = settings_for(m365_sandbox, "graph")
    started = time.monotonic()
    (result,) = await Mailer(settings, transport=GraphTransport(settings)).send(note(), resolve_identity(settings))
    assert time.monotonic() - started >= 1.0
    (stored,) = m365_sandbox.messages()
    assert stored.message_id == result.message_id
    assert (stats(m365_sandbox)["faults_fired"], stats(m365_sandbox)["graph_requests"]) == (1, 2)


async def test_the_sdk_does_not_retry_behind_our_back(m365_sandbox: Sandbox) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(
        Fault(target="graph", kind="reply", code=503, retry_after_s=0, count=5)))
    settings = settings_for(m365_sandbox, "graph")
    with pytest.raises(TransientSendError) as info:
        await GraphTransport(settings).send(note(), resolve_identity(settings))
    assert (info.value.code, info.value.retry_after) == ("ServiceNotAvailable", 0.0)
    assert stats(m365_sandbox)["graph_requests"] == 1


async def test_a_throttled_draft_step_is_retried_in_place(m365_sandbox: Sandbox) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(
        Fault(target="graph", kind="reply", code=429, retry_after_s=1, count=1)))
    settings = settings_for(m365_sandbox, "graph")
    started = time.monotonic()
    big = Attachment("big.bin", content=os.urandom(4 * MB))
    await GraphTransport(settings).send(note(attachments=[big]), resolve_identity(settings))
    assert time.monotonic() - started >= 1.0
    assert len(m365_sandbox.messages()) == 1
    assert stats(m365_sandbox)["graph_requests"] == 4  # draft (throttled, then created), upload session, send


async def test_a_draft_step_throttled_beyond_the_retry_budget_is_not_slept_through(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Retry-After: 3600 on creating the draft: the transport raises at once for the Mailer to leave it over
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(
        Fault(target="graph", kind="reply", code=429, retry_after_s=3600, count=1)))
    settings = settings_for(m365_sandbox, "graph", retry_budget_s=60)
    big = Attachment("big.bin", content=os.urandom(4 * MB))
    with pytest.raises(ThrottledError) as caught:
        await GraphTransport(settings).send(note(attachments=[big]), resolve_identity(settings))
    assert caught.value.retry_after == 3600
    assert stats(m365_sandbox)["graph_requests"] == 1 and m365_sandbox.messages() == []
    assert "retrying in 3600" not in caplog.text


async def test_concurrent_sends_stay_within_four_requests_per_mailbox(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph")
    message = note(attachments=[Attachment("a.bin", content=os.urandom(MB))])
    transport = GraphTransport(settings)
    async with transport:
        results = await asyncio.gather(*(transport.send(message, resolve_identity(settings)) for _ in range(8)))
    assert len(results) == len(m365_sandbox.messages()) == 8
    assert stats(m365_sandbox).get("throttled", 0) == 0


# -- refusals --------------------------------------------------------------------------------------------------


async def test_delegated_send_as_without_a_grant_is_send_as_denied_with_the_fix(m365_sandbox: Sandbox) -> None:
    settings = delegated(m365_sandbox, allowed_senders="reports@contoso.com")
    identity = resolve_identity(settings, from_email="reports@contoso.com")
    with pytest.raises(SendAsDeniedError) as info:
        await GraphTransport(settings).send(note(), identity)
    assert info.value.code == "ErrorSendAsDenied"
    assert info.value.hint is not None and "Add-RecipientPermission" in info.value.hint
    assert m365_sandbox.messages() == []
    assert stats(m365_sandbox)["graph_requests"] == 1


async def test_a_mailbox_outside_the_apps_access_policy_is_refused_with_the_fix(m365_sandbox: Sandbox) -> None:
    restrict_app(m365_sandbox, "airflow@contoso.com")
    settings = settings_for(m365_sandbox, "graph")
    with pytest.raises(SendAsDeniedError) as info:
        await GraphTransport(settings).send(note(), resolve_identity(settings, from_email="reports@contoso.com"))
    assert info.value.code == "ErrorAccessDenied"
    assert info.value.hint is not None and "ApplicationAccessPolicy" in info.value.hint
    assert m365_sandbox.messages() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"headers": {"Auto-Submitted": "auto-generated"}}, "headers[Auto-Submitted]"),
        ({"headers": {f"X-H{i}": "v" * 1000 for i in range(6)}}, "headers"),
        ({"html": "<img src='cid:big'>", "inline": 3 * MB}, "attachments"),
        ({"attachment": 150 * MB + 1}, "attachments"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    m365_sandbox: Sandbox, tmp_path: Path, kwargs: dict[str, Any], field: str
) -> None:
    if "inline" in kwargs:
        path = tmp_path / "big.png"
        with path.open("wb") as handle:
            handle.truncate(kwargs.pop("inline"))
        kwargs["attachments"] = [Attachment.from_path(path, content_id="big")]
    if "attachment" in kwargs:
        path = tmp_path / "huge.bin"
        with path.open("wb") as handle:
            handle.truncate(kwargs.pop("attachment"))
        kwargs["attachments"] = [path]
    settings = settings_for(m365_sandbox, "graph")
    with pytest.raises(MessageValidationError) as info:
        await GraphTransport(settings).send(note(**kwargs), resolve_identity(settings))
    assert info.value.field == field
    assert stats(m365_sandbox).get("graph_requests", 0) == 0
    assert stats(m365_sandbox).get("token_requests", 0) == 0


def test_an_unknown_cloud_is_refused_naming_the_field(m365_sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError) as info:
        settings_for(m365_sandbox, "graph", cloud="mars")
    assert info.value.field == "extra.cloud"
    assert stats(m365_sandbox).get("graph_requests", 0) == 0


# -- tokens, sessions, checks ----------------------------------------------------------------------------------


async def test_one_token_serves_many_sends(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph")
    transport = GraphTransport(settings)
    async with transport:
        for i in range(3):
            await transport.send(note(f"report {i}"), resolve_identity(settings))
    await transport.send(note("after the session"), resolve_identity(settings))
    assert len(m365_sandbox.messages()) == 4
    assert stats(m365_sandbox)["token_requests"] == 1


async def test_the_token_is_never_handed_to_another_host(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph")
    provider = graph_token_provider(TokenSource(settings), settings.graph_scope, "127.0.0.1")
    with pytest.raises(PermanentSendError, match="other than the endpoint"):
        await provider.get_authorization_token("https://attacker.example.com/v1.0/users/x/sendMail")
    assert stats(m365_sandbox).get("token_requests", 0) == 0


async def test_a_wrong_client_secret_fails_with_the_aadsts_code_and_sends_nothing(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph", password="not-the-secret")
    with pytest.raises(AuthenticationError) as info:
        await GraphTransport(settings).send(note(), resolve_identity(settings))
    assert info.value.code == "AADSTS7000215"
    assert "not-the-secret" not in str(info.value)
    assert stats(m365_sandbox).get("graph_requests", 0) == 0


async def test_save_to_sent_items_follows_the_connection(m365_sandbox: Sandbox) -> None:
    async def in_sent_items(settings: MailSettings, message_id: str) -> bool:
        token = await TokenSource(settings).get_token(settings.graph_scope)
        query = {"$filter": f"internetMessageId eq '{message_id}'"}
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=settings.ca_bundle)) as client:
            response = await client.get(f"{settings.graph_endpoint}/v1.0/users/airflow@contoso.com/mailFolders/"
                                        "sentitems/messages", params=query,
                                        headers={"Authorization": f"Bearer {token.token}"})
        response.raise_for_status()
        return bool(response.json()["value"])

    for save in (True, False):
        settings = settings_for(m365_sandbox, "graph", save_to_sent_items=str(save).lower())
        result = await GraphTransport(settings).send(note(), resolve_identity(settings))
        assert await in_sent_items(settings, result.message_id) is save
        # A message's own choice wins over the connection's.
        overridden = replace(note(), save_to_sent_items=not save)
        result = await GraphTransport(settings).send(overridden, resolve_identity(settings))
        assert await in_sent_items(settings, result.message_id) is (not save)


async def test_check_gets_a_token_and_probes_without_sending(m365_sandbox: Sandbox) -> None:
    result = await GraphTransport(settings_for(m365_sandbox, "graph")).check()
    assert result.ok, result.steps
    assert "ErrorInvalidRecipients" in result.steps[-1]
    assert m365_sandbox.messages() == []


async def test_check_reports_a_mailbox_outside_the_access_policy(m365_sandbox: Sandbox) -> None:
    restrict_app(m365_sandbox, "reports@contoso.com")
    result = await GraphTransport(settings_for(m365_sandbox, "graph")).check()
    assert not result.ok
    assert isinstance(result.error, SendAsDeniedError) and result.error.code == "ErrorAccessDenied"


class FixedTokens(TokenSource):
    """A token source that needs no identity provider (for failures that happen before Graph reads it)."""

    def __init__(self) -> None:
        pass

    async def get_token(self, scope: str) -> AccessToken:
        return AccessToken("not-a-real-token", time.time() + 3600)


async def test_an_untrusted_certificate_is_permanent_with_a_ca_bundle_hint(m365_sandbox: Sandbox) -> None:
    settings = replace(settings_for(m365_sandbox, "graph"), ca_bundle=None)
    with pytest.raises(PermanentSendError) as info:
        await GraphTransport(settings, tokens=FixedTokens()).send(note(), resolve_identity(settings))
    assert info.value.hint is not None and "ca_bundle" in info.value.hint


@dataclass
class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that records the tunnels it opened."""

    port: int = 0
    tunnels: list[str] = field(default_factory=list)


@pytest.fixture
async def connect_proxy() -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode("ascii").split(" ")
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        proxy.tunnels.append(target)
        host, _, port = target.rpartition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    yield proxy
    server.close()


async def test_token_and_graph_requests_go_through_the_proxy(
    m365_sandbox: Sandbox, connect_proxy: ConnectProxy
) -> None:
    settings = settings_for(m365_sandbox, "graph", proxy=f"http://127.0.0.1:{connect_proxy.port}")
    big = Attachment("big.bin", content=os.urandom(4 * MB))
    await GraphTransport(settings).send(note(attachments=[big]), resolve_identity(settings))
    assert len(m365_sandbox.messages()) == 1
    sandbox_host = m365_sandbox.settings["authority_host"]
    assert connect_proxy.tunnels and set(connect_proxy.tunnels) == {sandbox_host}
    assert len(connect_proxy.tunnels) >= 3  # MSAL (discovery + token), the Graph client, the upload transport


# -- Graph errors ----------------------------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    wait = retry_after_seconds({"Retry-After": later})
    assert wait is not None and 25 <= wait <= 30
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds(None) is None


def test_graph_error_bodies_become_typed_errors_with_retry_after() -> None:
    throttled = error_from_body(429, {"error": {"code": "ApplicationThrottled", "message": "slow down"}},
                                {"Retry-After": "3"})
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 3.0
    denied = error_from_body(403, {"error": {"code": "ErrorSendAsDenied", "message": "no"}}, None)
    assert isinstance(denied, SendAsDeniedError)
    unreadable = error_from_body(502, "<html>bad gateway</html>", None)
    assert isinstance(unreadable, TransientSendError) and unreadable.code == "502"


# -- the upload streamer against a flaky upload URL ------------------------------------------------------------


@dataclass
class UploadUrl:
    """An upload URL that stores ranges in order and can fail chosen ranges once."""

    size: int
    received: bytearray = field(default_factory=bytearray)
    puts: list[str] = field(default_factory=list)
    authorization_seen: bool = False
    fail_once: dict[int, str] = field(default_factory=dict)  # range start -> "503" | "lost-answer" | "404"
    base: str = ""

    async def put(self, request: web.Request) -> web.Response:
        self.authorization_seen |= "Authorization" in request.headers
        first, _, rest = request.headers["Content-Range"].removeprefix("bytes ").partition("-")
        last = int(rest.partition("/")[0])
        self.puts.append(f"{first}-{last}")
        body = await request.read()
        failure = self.fail_once.pop(int(first), None)
        if failure == "503":
            return web.json_response({"error": {"code": "ServiceNotAvailable", "message": "retry"}}, status=503,
                                     headers={"Retry-After": "0"})
        if failure == "404":
            return web.json_response({"error": {"code": "ErrorItemNotFound", "message": "expired"}}, status=404)
        if int(first) != len(self.received):
            return web.json_response({"error": {"code": "InvalidRange", "message": "no"}}, status=416)
        self.received += body
        if failure == "lost-answer":  # stored, but the answer never reaches the client
            return web.json_response({"error": {"code": "GatewayTimeout", "message": "lost"}}, status=504)
        if len(self.received) == self.size:
            return web.Response(status=201)
        return web.json_response({"nextExpectedRanges": [f"{len(self.received)}-"]})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"nextExpectedRanges": [f"{len(self.received)}-"]})


@pytest.fixture
async def upload_url() -> AsyncIterator[UploadUrl]:
    state = UploadUrl(size=0)
    app = web.Application(client_max_size=8 * MB)
    app.router.add_put("/upload", state.put)
    app.router.add_get("/upload", state.status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.base = f"http://127.0.0.1:{port}/upload?tempauth=secret"
    yield state
    await runner.cleanup()


async def _upload(state: UploadUrl, data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    state.size = len(data)
    async with httpx.AsyncHTTPTransport() as transport:
        return await upload_attachment(transport, state.base, Attachment.from_path(path), timeout=5,
                                       chunk_bytes=320 * 1024)


async def test_upload_sends_320_kib_ranges_without_authorization(upload_url: UploadUrl, tmp_path: Path) -> None:
    data = os.urandom(MB + 1000)
    assert await _upload(upload_url, data, tmp_path) == 0
    assert bytes(upload_url.received) == data
    assert upload_url.puts == ["0-327679", "327680-655359", "655360-983039", f"983040-{MB + 999}"]
    assert not upload_url.authorization_seen


async def test_a_failed_range_is_sent_again(upload_url: UploadUrl, tmp_path: Path) -> None:
    upload_url.fail_once = {327680: "503"}
    data = os.urandom(MB)
    assert await _upload(upload_url, data, tmp_path) == 1
    assert bytes(upload_url.received) == data
    assert upload_url.puts.count("327680-655359") == 2


async def test_upload_resumes_where_the_server_says(upload_url: UploadUrl, tmp_path: Path) -> None:
    upload_url.fail_once = {327680: "lost-answer"}
    data = os.urandom(MB)
    assert await _upload(upload_url, data, tmp_path) == 1
    assert bytes(upload_url.received) == data
    assert upload_url.puts.count("327680-655359") == 1  # the status said it had arrived


async def test_an_expired_upload_session_fails_at_once(upload_url: UploadUrl, tmp_path: Path) -> None:
    upload_url.fail_once = {0: "404"}
    with pytest.raises(PermanentSendError) as info:
        await _upload(upload_url, os.urandom(MB), tmp_path)
    assert info.value.code == "ErrorItemNotFound"
    assert "secret" not in str(info.value)
    assert upload_url.puts == ["0-327679"]


async def test_an_upload_through_an_unreachable_proxy_names_the_proxy(
    upload_url: UploadUrl, tmp_path: Path, free_port: int
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(1000))
    proxy = f"http://u:upload-px@127.0.0.1:{free_port}"
    async with httpx.AsyncHTTPTransport(proxy=proxy) as transport:
        with pytest.raises(ServerUnreachableError) as caught:
            await upload_attachment(transport, upload_url.base, Attachment.from_path(path), timeout=5, max_failures=1,
                                    proxy=proxy)
    assert caught.value.code == "unreachable"
    assert f"127.0.0.1:{free_port}" in str(caught.value)
    assert "upload-px" not in str(caught.value)
    assert upload_url.puts == []


async def test_utf8_and_idn_recipients_reach_graph_as_they_are(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "graph")
    message = OutgoingMessage.create(to="Jörg <jörg@bücher.de>", cc="anna@bücher.de", subject="Grüße", text="Hallo")
    result = await GraphTransport(settings).send(message, resolve_identity(settings))
    assert result.accepted == ("jörg@bücher.de", "anna@xn--bcher-kva.de")
    (stored,) = m365_sandbox.messages()
    assert sorted(stored.envelope_to) == ["anna@xn--bcher-kva.de", "jörg@bücher.de"]

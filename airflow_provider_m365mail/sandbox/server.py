"""Run the sandbox: the SMTP listeners and the HTTPS endpoints on loopback, and describe them in settings.json.

``Sandbox`` runs on the caller's event loop (``await start()``) or on its own loop in a daemon thread
(``start_in_thread()``, what the pytest plugin and the CLI use). A throwaway CA signs the server certificate; both
stay in the state folder across restarts (``certificates``), its certificate in ``state_dir/ca.pem`` for clients
to trust. Once everything listens,
``state_dir/settings.json`` says where, with ready-made Airflow connections.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import ssl
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import trustme
from aiohttp import web

from .acs import OPERATIONS as ACS_OPERATIONS
from .certificates import CA_CERT, load_or_create
from .config import TenantConfig, default_tenant
from .graph_access import GRAPH_STORE
from .settings_file import describe
from .smtp import LISTENERS, Listener, SmtpShared, protocol_factory
from .state import SandboxState, StoredMessage
from .web import build_app

T = TypeVar("T")
_WAIT_S = 30.0
# The sandbox's modules log a failure while answering a request here, with the exception attached.
_SANDBOX_LOGGER = logging.getLogger(__package__)


class SandboxError(RuntimeError):
    """The sandbox server failed while handling a request (a bug in the emulator, not a client error)."""


class Sandbox:
    """The emulated Microsoft 365 tenant's servers, bound to ``host`` (loopback) on the given ports (0: any)."""

    def __init__(
        self,
        state_dir: Path,
        tenant: TenantConfig | None = None,
        *,
        host: str = "127.0.0.1",
        smtp_port: int = 0,
        ssl_port: int = 0,
        direct_send_port: int = 0,
        relay_port: int = 0,
        http_port: int = 0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.tenant = tenant or default_tenant()
        self.host = host
        self.state = SandboxState(self.tenant, self.state_dir)
        self.ca_file = self.state_dir / CA_CERT
        self.settings_file = self.state_dir / "settings.json"
        self.settings: dict[str, Any] = {}
        self.ca: trustme.CA | None = None  # signs client certificates for the relay connector, too
        self._requested: dict[Listener, int] = {
            "submission": smtp_port,
            "ssl": ssl_port,
            "direct_send": direct_send_port,
            "relay": relay_port,
            "hve": 0,
            "acs_smtp": 0,
        }
        self._http_port = http_port
        self._servers: list[asyncio.Server] = []
        self._runner: web.AppRunner | None = None
        self._smtp: SmtpShared | None = None
        self._errors: list[BaseException] = []
        self._error_capture: _ErrorCapture | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- running on the caller's loop ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every port, then write ``settings.json`` (atomically: readers never see half a file)."""
        loop = asyncio.get_running_loop()
        certificates = load_or_create(self.state_dir, self.host)
        self.ca = certificates.ca
        tls = _server_context()
        certificates.configure_server(tls)
        relay_tls = _server_context()
        certificates.configure_server(relay_tls)
        self.ca.configure_trust(relay_tls)
        relay_tls.verify_mode = ssl.CERT_OPTIONAL
        self._smtp = SmtpShared(self.state, tls, relay_tls)
        self._error_capture = _ErrorCapture(self._errors, threading.get_ident())
        _SANDBOX_LOGGER.addHandler(self._error_capture)
        try:
            smtp_ports: dict[Listener, int] = {}
            for listener in LISTENERS:
                server = await loop.create_server(
                    protocol_factory(listener, self._smtp),
                    self.host,
                    self._requested[listener],
                    ssl=tls if listener == "ssl" else None,
                )
                self._servers.append(server)
                smtp_ports[listener] = server.sockets[0].getsockname()[1]
            http_port = await self._start_http(tls)
        except BaseException:
            await self.stop()
            raise
        self.settings = describe(self.tenant, self.host, self.ca_file, smtp_ports, http_port)
        temporary = self.settings_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.settings, indent=2), encoding="utf-8")
        os.replace(temporary, self.settings_file)

    async def stop(self) -> None:
        """Close every listener and connection and remove ``settings.json`` (the sandbox no longer answers)."""
        for server in self._servers:
            server.close()
        if self._smtp is not None:
            for connection in list(self._smtp.connections):
                connection.drop()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.settings_file.unlink(missing_ok=True)
        if self._error_capture is not None:
            _SANDBOX_LOGGER.removeHandler(self._error_capture)
            self._error_capture = None

    async def _start_http(self, tls: ssl.SSLContext) -> int:
        self._runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self._http_port, ssl_context=tls).start()
        port: int = self._runner.addresses[0][1]
        return port

    # -- running in a thread ---------------------------------------------------------------------------------

    def start_in_thread(self) -> Sandbox:
        """Start on a private event loop in a daemon thread; return once listening, or raise why not."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="m365mail-sandbox", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(_WAIT_S)
        except BaseException:
            self._end_thread()
            raise
        return self

    def stop_thread(self) -> None:
        """Stop the servers and the thread started by ``start_in_thread``."""
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(_WAIT_S)
        finally:
            self._end_thread()

    def _end_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start_in_thread()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_thread()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the sandbox's loop and return its result (state is only touched from that loop)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or threading.current_thread() is thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(_WAIT_S)

    # -- conveniences for tests and users --------------------------------------------------------------------

    def client_context(self) -> ssl.SSLContext:
        """Return a client TLS context that verifies the sandbox's certificates (against ``ca_file``)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def messages(self) -> list[StoredMessage]:
        """Return every accepted message, oldest first."""
        return self.call(self.state.messages)

    def raw(self, message_id: str) -> bytes:
        """Return the raw MIME of an accepted message."""
        return self.call(lambda: self.state.raw(message_id))

    def parsed(self, message_id: str) -> EmailMessage:
        """Return an accepted message parsed with ``email.policy.default``."""
        return message_from_bytes(self.raw(message_id), policy=policy.default)

    def reset(self, tenant: TenantConfig | None = None) -> None:
        """Forget messages, faults, counters, server errors, admin-API grants, Graph drafts and ACS operations;
        restore the tenant."""
        self._errors.clear()

        def forget() -> None:
            self.state.reset(tenant or self.tenant)
            if self._runner is not None:
                self._runner.app[GRAPH_STORE].clear()
                self._runner.app[ACS_OPERATIONS].clear()

        self.call(forget)

    def raise_server_errors(self) -> None:
        """Raise ``SandboxError`` (caused by the first one) if handling any request failed inside the sandbox."""
        errors = list(self._errors)
        self._errors.clear()
        if errors:
            raise SandboxError(f"{len(errors)} error(s) inside the sandbox; the first: {errors[0]!r}") from errors[0]



class _ErrorCapture(logging.Handler):
    """Collect the exceptions the sandbox's modules log from one sandbox's loop thread."""

    def __init__(self, sink: list[BaseException], thread_id: int) -> None:
        super().__init__(logging.ERROR)
        self._sink = sink
        self._thread_id = thread_id

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None and record.thread == self._thread_id:
            self._sink.append(record.exc_info[1])


def _server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # Exchange Online refuses TLS 1.0 and 1.1
    return context

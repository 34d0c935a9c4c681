"""Upload one attachment into a Graph upload session: byte ranges streamed from disk, resumed after failures.

``createUploadSession`` answers with an ``uploadUrl`` that carries its own credential. Each ``PUT`` sends one
range (``Content-Range: bytes a-b/total``) whose length is a multiple of 320 KiB (except the last) and under
4 MB, without an Authorization header. Only the range being sent is in memory, read from the file just before.

A failed range (network error, 429 or 5xx, or 416 when client and server disagree on the offset) is retried after
``Retry-After`` or a short backoff, from where the session's status (``GET uploadUrl`` -> ``nextExpectedRanges``)
says the server stands; if the status cannot be read, the same range is sent again. ``MAX_FAILURES`` failures in
a row end the upload with the last error, and so does a Retry-After beyond ``max_wait_s`` (the retry budget): the
upload does not sleep through it.

msgraph-core's ``LargeFileUploadTask`` is not used: it sends the bearer token to the upload URL whenever the URL's
host is an allowed Graph host, its 5 MB default chunk is not a multiple of 320 KiB, and it logs and skips a failed
chunk instead of retrying it. Requests go to an httpx *transport* rather than an ``httpx.AsyncClient``, because
the client logs every request URL at INFO level and this URL is a credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_m365mail.core.errors import M365MailError, TransientSendError
from airflow_provider_m365mail.core.transports.base import log_server_wait
from airflow_provider_m365mail.core.transports.graph.errors import error_from_response
from airflow_provider_m365mail.core.transports.http_errors import error_from_transport

if TYPE_CHECKING:
    import httpx

    from airflow_provider_m365mail.core.message.outgoing import Attachment

log = logging.getLogger(__name__)

CHUNK_BYTES = 10 * 320 * 1024  # 3.125 MiB: a multiple of 320 KiB, under Graph's 4 MB per request
MAX_FAILURES = 5
_MAX_BACKOFF_S = 30.0

ReadRange = Callable[[int, int], Awaitable[bytes]]


@asynccontextmanager
async def _ranges_of(attachment: Attachment) -> AsyncIterator[ReadRange]:
    """Yield a reader of ``(offset, length)`` ranges of the attachment; files are read one range at a time."""
    if attachment.content is not None:
        content = attachment.content

        async def from_memory(offset: int, length: int) -> bytes:
            return content[offset : offset + length]

        yield from_memory
        return
    file = await asyncio.to_thread(attachment.open)
    try:

        def read_at(handle: BinaryIO, offset: int, length: int) -> bytes:
            handle.seek(offset)
            return handle.read(length)

        async def from_file(offset: int, length: int) -> bytes:
            return await asyncio.to_thread(read_at, file, offset, length)

        yield from_file
    finally:
        await asyncio.to_thread(file.close)


async def _request(
    transport: httpx.AsyncBaseTransport,
    method: str,
    url: str,
    *,
    timeout: float,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    import httpx

    request = httpx.Request(
        method, url, content=content, headers=headers, extensions={"timeout": httpx.Timeout(timeout).as_dict()}
    )
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


def _range_start(ranges: Any, size: int) -> int | None:
    """Return where ``nextExpectedRanges`` (e.g. ``["3276800-"]``) says the next range starts."""
    if ranges == []:
        return size
    if not isinstance(ranges, list):
        return None
    start = str(ranges[0]).partition("-")[0].strip()
    return int(start) if start.isdigit() and int(start) <= size else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def _server_offset(
    transport: httpx.AsyncBaseTransport, url: str, size: int, *, timeout: float, proxy: str | None
) -> int | None:
    """Ask the upload session where to resume; None when it cannot say."""
    try:
        response = await _request(transport, "GET", url, timeout=timeout)
    except Exception as exc:  # a status probe that fails only means resending the same range
        if error_from_transport(exc, "reading the upload status", proxy=proxy) is None:
            raise
        return None
    body = _json(response)
    if response.status_code != 200 or not isinstance(body, dict):
        return None
    return _range_start(body.get("nextExpectedRanges"), size)


def _accepted(response: httpx.Response, end: int, size: int) -> int | None:
    """Return the next offset after a range the server took, or None when it refused the range."""
    if response.status_code == 201:
        return size
    if response.status_code not in (200, 202):
        return None
    body = _json(response)
    start = _range_start(body.get("nextExpectedRanges"), size) if isinstance(body, dict) else None
    return end if start is None else start


def _backoff(error: M365MailError, failures: int) -> float:
    if isinstance(error, TransientSendError) and error.retry_after is not None:
        return error.retry_after
    return float(min(_MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1)))


async def upload_attachment(
    transport: httpx.AsyncBaseTransport,
    upload_url: str,
    attachment: Attachment,
    *,
    timeout: float,
    chunk_bytes: int = CHUNK_BYTES,
    max_failures: int = MAX_FAILURES,
    max_wait_s: float = _MAX_BACKOFF_S,
    proxy: str | None = None,
) -> int:
    """Send the attachment to ``upload_url`` range by range; return how many ranges had to be sent again.

    Raise the classified error once a range fails ``max_failures`` times in a row, at once when the server
    refuses for good (an expired session, a rejected attachment), or when it asks for a wait beyond
    ``max_wait_s`` (the connection's retry budget): that wait is the Mailer's to schedule, not this upload's.
    ``proxy`` is the proxy ``transport`` goes through, so that its refusals are named as the proxy's.
    """
    size = attachment.size
    offset = failures = resent = 0
    async with _ranges_of(attachment) as read:
        while offset < size:
            length = min(chunk_bytes, size - offset)
            chunk = await read(offset, length)
            headers = {
                "Content-Range": f"bytes {offset}-{offset + length - 1}/{size}",
                "Content-Type": "application/octet-stream",
            }
            error: M365MailError | None
            try:
                response = await _request(transport, "PUT", upload_url, timeout=timeout, content=chunk,
                                          headers=headers)
            except Exception as exc:
                error = error_from_transport(exc, f"uploading {attachment.filename!r}", proxy=proxy)
                if error is None:
                    raise
            else:
                accepted = _accepted(response, offset + length, size)
                if accepted is not None:
                    offset, failures = accepted, 0
                    continue
                error = error_from_response(response)
                if response.status_code != 416 and not isinstance(error, TransientSendError):
                    raise error
            failures += 1
            if failures >= max_failures:
                raise error
            wait = _backoff(error, failures)
            if wait > max_wait_s:
                raise error
            log_server_wait(log, f"uploading {attachment.filename!r} from byte {offset} again", wait, max_wait_s,
                            error)
            await asyncio.sleep(wait)
            resent += 1
            resumed = await _server_offset(transport, upload_url, size, timeout=timeout, proxy=proxy)
            offset = offset if resumed is None else resumed
    return resent

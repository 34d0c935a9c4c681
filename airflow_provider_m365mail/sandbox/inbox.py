"""The web inbox: every captured message, readable in a browser.

Everything taken from a message is HTML-escaped; an HTML body is shown inside ``<iframe sandbox srcdoc=...>`` so
its scripts and forms never run, and attachments are served as downloads, never rendered in the page's origin.
Inline images (``cid:`` references in the HTML body) are served from ``/messages/{id}/inline/{n}`` with their own
type, under a sandboxing CSP of their own, and the body's ``cid:`` URLs are rewritten to them; the page's CSP lets
images come from the sandbox itself and nothing else.
"""

from __future__ import annotations

import html
import re
import time
from importlib import resources
from string import Template
from urllib.parse import unquote

from aiohttp import web

from .http_wire import STATE, sandbox_error
from .mailview import AttachmentView, MessageView, view_message
from .state import StoredMessage

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: {origin}; frame-src 'self'"
# Served inline parts: no script, no plugin, an opaque origin even when opened directly.
PART_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_CID = re.compile(r"cid:([^\s\"'()<>]+)", re.IGNORECASE)
_TEMPLATE = Template(
    resources.files(__name__.rpartition(".")[0]).joinpath("templates/inbox.html").read_text(encoding="utf-8")
)


def add_routes(app: web.Application) -> None:
    """Register the inbox pages."""
    app.router.add_get("/", index)
    app.router.add_get("/messages/{id}", message_page)
    app.router.add_get("/messages/{id}/attachments/{n}", attachment)
    app.router.add_get("/messages/{id}/inline/{n}", inline_part)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _page(request: web.Request, title: str, content: str) -> web.Response:
    body = _TEMPLATE.substitute(title=html.escape(title), content=content)
    # A srcdoc frame inherits this policy; its opaque origin is not 'self', so the sandbox's origin is named.
    csp = CSP.format(origin=_origin(request))
    return web.Response(text=body, content_type="text/html", headers={"Content-Security-Policy": csp,
                                                                       "X-Content-Type-Options": "nosniff"})


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


async def index(request: web.Request) -> web.Response:
    """``GET /``: the captured messages, newest first."""
    messages = list(reversed(request.app[STATE].messages()))
    if not messages:
        return _page(request, "Inbox", '<p class="muted">No messages yet.</p>')
    rows = "".join(
        f'<tr><td>{_e(_when(m.received_at))}</td><td>{_e(m.envelope_from)}</td>'
        f'<td>{_e(", ".join(m.envelope_to))}</td>'
        f'<td><a href="/messages/{_e(m.id)}">{_e(m.subject or "(no subject)")}</a></td>'
        f'<td>{_e(m.transport)}</td></tr>'
        for m in messages
    )
    table = ("<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th><th>Transport</th>"
             f"</tr></thead><tbody>{rows}</tbody></table>")
    return _page(request, f"Inbox ({len(messages)})", table)


def _load(request: web.Request) -> tuple[StoredMessage, MessageView]:
    state = request.app[STATE]
    message = state.message(request.match_info["id"])
    if message is None:
        raise sandbox_error(404, "MessageNotFound", f"No stored message has id '{request.match_info['id']}'.")
    return message, view_message(state.raw(message.id))


async def message_page(request: web.Request) -> web.Response:
    """``GET /messages/{id}``: headers, bodies and attachment links of one message."""
    message, view = _load(request)
    envelope = (f"<p>Envelope from <b>{_e(message.envelope_from)}</b> to <b>{_e(', '.join(message.envelope_to))}</b>"
                f" via {_e(message.transport)}"
                f"{f' (authenticated as {_e(message.principal)})' if message.principal else ''}"
                f" · {_e(message.size)} bytes · <a href=\"/_sandbox/messages/{_e(message.id)}/raw\">raw</a></p>")
    headers = "".join(f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in view.headers)
    parts = [envelope, f"<h2>Headers</h2><table>{headers}</table>"]
    if view.text is not None:
        parts.append(f"<h2>Text body</h2><pre>{_e(view.text)}</pre>")
    if view.html is not None:
        shown = _with_inline_parts(view, view.html, f"{_origin(request)}/messages/{message.id}/inline")
        parts.append(f'<h2>HTML body</h2><iframe sandbox srcdoc="{_e(shown)}" title="HTML body"></iframe>')
    if view.attachments:
        items = "".join(
            f'<li><a href="/messages/{_e(message.id)}/attachments/{n}">{_e(a.filename)}</a> '
            f'<span class="muted">{_e(a.content_type)}, {len(a.data)} bytes{", inline" if a.inline else ""}</span></li>'
            for n, a in enumerate(view.attachments)
        )
        parts.append(f"<h2>Attachments</h2><ul>{items}</ul>")
    return _page(request, message.subject or "(no subject)", "".join(parts))


def _with_inline_parts(view: MessageView, body: str, base: str) -> str:
    """Return the HTML body with each ``cid:`` URL naming an inline image replaced by the image's address."""
    numbers = {a.content_id: n for n, a in enumerate(view.attachments) if a.content_id and _is_image(a)}

    def address(match: re.Match[str]) -> str:
        number = numbers.get(unquote(match.group(1)))
        return match.group(0) if number is None else f"{base}/{number}"

    return _CID.sub(address, body)


def _is_image(item: AttachmentView) -> bool:
    return item.content_type.startswith("image/")


def _numbered(request: web.Request, view: MessageView) -> AttachmentView:
    number = request.match_info["n"]
    if not (number.isascii() and number.isdigit()) or int(number) >= len(view.attachments):
        raise sandbox_error(404, "AttachmentNotFound", f"The message has no attachment number {number}.")
    return view.attachments[int(number)]


async def inline_part(request: web.Request) -> web.Response:
    """``GET /messages/{id}/inline/{n}``: an image part as itself, for the HTML body's rewritten ``cid:`` URLs."""
    _, view = _load(request)
    item = _numbered(request, view)
    if not _is_image(item):
        raise sandbox_error(404, "AttachmentNotFound", "Only image parts are shown inline; download the attachment.")
    return web.Response(body=item.data, content_type=item.content_type, headers={
        "Content-Disposition": "inline",
        "Content-Security-Policy": PART_CSP,
        "X-Content-Type-Options": "nosniff",
    })


async def attachment(request: web.Request) -> web.Response:
    """``GET /messages/{id}/attachments/{n}``: download one attachment (n counts from 0)."""
    _, view = _load(request)
    item = _numbered(request, view)
    filename = "".join(c if c.isalnum() or c in "._- " else "_" for c in item.filename) or "attachment"
    return web.Response(body=item.data, content_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "X-Original-Content-Type": item.content_type,
    })

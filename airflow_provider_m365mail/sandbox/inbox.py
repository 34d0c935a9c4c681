"""The web inbox: every captured message, readable in a browser.

Everything taken from a message is HTML-escaped; an HTML body is shown inside ``<iframe sandbox srcdoc=...>`` so
its scripts and forms never run, and attachments are served as downloads, never rendered in the page's origin.
"""

from __future__ import annotations

import html
import time
from importlib import resources
from string import Template

from aiohttp import web

from .http_wire import STATE, sandbox_error
from .mailview import MessageView, view_message
from .state import StoredMessage

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'"
_TEMPLATE = Template(
    resources.files(__name__.rpartition(".")[0]).joinpath("templates/inbox.html").read_text(encoding="utf-8")
)


def add_routes(app: web.Application) -> None:
    """Register the inbox pages."""
    app.router.add_get("/", index)
    app.router.add_get("/messages/{id}", message_page)
    app.router.add_get("/messages/{id}/attachments/{n}", attachment)


def _page(title: str, content: str) -> web.Response:
    body = _TEMPLATE.substitute(title=html.escape(title), content=content)
    return web.Response(text=body, content_type="text/html", headers={"Content-Security-Policy": CSP,
                                                                       "X-Content-Type-Options": "nosniff"})


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


async def index(request: web.Request) -> web.Response:
    """``GET /``: the captured messages, newest first."""
    messages = list(reversed(request.app[STATE].messages()))
    if not messages:
        return _page("Inbox", '<p class="muted">No messages yet.</p>')
    rows = "".join(
        f'<tr><td>{_e(_when(m.received_at))}</td><td>{_e(m.envelope_from)}</td>'
        f'<td>{_e(", ".join(m.envelope_to))}</td>'
        f'<td><a href="/messages/{_e(m.id)}">{_e(m.subject or "(no subject)")}</a></td>'
        f'<td>{_e(m.transport)}</td></tr>'
        for m in messages
    )
    table = ("<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th><th>Transport</th>"
             f"</tr></thead><tbody>{rows}</tbody></table>")
    return _page(f"Inbox ({len(messages)})", table)


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
        parts.append(f'<h2>HTML body</h2><iframe sandbox srcdoc="{_e(view.html)}" title="HTML body"></iframe>')
    if view.attachments:
        items = "".join(
            f'<li><a href="/messages/{_e(message.id)}/attachments/{n}">{_e(a.filename)}</a> '
            f'<span class="muted">{_e(a.content_type)}, {len(a.data)} bytes{", inline" if a.inline else ""}</span></li>'
            for n, a in enumerate(view.attachments)
        )
        parts.append(f"<h2>Attachments</h2><ul>{items}</ul>")
    return _page(message.subject or "(no subject)", "".join(parts))


async def attachment(request: web.Request) -> web.Response:
    """``GET /messages/{id}/attachments/{n}``: download one attachment (n counts from 0)."""
    _, view = _load(request)
    number = request.match_info["n"]
    if not (number.isascii() and number.isdigit()) or int(number) >= len(view.attachments):
        raise sandbox_error(404, "AttachmentNotFound", f"The message has no attachment number {number}.")
    item = view.attachments[int(number)]
    filename = "".join(c if c.isalnum() or c in "._- " else "_" for c in item.filename) or "attachment"
    return web.Response(body=item.data, content_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "X-Original-Content-Type": item.content_type,
    })

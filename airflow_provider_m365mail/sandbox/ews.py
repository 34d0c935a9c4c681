"""Emulate Exchange Server's EWS endpoint (``/EWS/Exchange.asmx``): ``CreateItem`` with MIME content, ``GetFolder``.

Sign-in is basic or NTLM (``pyspnego`` as the server side, against the tenant's mailbox passwords). Send As and
Send on Behalf are checked on the MIME's From as Exchange does (``ErrorSendAsDenied``, honouring each grant's
propagation delay); ``ExchangeImpersonation`` needs the account in the tenant's ``impersonators``. Answers are
SOAP: an operation's failure inside a 200 (``ResponseClass="Error"``), a throttled server as a SOAP fault (500)
with ``BackOffMilliseconds``. Faults with target ``ews`` choose the ``ResponseCode`` with their ``message``.
"""

from __future__ import annotations

import base64
import binascii
import os
import weakref
from email import message_from_bytes, policy
from email.utils import getaddresses
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aiohttp import web

from .http_wire import STATE, read_limited, sandbox_error
from .mime_from_graph import finish_mime
from .state import FaultKind, SandboxState

PATH = "/EWS/Exchange.asmx"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
_REPLY: tuple[FaultKind, ...] = ("reply",)
_NTLM_USERS = "ntlm-users"
_MAX_REQUEST = 64 * 1024 * 1024  # IIS's request limit on the EWS virtual directory; the message limit is checked after
_TEXTS = {
    "ErrorSendAsDenied": "The user account which was used to submit this request does not have the right to send "
    "mail on behalf of the specified sending account., Cannot submit message.",
    "ErrorImpersonateUserDenied": "The account does not have permission to impersonate the requested user.",
    "ErrorNonExistentMailbox": "No mailbox with such guid.",
    "ErrorMessageSizeExceeded": "The message exceeds the maximum supported size.",
    "ErrorServerBusy": "The server cannot service this request right now. Try again later.",
    "ErrorInvalidRecipients": "At least one recipient isn't valid.",
}
# NTLM's three legs share one TCP connection: the server context waits here between the challenge and the answer.
_pending: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class _Refused(Exception):
    """An EWS answer other than success, with the ResponseCode to report."""

    def __init__(self, code: str, *, status: int = 200, back_off_ms: int | None = None) -> None:
        super().__init__(code)
        self.code, self.status, self.back_off_ms = code, status, back_off_ms


def add_routes(app: web.Application) -> None:
    """Register the EWS endpoint."""
    app.router.add_post(PATH, ews)


async def ews(request: web.Request) -> web.StreamResponse:
    """``POST /EWS/Exchange.asmx``: sign in, then run the one operation in the SOAP body."""
    state: SandboxState = request.app[STATE]
    state.stats["ews_requests"] += 1
    account = _sign_in(request, state)
    if isinstance(account, web.Response):
        return account
    too_large = sandbox_error(413, "RequestEntityTooLarge", "The request is larger than the EWS endpoint accepts.")
    body = await read_limited(request, max(state.tenant.limits.max_message_size * 2, _MAX_REQUEST), too_large)
    try:
        envelope = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return _fault("ErrorSchemaValidation", "The request failed schema validation.", status=500)
    soap_body = envelope.find(f"{{{SOAP}}}Body")
    operation = soap_body[0] if soap_body is not None and len(soap_body) else None
    name = operation.tag.rpartition("}")[2] if operation is not None else ""
    try:
        actor = _acting_mailbox(state, account, envelope)
        _injected_fault(state)
        if name == "CreateItem" and operation is not None:
            _create_item(state, actor, operation)
        elif name != "GetFolder":
            return _fault("ErrorInvalidRequest", f"The sandbox does not emulate the EWS operation {name!r}.",
                          status=500)
    except _Refused as refused:
        state.stats["ews_refused"] += 1
        if refused.status != 200:
            return _fault(refused.code, _TEXTS.get(refused.code, refused.code), status=refused.status,
                          back_off_ms=refused.back_off_ms)
        return _answer(name, refused.code)
    return _answer(name, "NoError")


def _sign_in(request: web.Request, state: SandboxState) -> str | web.Response:
    """Return the signed-in account, or the 401 answer (with an NTLM challenge on the first leg)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.casefold() == "basic":
        try:
            user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _unauthorized()
        mailbox = state.tenant.mailbox(user)
        return user if mailbox is not None and mailbox.password and mailbox.password == password else _unauthorized()
    if scheme.casefold() == "ntlm":
        return _ntlm_leg(request, state, token)
    return _unauthorized()


def _ntlm_leg(request: web.Request, state: SandboxState, token: str) -> str | web.Response:
    import spnego
    from spnego.exceptions import SpnegoError

    connection = request.transport
    try:
        message = base64.b64decode(token)
        context = _pending.pop(connection, None) if connection is not None else None
        if context is None:
            _write_ntlm_users(state)
            context = spnego.server(protocol="ntlm")
            challenge = context.step(message)
            if connection is not None:
                _pending[connection] = context
            return _unauthorized(f"NTLM {base64.b64encode(challenge or b'').decode('ascii')}")
        context.step(message)
    except (SpnegoError, binascii.Error, ValueError):
        return _unauthorized()
    return str(context.client_principal) if context.complete else _unauthorized()


def _write_ntlm_users(state: SandboxState) -> None:
    """Let pyspnego check NTLM answers against the tenant's passwords (it reads them from ``NTLM_USER_FILE``)."""
    path = state.state_dir / _NTLM_USERS
    lines = "".join(f":{m.address}:{m.password}\n" for m in state.tenant.mailboxes if m.password)
    if not path.exists() or path.read_text(encoding="utf-8") != lines:
        path.write_text(lines, encoding="utf-8")
        path.chmod(0o600)
    os.environ["NTLM_USER_FILE"] = str(path)


def _acting_mailbox(state: SandboxState, account: str, envelope: ElementTree.Element) -> str:
    target = envelope.findtext(f".//{{{TYPES}}}ExchangeImpersonation//{{{TYPES}}}PrimarySmtpAddress")
    if not target:
        return account
    if account.casefold() not in {a.casefold() for a in state.tenant.impersonators}:
        raise _Refused("ErrorImpersonateUserDenied")
    if state.tenant.mailbox(target) is None:
        raise _Refused("ErrorNonExistentMailbox")
    return target


def _injected_fault(state: SandboxState) -> None:
    fault = state.take_fault("ews", kinds=_REPLY)
    if fault is None:
        return
    code = fault.message or "ErrorServerBusy"
    busy = code == "ErrorServerBusy" or (fault.code or 200) >= 500
    back_off = int((fault.retry_after_s if fault.retry_after_s is not None else 1) * 1000) if busy else None
    raise _Refused(code, status=500 if busy else 200, back_off_ms=back_off)


def _create_item(state: SandboxState, actor: str, operation: ElementTree.Element) -> None:
    encoded = operation.findtext(f".//{{{TYPES}}}MimeContent") or ""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise _Refused("ErrorMimeContentInvalidBase64String") from None
    if len(raw) > state.tenant.limits.max_message_size:
        raise _Refused("ErrorMessageSizeExceeded")
    headers = message_from_bytes(raw, policy=policy.default)
    from_ = next((a for _, a in getaddresses([str(headers.get("From", actor))]) if a), actor)
    replace: dict[str, str] = {}
    if from_.casefold() != actor.casefold():
        if state.has_right(actor, from_, "send_as"):
            pass
        elif state.has_right(actor, from_, "send_on_behalf"):
            replace["Sender"] = actor
        else:
            state.refuse_send_as("ews", from_)
            raise _Refused("ErrorSendAsDenied")
    bcc = [e.text or "" for e in operation.iter(f"{{{TYPES}}}EmailAddress")
           if _under(operation, e, "BccRecipients")]
    visible = getaddresses([str(v) for v in headers.get_all("To", []) + headers.get_all("Cc", [])])
    recipients = [a for _, a in visible if a] + bcc
    if not recipients:
        raise _Refused("ErrorInvalidRecipients")
    raw = finish_mime(raw, replace=replace, defaults={}, drop=("Bcc",) if replace else ("Bcc", "Sender"))
    state.store_message(raw=raw, envelope_from=from_, envelope_to=recipients, transport="ews", principal=actor)


def _under(root: ElementTree.Element, element: ElementTree.Element, parent: str) -> bool:
    """Tell whether ``element`` sits inside a ``t:<parent>`` element of ``root``."""
    return any(element in list(p.iter()) for p in root.iter(f"{{{TYPES}}}{parent}"))


def _answer(operation: str, code: str) -> web.Response:
    response_class = "Success" if code == "NoError" else "Error"
    text = "" if code == "NoError" else f"<m:MessageText>{escape(_TEXTS.get(code, code))}</m:MessageText>"
    extra = "<m:Items/>" if operation == "CreateItem" else (
        '<m:Folders><t:Folder><t:FolderId Id="sandbox-sentitems"/></t:Folder></m:Folders>'
    )
    body = (
        f"<m:{operation}Response><m:ResponseMessages>"
        f'<m:{operation}ResponseMessage ResponseClass="{response_class}">{text}'
        f"<m:ResponseCode>{escape(code)}</m:ResponseCode>{extra if code == 'NoError' else ''}"
        f"</m:{operation}ResponseMessage></m:ResponseMessages></m:{operation}Response>"
    )
    return _soap(body, status=200)


def _fault(code: str, text: str, *, status: int, back_off_ms: int | None = None) -> web.Response:
    xml = f'<t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value>' if back_off_ms is not None else ""
    body = (
        f"<s:Fault><faultcode>a:{escape(code)}</faultcode><faultstring>{escape(text)}</faultstring>"
        f"<detail><e:ResponseCode>{escape(code)}</e:ResponseCode><e:Message>{escape(text)}</e:Message>"
        f"<e:MessageXml>{xml}</e:MessageXml></detail></s:Fault>"
    )
    return _soap(body, status=status)


def _soap(body: str, *, status: int) -> web.Response:
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:m="{MESSAGES}" xmlns:t="{TYPES}" xmlns:e="{ERRORS}">'
        '<s:Header><t:ServerVersionInfo MajorVersion="15" MinorVersion="2" Version="V2017_07_11"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    return web.Response(status=status, body=xml.encode("utf-8"), content_type="text/xml", charset="utf-8")


def _unauthorized(challenge: str | None = None) -> web.Response:
    """Answer 401: the challenge that continues NTLM, or the schemes offered (NTLM, basic) for a new sign-in."""
    offered = [challenge] if challenge else ["NTLM", 'Basic realm="sandbox"']
    return web.Response(status=401, headers=[("WWW-Authenticate", value) for value in offered],
                        text="401 Unauthorized", content_type="text/plain")

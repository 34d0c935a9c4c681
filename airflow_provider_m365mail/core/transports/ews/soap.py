"""Write the EWS requests we send (``CreateItem`` with MIME content, ``GetFolder``) and read their answers.

Exchange answers an operation's failure inside a 200 response (``ResponseClass="Error"`` with a
``ResponseCode``) and a server-level failure as a SOAP fault (HTTP 500), such as ``ErrorServerBusy`` with its
``BackOffMilliseconds``. Both become an ``EwsFault``; ``classify_ews_fault`` turns it into a provider error.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
SERVER_VERSION = "Exchange2016"  # the oldest schema with everything we use; Subscription Edition accepts it


@dataclass(frozen=True)
class EwsFault:
    """What Exchange said went wrong: the ``ResponseCode``, its text and any back-off it asked for."""

    code: str
    message: str
    back_off_s: float | None = None


def _envelope(body: str, *, impersonate: str | None) -> bytes:
    impersonation = (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{escape(impersonate)}"
        "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
        if impersonate
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:t="{TYPES}" xmlns:m="{MESSAGES}">'
        f'<soap:Header><t:RequestServerVersion Version="{SERVER_VERSION}"/>{impersonation}</soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def create_item(mime: bytes, bcc: list[str], *, save_copy: bool, impersonate: str | None = None) -> bytes:
    """Return a ``CreateItem`` request sending ``mime`` (Bcc recipients travel beside it, not in the MIME)."""
    disposition = "SendAndSaveCopy" if save_copy else "SendOnly"
    saved = (
        '<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId>' if save_copy else ""
    )
    bcc_xml = "".join(f"<t:Mailbox><t:EmailAddress>{escape(a)}</t:EmailAddress></t:Mailbox>" for a in bcc)
    message = (
        f'<t:Message><t:MimeContent CharacterSet="UTF-8">{base64.b64encode(mime).decode("ascii")}</t:MimeContent>'
        + (f"<t:BccRecipients>{bcc_xml}</t:BccRecipients>" if bcc else "")
        + "</t:Message>"
    )
    body = (
        f"<m:CreateItem MessageDisposition={quoteattr(disposition)}>{saved}"
        f"<m:Items>{message}</m:Items></m:CreateItem>"
    )
    return _envelope(body, impersonate=impersonate)


def get_folder(folder: str = "sentitems", *, impersonate: str | None = None) -> bytes:
    """Return a ``GetFolder`` request: a cheap call that proves sign-in and mailbox access, sending nothing."""
    body = (
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        f"<m:FolderIds><t:DistinguishedFolderId Id={quoteattr(folder)}/></m:FolderIds></m:GetFolder>"
    )
    return _envelope(body, impersonate=impersonate)


def read_answer(status: int, body: bytes) -> EwsFault | None:
    """Return the fault an EWS answer carries, or None when the operation succeeded."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return EwsFault(f"HTTP{status}", f"the answer is not SOAP (HTTP {status})") if status != 200 else EwsFault(
            "ErrorInvalidResponse", "the answer is not a SOAP envelope"
        )
    fault = root.find(f".//{{{SOAP}}}Fault")
    if fault is not None:
        code = fault.findtext(f".//{{{ERRORS}}}ResponseCode") or _local(fault.findtext("faultcode") or "")
        back_off = next(
            (v.text for v in fault.iter(f"{{{TYPES}}}Value") if v.get("Name") == "BackOffMilliseconds"), None
        )
        return EwsFault(
            code or f"HTTP{status}",
            fault.findtext(f".//{{{ERRORS}}}Message") or fault.findtext("faultstring") or "",
            float(back_off) / 1000 if back_off and back_off.isdigit() else None,
        )
    for response in root.iter():
        if response.get("ResponseClass") == "Error":
            return EwsFault(
                response.findtext(f"{{{MESSAGES}}}ResponseCode") or "ErrorUnknown",
                response.findtext(f"{{{MESSAGES}}}MessageText") or "",
            )
    return None if status == 200 else EwsFault(f"HTTP{status}", f"HTTP {status} without a SOAP fault")


def _local(name: str) -> str:
    """Return a qualified name's local part ("a:ErrorServerBusy" -> "ErrorServerBusy")."""
    return name.rpartition(":")[2]

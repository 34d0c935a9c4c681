"""Route Airflow's own mail (``email_on_failure``, ``email_on_retry``, ``send_email``) through Microsoft 365.

``[email] email_backend = airflow_provider_m365mail.email_backend.send_email`` and ``[email] email_conn_id`` naming
an ``m365mail`` connection are all it takes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_m365mail.airflow_compat import AirflowNotFoundException
from airflow_provider_m365mail.connection_fields import CONN_TYPE
from airflow_provider_m365mail.hooks.m365mail import M365MailHook

log = logging.getLogger(__name__)

# Airflow's task runner passes this when ``[email] from_email`` is not set: it names no mailbox.
AIRFLOW_PLACEHOLDER_FROM = "airflow@airflow"


def send_email(  # noqa: PLR0917 - Airflow calls email backends with positional arguments
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | None = None,
    from_email: str | None = None,
    custom_headers: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """
    Send an email the way Airflow's ``[email] email_backend`` contract asks, through an ``m365mail`` connection.

    Messages are always UTF-8 MIME built by the provider, so ``mime_subtype`` and ``mime_charset`` are accepted
    for compatibility only. Without a ``from_email`` (or with Airflow's ``airflow@airflow`` placeholder) the
    connection's default From is used.

    :param to: Recipients: a list, or one string separated by "," or ";".
    :param subject: Subject line.
    :param html_content: HTML body.
    :param files: Paths of files to attach.
    :param dryrun: Build and check the message (settings, sender, recipients, files) without sending it.
    :param cc: Copy recipients.
    :param bcc: Blind copy recipients.
    :param conn_id: The ``m365mail`` connection (default: ``m365mail_default``).
    :param from_email: Send as this mailbox; the connection's ``allowed_senders`` must permit it.
    :param custom_headers: Extra headers, e.g. ``{"X-Priority": "1"}``.
    """
    sender = None if from_email in (None, "", AIRFLOW_PLACEHOLDER_FROM) else from_email
    hook = _hook(conn_id or M365MailHook.default_conn_name)
    headers = {name: str(value) for name, value in (custom_headers or {}).items()}
    if dryrun:
        from airflow_provider_m365mail.core.identity import resolve_identity
        from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

        # Raise what a send would raise before any network I/O, and stop there.
        resolve_identity(hook.get_settings(), from_email=sender)
        OutgoingMessage.create(
            to=_recipients(to), cc=_recipients(cc), bcc=_recipients(bcc), subject=subject, html=html_content,
            attachments=_files(files), headers=headers,
        )
        log.info("Dry run: %r checked, not sent", subject)
        return
    message_ids = hook.send(
        to=_recipients(to),
        cc=_recipients(cc),
        bcc=_recipients(bcc),
        subject=subject,
        html_content=html_content,
        files=_files(files),
        from_email=sender,
        headers=headers,
    )
    log.info("Sent %r: %s", subject, ", ".join(message_ids))


def _hook(conn_id: str) -> M365MailHook:
    """Return the hook of ``conn_id``, saying which setting to change when the connection is missing or not ours."""
    from airflow_provider_m365mail.core.errors import ConfigurationError

    hook = M365MailHook(m365mail_conn_id=conn_id)
    fix = "set [email] email_conn_id (AIRFLOW__EMAIL__EMAIL_CONN_ID) to the conn id of an m365mail connection"
    try:
        connection = hook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigurationError("email_conn_id", f"connection {conn_id!r} does not exist", hint=fix) from exc
    if connection.conn_type != CONN_TYPE:
        raise ConfigurationError(
            "email_conn_id", f"connection {conn_id!r} has type {connection.conn_type!r}, not {CONN_TYPE!r}", hint=fix
        )
    return hook


def _files(value: str | Iterable[str] | None) -> list[str]:
    """One path is one file, not a sequence of characters."""
    return [value] if isinstance(value, str) else list(value or [])


def _recipients(value: str | Iterable[str] | None) -> str | list[str] | None:
    return value if value is None or isinstance(value, str) else list(value)


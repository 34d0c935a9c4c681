"""Build ``MailSettings`` from one of the sandbox's ready-made Airflow connections, and a short message to send
over it, for the core's tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.server import Sandbox

FIELDS = ("host", "port", "login", "password")


def settings_for(sandbox: Sandbox, name: str, **overrides: Any) -> MailSettings:
    """Return the settings of connection ``name``; ``host``/``port``/``login``/``password`` in ``overrides``
    replace those fields (None included), anything else is an extra."""
    conn = dict(sandbox.settings["airflow_connections"][name])
    conn.update({key: overrides.pop(key) for key in FIELDS if key in overrides})
    return MailSettings.from_connection_fields(
        host=conn.get("host"),
        port=conn.get("port"),
        login=conn.get("login"),
        password=conn.get("password"),
        extra={**conn["extra"], **overrides},
    )


def note(subject: str, *, to: str | Sequence[str] = "bob@contoso.com", **fields: Any) -> OutgoingMessage:
    """Return a short text message to ``to`` (bob by default); ``fields`` are any other ``OutgoingMessage`` field."""
    return OutgoingMessage.create(subject=subject, text="All good.", to=to, **fields)

"""The transport core: messages, settings, identity, tokens, transports, delivery policy and errors, without Airflow.

Subpackages, each saying in its docstring what it holds and may import: ``message``, ``settings``, ``auth``,
``transports``, ``delivery``, ``doctor`` and ``errors``. Directly here: ``identity`` (who sends), ``probe`` (the Send
As probe), ``alert`` (alert mail contents) and ``run_sync``.

The names below are the surface DAG authors and the docs use; each loads its module on first access, so importing
``airflow_provider_m365mail.core`` costs nothing at DAG parse time::

    from airflow_provider_m365mail.core import Mailer, MailSettings, OutgoingMessage, resolve_identity
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.delivery.mailer import Mailer
    from airflow_provider_m365mail.core.errors import *  # noqa: F403 - the error classes, listed in __all__
    from airflow_provider_m365mail.core.identity import SenderIdentity, resolve_identity
    from airflow_provider_m365mail.core.message.addresses import Address
    from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage
    from airflow_provider_m365mail.core.run_sync import run_sync
    from airflow_provider_m365mail.core.settings import MailSettings
    from airflow_provider_m365mail.core.transports.base import SendResult

_ERRORS = "airflow_provider_m365mail.core.errors"
_PUBLIC: dict[str, str] = {
    "Address": "airflow_provider_m365mail.core.message.addresses",
    "Attachment": "airflow_provider_m365mail.core.message.outgoing",
    "OutgoingMessage": "airflow_provider_m365mail.core.message.outgoing",
    "MailSettings": "airflow_provider_m365mail.core.settings.model",
    "SenderIdentity": "airflow_provider_m365mail.core.identity",
    "resolve_identity": "airflow_provider_m365mail.core.identity",
    "Mailer": "airflow_provider_m365mail.core.delivery.mailer",
    "SendResult": "airflow_provider_m365mail.core.transports.base",
    "run_sync": "airflow_provider_m365mail.core.run_sync",
}

__all__ = [
    "Address",
    "Attachment",
    "AuthenticationError",
    "ConfigurationError",
    "M365MailError",
    "MailSettings",
    "Mailer",
    "MessageValidationError",
    "OutgoingMessage",
    "PermanentSendError",
    "RecipientsPartlyRefusedError",
    "RecipientsRefusedError",
    "SendAsDeniedError",
    "SendResult",
    "SenderIdentity",
    "ServerUnreachableError",
    "ThrottledError",
    "TransientSendError",
    "ValidationError",
    "resolve_identity",
    "run_sync",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access (PEP 562)."""
    module = _PUBLIC.get(name) or (_ERRORS if name.endswith("Error") else None)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

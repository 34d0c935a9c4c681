"""Turn an Airflow ``m365mail`` connection into validated settings and send mail with them.

Only light Airflow names (``BaseHook``, the log masker) are imported at module level: the core, and through it
MSAL, the Graph SDK and aiosmtplib, load when a method first needs them, so DAG files that import this module parse
quickly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from airflow_provider_m365mail import connection_fields
from airflow_provider_m365mail.airflow_compat import BaseHook, amask_secret, mask_secret

if TYPE_CHECKING:
    from typing import TypeAlias

    from airflow_provider_m365mail.core.delivery.account import DeliveryAccount
    from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger
    from airflow_provider_m365mail.core.message.addresses import Address
    from airflow_provider_m365mail.core.message.outgoing import Attachment
    from airflow_provider_m365mail.core.settings import MailSettings

    Recipients: TypeAlias = "str | Address | Sequence[str | Address] | None"

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(
    method: Callable[Concatenate[M365MailHook, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[M365MailHook, P], T]:
    """Make the blocking form of an async hook method: read the connection first, then run on a private loop."""

    def blocking(hook: M365MailHook, /, *args: P.args, **kwargs: P.kwargs) -> T:
        from airflow_provider_m365mail.core.run_sync import run_sync

        hook.get_settings()  # the connection is read here, outside the loop, like any other sync hook
        return run_sync(method(hook, *args, **kwargs))

    # Share the docstring, and the signature through __wrapped__, with the async method.
    return functools.update_wrapper(blocking, method, assigned=("__module__", "__doc__"))


def _message_ids_of(
    method: Callable[Concatenate[M365MailHook, P], Coroutine[Any, Any, DeliveryAccount]],
) -> Callable[Concatenate[M365MailHook, P], Coroutine[Any, Any, list[str]]]:
    """Make the form of an async hook method that returns only the delivered Message-IDs of its account."""

    async def message_ids(hook: M365MailHook, /, *args: P.args, **kwargs: P.kwargs) -> list[str]:
        return (await method(hook, *args, **kwargs)).message_ids

    functools.update_wrapper(message_ids, method, assigned=("__module__",))
    message_ids.__doc__ = (
        "Send like ``adeliver`` (same parameters); return the Message-ID of each message delivered, now or by an "
        "earlier try (several when recipients split or are sent separately)."
    )
    return message_ids


# Airflow's masker skips shorter values, warning "too short": they would mask common words all over the log.
MIN_MASKED_LENGTH = 5


def _mask(secrets: Sequence[str]) -> None:
    """Register secrets with Airflow's log masker (and the task supervisor's, when in a task)."""
    for secret in secrets:
        if len(secret) >= MIN_MASKED_LENGTH:
            mask_secret(secret)


async def _amask(secrets: Sequence[str]) -> None:
    """Register secrets like ``_mask`` from a running loop, where the blocking form must not talk to the supervisor."""
    for secret in secrets:
        if len(secret) >= MIN_MASKED_LENGTH:
            await amask_secret(secret)


class M365MailHook(BaseHook):
    """
    Send email through Microsoft 365 / Exchange Online or any SMTP server, as an ``m365mail`` connection says.

    The connection is parsed once into :class:`~airflow_provider_m365mail.core.settings.MailSettings`; a wrong
    setting fails with a message naming the field and the fix. Every secret in it is registered with Airflow's
    log masker.

    :param m365mail_conn_id: The ``m365mail`` connection to send with.
    """

    conn_name_attr = "m365mail_conn_id"
    default_conn_name = "m365mail_default"
    conn_type = connection_fields.CONN_TYPE
    hook_name = "Microsoft 365 Mail"

    def __init__(self, m365mail_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.m365mail_conn_id = m365mail_conn_id
        self._settings: MailSettings | None = None

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the form's extra fields for Airflow 3.0 and 3.1 (later versions read the provider info)."""
        from airflow_provider_m365mail.legacy_connection_form import legacy_form_widgets

        return legacy_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return the standard fields' labels for Airflow 3.0 and 3.1 (later versions read the provider info)."""
        return connection_fields.ui_field_behaviour(legacy=True)

    def get_conn(self) -> MailSettings:
        """Return the connection's settings (Airflow's generic accessor)."""
        return self.get_settings()

    def get_settings(self) -> MailSettings:
        """Read and validate the connection once; later calls return the same settings."""
        if self._settings is None:
            self._settings = self.settings_from_connection(self.get_connection(self.m365mail_conn_id))
        return self._settings

    @classmethod
    def settings_from_connection(cls, connection: Any) -> MailSettings:
        """Validate a connection the caller read itself (the ``m365mail`` command reads it as Airflow's own
        command line does), registering its secrets with Airflow's log masker."""
        settings = cls._parse(connection)
        _mask(settings.secrets)
        return settings

    async def aget_settings(self) -> MailSettings:
        """Read and validate the connection once without blocking the event loop (triggers, async notifiers)."""
        if self._settings is None:
            aget_connection = getattr(self, "aget_connection", None)
            if aget_connection is not None:
                connection = await aget_connection(self.m365mail_conn_id)
            else:  # Airflow 3.0
                from asgiref.sync import sync_to_async

                connection = await sync_to_async(self.get_connection)(self.m365mail_conn_id)
            settings = self._parse(connection)
            await _amask(settings.secrets)
            self._settings = settings
        return self._settings

    @staticmethod
    def _parse(connection: Any) -> MailSettings:
        from airflow_provider_m365mail.core.settings import MailSettings

        # The stored text, not ``extra_dejson``: that reads text that is not JSON as no extras at all, and the
        # settings would then fail on whatever default the missing extras leave (or not fail at all).
        return MailSettings.from_airflow_connection(
            host=connection.host,
            port=connection.port,
            login=connection.login,
            password=connection.password,
            extra=connection.extra,
        )

    def derive_message_id(
        self, seed: str, *, from_email: str | Address | None = None, on_behalf_of: str | Address | None = None
    ) -> str:
        """Return the Message-ID ``seed`` always maps to, on the domain of the From these arguments give."""
        from airflow_provider_m365mail.core.identity import resolve_identity
        from airflow_provider_m365mail.core.message.outgoing import make_message_id

        identity = resolve_identity(self.get_settings(), from_email=from_email, on_behalf_of=on_behalf_of)
        return make_message_id(seed, identity.from_address.email.rpartition("@")[2])

    async def adeliver(
        self,
        *,
        to: Recipients,
        subject: str,
        cc: Recipients = None,
        bcc: Recipients = None,
        html_content: str | None = None,
        text_content: str | None = None,
        files: Attachment | str | Path | Sequence[Attachment | str | Path] = (),
        from_email: str | Address | None = None,
        on_behalf_of: str | Address | None = None,
        reply_to: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        importance: str = "normal",
        message_id: str | None = None,
        save_to_sent_items: bool | None = None,
        send_separately: bool = False,
        fail_on_refused_recipients: bool = False,
        check_sent_items: bool = False,
        ledger: DeliveryLedger | None = None,
        resend: bool = False,
    ) -> DeliveryAccount:
        """
        Send one message (split into recipient batches, or one per To recipient); return the account of it.

        The :class:`~airflow_provider_m365mail.core.delivery.account.DeliveryAccount` says what was delivered now,
        what an earlier try delivered, which recipients were refused. ``deliver`` is the blocking form; ``asend``
        and ``send`` take the same parameters and return the delivered Message-IDs only. Everything is validated
        before any network I/O; errors are :mod:`~airflow_provider_m365mail.core.errors` exceptions carrying the
        server's code and a hint. Messages still failing transiently after the connection's ``retry_budget_s``
        are left over: the last transient error is raised, and with a ``ledger`` the next try sends only those.

        :param to: Recipients: an address, a list, or one string separated by "," or ";".
        :param subject: Subject line (any Unicode; no line breaks).
        :param cc: Copy recipients.
        :param bcc: Blind copy recipients (in the envelope only, never in the headers).
        :param html_content: HTML body; inline images refer to their attachment's ``cid:``.
        :param text_content: Plain-text body (with ``html_content``: the alternative part).
        :param files: Attachments: a path, or a list of paths or :class:`Attachment` objects (a ``content_id``
            makes an inline image).
        :param from_email: Send as this address (From); the connection's ``allowed_senders`` must permit it.
        :param on_behalf_of: Send on behalf of this address (From = it, Sender = the authentication account).
        :param reply_to: Reply-To address(es).
        :param headers: Extra headers, e.g. ``{"X-Report-Id": "42"}``.
        :param importance: "low", "normal" or "high".
        :param message_id: Message-ID to use, e.g. from :meth:`derive_message_id`; a new one when empty.
        :param save_to_sent_items: Graph only: keep a copy in the mailbox's Sent Items (default: the connection's
            ``save_to_sent_items``).
        :param send_separately: Send each To recipient a message of their own (mail merge), over up to the
            connection's ``max_connections`` at once, each with a Message-ID derived from ``message_id`` and the
            address; ``cc`` and ``bcc`` must be empty.
        :param fail_on_refused_recipients: Raise ``RecipientsPartlyRefusedError`` naming each refused recipient
            and its reply when the server refused some (the others still got the message); else only log them.
        :param check_sent_items: Graph only: look each Message-ID up in Sent Items first and skip those an
            earlier try sent (needs Mail.Read; without it the message is sent). Use it when retrying a task.
        :param ledger: Where this send records what was delivered across tries (an Airflow task's is
            :func:`~airflow_provider_m365mail.hooks.delivery_ledger.ledger_for` its context); messages it lists
            are not sent again.
        :param resend: With a ledger whose send an earlier try finished: send everything again, under new
            Message-IDs (a new send generation). Without it such a send delivers nothing new.
        """
        from airflow_provider_m365mail.core.delivery.mailer import Mailer
        from airflow_provider_m365mail.core.identity import resolve_identity
        from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

        settings = await self.aget_settings()
        identity = resolve_identity(settings, from_email=from_email, on_behalf_of=on_behalf_of, reply_to=reply_to)
        message = OutgoingMessage.create(
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject,
            text=text_content,
            html=html_content,
            attachments=files,
            headers=headers,
            importance=importance,
            message_id=message_id,
            save_to_sent_items=save_to_sent_items,
        )
        mailer = Mailer(settings, check_sent_items=check_sent_items, ledger=ledger, resend=resend)
        account = await mailer.deliver([(message, identity)], separately=send_separately)
        refusal = account.refusal()
        if refusal is not None and fail_on_refused_recipients:
            raise refusal
        return account

    deliver = _blocking(adeliver)
    asend = _message_ids_of(adeliver)
    send = _blocking(asend)

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection as a send would use it (settings, DNS, token, TLS, sign-in), sending nothing.

        These are the cheap checks of ``m365mail doctor``: its sign-in check covers the port and TLS in one
        connection, and no MX, SPF or Send As checks run. The first failure is reported with its fix.
        """
        from airflow_provider_m365mail.core.doctor.diagnosis import DoctorOptions, Status, diagnose
        from airflow_provider_m365mail.core.run_sync import run_sync

        options = DoctorOptions(network_checks=False, mail_dns=False, conn_id=self.m365mail_conn_id)
        diagnosis = run_sync(diagnose(self.get_settings, options))
        failed = [check for check in diagnosis.checks if check.status is Status.FAIL]
        if failed:
            first = failed[0]
            code = f"[{first.code}] " if first.code else ""
            fix = f" Fix: {first.fix}" if first.fix else ""
            return False, f"{first.title} failed: {code}{first.detail}.{fix}"
        done = [f"{check.title}: {check.detail}" for check in diagnosis.checks if check.status is not Status.SKIP]
        return True, "; ".join(done)

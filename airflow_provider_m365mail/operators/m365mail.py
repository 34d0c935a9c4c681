"""The operator DAG authors use to send a message through an ``m365mail`` connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_m365mail.airflow_compat import AirflowFailException
from airflow_provider_m365mail.hooks.m365mail import M365MailHook
from airflow_provider_m365mail.sender_options import SENDER_TEMPLATE_FIELDS, SenderOptions

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_m365mail.core.message.outgoing import Attachment


class M365EmailOperator(SenderOptions, BaseOperator):
    """
    Send an email through Microsoft 365 / Exchange Online (or any SMTP server) and return the account of it.

    The Message-ID is derived from the task instance (DAG, run, task, map index), not the try. On Airflow 3.3+
    the task's state store keeps a delivery ledger: a retry (or a task cleared after it succeeded) delivers only
    what no earlier try delivered, and ``resend=True`` sends a finished task's messages again under new
    Message-IDs. Before 3.3 a retry resends the same Message-IDs, which Exchange's duplicate detection (and, over
    Graph, a Sent Items lookup) keeps out of mailboxes. Transient failures are retried within the connection's
    ``retry_budget_s``; what is still unsent fails the try, to be retried. Input is validated before anything goes
    on the network; invalid input or settings fail the task without retries, naming the field, and so does a
    permanent refusal by the server (a wrong password, every recipient unknown).

    The return value (XCom) is the account: ``message_ids`` (every delivered message), ``delivered_now``,
    ``delivered_earlier``, ``refused`` (address -> [code, reply]), ``left_over``, ``generation`` and ``skipped``.

    :param to: Recipients: a list, or one string separated by "," or ";". (templated)
    :param subject: Subject line; any Unicode, no line breaks. (templated)
    :param html_content: HTML body, or the path of a ``.html`` template file. (templated)
    :param text_content: Plain-text body; with ``html_content`` it becomes the alternative part. (templated)
    :param cc: Copy recipients. (templated)
    :param bcc: Blind copy recipients: in the envelope only, never in the headers. (templated)
    :param files: Paths of files to attach (one path, or a list). (templated)
    :param inline_images: Content-ID -> image path; the HTML shows each as ``<img src="cid:CONTENT_ID">``.
    :param from_email: Send as this mailbox (From); needs Send As in Exchange and the connection's
        ``allowed_senders``. (templated)
    :param on_behalf_of: Send on behalf of this mailbox (From = it, Sender = the authentication account); needs
        Send on Behalf in Exchange and the connection's ``allowed_senders``. (templated)
    :param reply_to: Reply-To address(es). (templated)
    :param headers: Extra headers, e.g. ``{"X-Report-Id": "{{ run_id }}"}``. (templated)
    :param importance: "low", "normal" or "high".
    :param save_to_sent_items: Graph only: keep a copy in Sent Items (default: the connection's setting).
    :param send_separately: Send each To recipient a message of their own (mail merge), over up to the
        connection's ``max_connections`` at once; each keeps a stable Message-ID of its own. ``cc`` and ``bcc``
        must then be empty.
    :param fail_on_refused_recipients: Fail the task, without retries, when the server refused some recipients,
        naming each with its reply (the others still got the message). By default they are only logged.
    :param resend: Send again when the task is cleared after an earlier try delivered everything: a new send
        generation with new Message-IDs. By default a cleared task sends only what was not delivered yet.
        Needs Airflow 3.3+ (its task state store).
    :param conn_id: The ``m365mail`` connection to send with.
    """

    template_fields: Sequence[str] = (
        "to",
        "cc",
        "bcc",
        "subject",
        "html_content",
        "text_content",
        "files",
        *SENDER_TEMPLATE_FIELDS,
    )
    template_ext: Sequence[str] = (".html",)
    template_fields_renderers = {"html_content": "html"}
    ui_color = "#cfe4ff"

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str,
        html_content: str | None = None,
        text_content: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        files: str | PurePath | Sequence[str | PurePath] | None = None,
        inline_images: Mapping[str, str] | None = None,
        from_email: str | None = None,
        on_behalf_of: str | None = None,
        reply_to: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        importance: str = "normal",
        save_to_sent_items: bool | None = None,
        send_separately: bool = False,
        fail_on_refused_recipients: bool = False,
        resend: bool = False,
        conn_id: str = M365MailHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.text_content = text_content
        self.cc = cc
        self.bcc = bcc
        self.files = files or []
        self.inline_images = dict(inline_images or {})
        self.set_sender_options(
            from_email=from_email, on_behalf_of=on_behalf_of, reply_to=reply_to, headers=headers,
            importance=importance,
        )
        self.save_to_sent_items = save_to_sent_items
        self.send_separately = send_separately
        self.fail_on_refused_recipients = fail_on_refused_recipients
        self.resend = resend
        self.conn_id = conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Send what is left of the message; return the delivery account (pushed to XCom)."""
        from airflow_provider_m365mail.core.errors import PermanentSendError, ValidationError
        from airflow_provider_m365mail.hooks.delivery_ledger import ledger_for

        hook = M365MailHook(m365mail_conn_id=self.conn_id)
        ti = context["ti"]
        seed = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"
        ledger = ledger_for(context)
        try:
            account = hook.deliver(
                to=self.to,
                cc=self.cc,
                bcc=self.bcc,
                subject=self.subject,
                html_content=self.html_content,
                text_content=self.text_content,
                files=[*self._files(), *self._inline_images()],
                **self.sender_arguments(hook, seed),
                save_to_sent_items=self.save_to_sent_items,
                send_separately=self.send_separately,
                fail_on_refused_recipients=self.fail_on_refused_recipients,
                # Without a ledger, a resend must not be held back by the copy an earlier try left in Sent Items.
                check_sent_items=ti.try_number > 1 and not (self.resend and ledger is None),
                ledger=ledger,
                resend=self.resend,
            )
        except (ValidationError, PermanentSendError) as exc:
            # Wrong input or settings, and a server's permanent refusal (a wrong password, unknown recipients),
            # fail the same way on every try, and a retry after a partial refusal would resend to those who got
            # it: fail now, keeping Airflow's retries for transient errors (TransientSendError), raised as they are.
            raise AirflowFailException(str(exc)) from exc
        return account.as_json()

    def _files(self) -> list[Any]:
        # One path is one file; anything but a list is left for the message's validation to name.
        return list(self.files) if isinstance(self.files, (list, tuple)) else [self.files]

    def _inline_images(self) -> list[Attachment]:
        from airflow_provider_m365mail.core.message.outgoing import Attachment

        return [Attachment.from_path(path, content_id=cid) for cid, path in self.inline_images.items()]

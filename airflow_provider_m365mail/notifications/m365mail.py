"""Tell people about a task or DAG run through Microsoft 365: ``on_failure_callback=M365EmailNotifier(to=...)``.

Airflow calls ``notify`` from task and DAG callbacks (worker, DAG processor) and awaits the notifier in the
triggerer for deadline alerts (``async_notify``); both send through :class:`M365MailHook`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib.resources import files as package_files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.airflow_compat import BaseNotifier, conf, redact
from airflow_provider_m365mail.get_provider_info import EMAIL_BACKEND
from airflow_provider_m365mail.hooks.m365mail import M365MailHook
from airflow_provider_m365mail.sender_options import SENDER_TEMPLATE_FIELDS, SenderOptions

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_m365mail.core.alert import Alert
    from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger

# The alert's facts (core.alert) and the delivery ledger load with the first alert, not when a DAG file that names
# this notifier is parsed.

DEFAULT_BASE_URL = "http://localhost:8080/"


def _redact(text: str) -> str:
    """Mask the secrets Airflow knows (connection passwords, masked variables) in text bound for a mailbox."""
    return str(redact(text))


def default_conn_id() -> str:
    """Return ``[email] email_conn_id`` when ``[email] email_backend`` is ours, else ``m365mail_default``.

    Airflow's ``email_conn_id`` defaults to ``smtp_default``, an SMTP provider connection: it names ours only when
    the platform routes Airflow's own mail through this provider.
    """
    if conf.get("email", "email_backend", fallback="") == EMAIL_BACKEND:
        return str(conf.get("email", "email_conn_id", fallback=None) or M365MailHook.default_conn_name)
    return M365MailHook.default_conn_name


def _text(value: Any) -> str | None:
    """Return ``value`` as text: dates in ISO form, enums by value."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(getattr(value, "value", value))


def _field(source: Any, name: str) -> Any:
    """Read ``name`` from an object or a mapping (the triggerer passes the DAG run as JSON); ``None`` if absent."""
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def alert_from_context(context: Mapping[str, Any]) -> Alert:
    """Read what happened from an Airflow callback context: a task's, a DAG run's, or a deadline alert's."""
    base_url = str(conf.get("api", "base_url", fallback=DEFAULT_BASE_URL) or DEFAULT_BASE_URL)
    ti = context.get("ti")
    # DAG callbacks carry Airflow's "reason" (and the run's last task instance, which is not what they report).
    if ti is not None and "reason" not in context:
        return _task_alert(context, ti, base_url)
    return _run_alert(context, base_url)


def _task_alert(context: Mapping[str, Any], ti: Any, base_url: str) -> Alert:
    from airflow_provider_m365mail.core.alert import Alert, event_for_state, summarize_exception, ui_link

    exception = summarize_exception(context.get("exception"), redact=_redact)
    map_index = -1 if _field(ti, "map_index") is None else int(ti.map_index)
    state = _text(_field(ti, "state"))
    try_number = _field(ti, "try_number")
    return Alert(
        event=event_for_state(state, failed=exception is not None),
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=map_index,
        link=ui_link(
            base_url, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=map_index,
            try_number=try_number,
        ),
        logical_date=_text(context.get("logical_date")),
        try_number=try_number,
        max_tries=_field(ti, "max_tries"),
        state=state,
        hostname=_text(_field(ti, "hostname")),
        exception=exception,
    )


def _run_alert(context: Mapping[str, Any], base_url: str) -> Alert:
    from airflow_provider_m365mail.core.alert import Alert, AlertEvent, event_for_state, summarize_exception, ui_link

    dag_run = context.get("dag_run")
    dag_id = _field(dag_run, "dag_id") or _field(context.get("dag"), "dag_id")
    run_id = _field(dag_run, "run_id") or _field(dag_run, "dag_run_id") or context.get("run_id")
    if not dag_id or not run_id:
        raise ValueError(
            "The callback context names no task instance and no DAG run: M365EmailNotifier cannot tell what to "
            "report. Use it as a task or DAG callback, or in a deadline alert."
        )
    reason = _text(context.get("reason"))
    state = _text(_field(dag_run, "state"))
    if context.get("deadline"):
        event = AlertEvent.DEADLINE_MISSED
    else:  # a DAG callback: Airflow's reason says which one when the run's state is not final yet
        event = event_for_state(state if state in ("success", "failed") else reason, failed=reason != "success")
    return Alert(
        event=event,
        dag_id=str(dag_id),
        run_id=str(run_id),
        link=ui_link(base_url, dag_id=str(dag_id), run_id=str(run_id)),
        logical_date=_text(context.get("logical_date") or _field(dag_run, "logical_date")),
        state=state,
        exception=summarize_exception(context.get("exception"), redact=_redact),
        reason=reason,
        deadline=_text(_field(context.get("deadline"), "deadline_time")),
    )


def _key(seed: str) -> str:
    """Return a short task state key for an alert's Message-ID seed."""
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


def _default_template(name: str) -> str:
    return (package_files(__package__) / "templates" / name).read_text(encoding="utf-8")


class M365EmailNotifier(SenderOptions, BaseNotifier):
    """
    Email an alert through Microsoft 365 when a task or DAG run fails, retries or succeeds, or misses a deadline.

    With only ``to``, the alert says what happened with a default subject and HTML and plain-text bodies: DAG,
    task, run, logical date, try, state, host, the exception (escaped, long ones shortened) and a link to the
    task's log in the Airflow UI (from ``[api] base_url``). Own subjects and bodies are Jinja templates rendered
    with the callback context plus ``alert`` (:class:`~airflow_provider_m365mail.core.alert.Alert`); write
    ``{{ alert.exception | e }}`` in HTML. The Message-ID derives from DAG, run, task, map index, try and event,
    so a callback that runs twice sends one message as far as Exchange is concerned.

    :param to: Recipients: a list, or one string separated by "," or ";". (templated)
    :param subject: Subject line (default: what happened, where and which try). (templated)
    :param html_content: HTML body, or a ``.html`` template file in the DAG's template search path. (templated)
    :param text_content: Plain-text body, or a ``.txt`` template file. Without both bodies the default ones are
        sent. (templated)
    :param template: Path of a Jinja file holding the whole HTML body, read when the notifier is created (as the
        SMTP provider's ``SmtpNotifier(template=...)``); an alternative to ``html_content``.
    :param cc: Copy recipients. (templated)
    :param bcc: Blind copy recipients. (templated)
    :param from_email: The mailbox the alert is sent as, as the operator's ``from_email``. (templated)
    :param on_behalf_of: The mailbox the alert is sent on behalf of, as the operator's. (templated)
    :param reply_to: Where replies go, e.g. the on-call list. (templated)
    :param headers: Extra headers, e.g. ``{"X-Alert-Team": "{{ params.team }}"}``. (templated)
    :param importance: "low", "normal" or "high" (Outlook marks "high" with a red exclamation mark).
    :param files: Paths of files to attach. (templated)
    :param conn_id: The ``m365mail`` connection (default: ``[email] email_conn_id`` when ``[email] email_backend``
        is this provider's, else ``m365mail_default``). (templated)
    """

    template_fields: Sequence[str] = ("to", "cc", "bcc", "subject", "html_content", "text_content",
                                      *SENDER_TEMPLATE_FIELDS, "files", "conn_id")
    template_ext: Sequence[str] = (".html", ".txt")

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        subject: str | None = None,
        html_content: str | None = None,
        text_content: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        from_email: str | None = None,
        on_behalf_of: str | None = None,
        reply_to: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        importance: str = "normal",
        files: str | Sequence[str] | None = None,
        conn_id: str | None = None,
        template: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if template is not None:
            if html_content is not None:
                raise ValueError("M365EmailNotifier: give html_content or template, not both")
            html_content = Path(template).read_text(encoding="utf-8")
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.text_content = text_content
        self.cc = cc
        self.bcc = bcc
        self.set_sender_options(
            from_email=from_email, on_behalf_of=on_behalf_of, reply_to=reply_to, headers=headers,
            importance=importance,
        )
        self.files = files or []
        self.conn_id = conn_id

    def resolve_template_files(self) -> None:
        """Leave ``.html``/``.txt`` names as they are: they load at render time, from the DAG's search path."""
        self.prepare_template()

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render the templated fields with ``alert`` added to the context."""
        with_alert: Any = {**context, "alert": alert_from_context(context)}
        super().render_template_fields(with_alert, jinja_env or self._template_env(context))

    def _template_env(self, context: Context) -> jinja2.Environment:
        """Return the DAG's Jinja environment (its search path, macros, filters), or a plain one without a DAG.

        ``airflow dags test`` hands DAG callbacks a serialized DAG, which has no environment to offer.
        """
        dag = context.get("dag")
        return self.get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)

    def notify(self, context: Context) -> None:
        """Send the alert (task and DAG callbacks)."""
        hook = M365MailHook(m365mail_conn_id=self.conn_id or default_conn_id())
        message_ids = hook.send(**self._email(hook, context))
        self.log.info("Sent the alert: %s", ", ".join(message_ids))

    async def async_notify(self, context: Context) -> None:
        """Send the alert from a running event loop (deadline alerts in the triggerer)."""
        hook = M365MailHook(m365mail_conn_id=self.conn_id or default_conn_id())
        await hook.aget_settings()  # the Message-ID below needs the settings; read them without blocking
        message_ids = await hook.asend(**self._email(hook, context))
        self.log.info("Sent the alert: %s", ", ".join(message_ids))

    def _email(self, hook: M365MailHook, context: Context) -> dict[str, Any]:
        """Return the hook's send arguments: rendered fields, default content where none is given."""
        alert = alert_from_context(context)
        html, text = self.html_content, self.text_content
        if html is None and text is None:
            env = self._template_env(context)
            with_alert = {**context, "alert": alert}
            html = str(env.from_string(_default_template("alert.html")).render(with_alert))
            text = str(env.from_string(_default_template("alert.txt")).render(with_alert))
        return {
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "subject": self.subject or alert.subject,
            "html_content": html,
            "text_content": text,
            "files": [self.files] if isinstance(self.files, str) else list(self.files),
            **self.sender_arguments(hook, alert.message_seed),
            "ledger": self._ledger(context, alert),
        }

    def _ledger(self, context: Context, alert: Alert) -> DeliveryLedger | None:
        """Return the ledger of this notifier's alert about a task, so a callback run twice sends it once.

        Each notifier of a task keeps its own (its recipients and subject are part of the key); alerts about a DAG
        run have none: their callbacks run outside any task instance.
        """
        from airflow_provider_m365mail.hooks.delivery_ledger import ledger_for

        if alert.task_id is None:
            return None
        recipients = "|".join(str(field) for field in (self.to, self.cc, self.bcc, self.subject))
        return ledger_for(context, f"m365mail_alert_{_key(alert.message_seed + recipients)}", explain=False)


send_m365_email_notification = M365EmailNotifier

"""The sensor that waits until a Send As (or Send on Behalf) grant, or an app's mailbox access, is live."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_m365mail.airflow_compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)
from airflow_provider_m365mail.hooks.m365mail import M365MailHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.settings import MailSettings


class SendAsPermissionSensor(BaseSensorOperator):
    """
    Wait until the connection's account may send as (or on behalf of) a mailbox, then return when it went live.

    Exchange Online takes 30 to 60 minutes to apply a new Send As grant, and an application access policy for
    Graph app-only can take longer; a send before then fails. Each poke is one probe through the same core the
    operator sends with: over SMTP the envelope (``MAIL FROM``/``RCPT TO``/``RSET``, nothing sent), then once that
    passes one marked probe message to confirm the header check; over Graph a probe message. Probe messages carry
    ``[m365mail probe]`` in the subject and an ``X-M365Mail-Probe`` header and go to ``probe_recipient`` only.

    A missing or not yet propagated permission and transient errors (network, throttling) keep the sensor waiting;
    Exchange answers both with the same code, so each refused probe logs whose grant Exchange checks for this
    connection (for app-only XOAUTH2 the app's service principal, not the mailbox it signs in as) and, once the
    wait has outlasted propagation, that the grant is missing or on another principal;
    a refused sign-in, SMTP AUTH switched off, an unknown mailbox or a wrong setting fail the task at once, with
    the fix in the message. The return value (XCom) is a dict: ``mailbox``, ``permission``, ``transport``,
    ``method``, ``probes``, ``first_probe_at`` and ``live_at`` (ISO 8601, UTC).

    :param mailbox: The address to send as (or on behalf of); the connection's ``allowed_senders`` must permit
        it. (templated)
    :param permission: ``send_as`` (From = the mailbox) or ``send_on_behalf`` (From = the mailbox, Sender = the
        authentication account).
    :param probe: ``auto`` (SMTP: envelope, then one probe message; Graph: a probe message), ``message`` (a probe
        message every poke) or ``envelope`` (SMTP only: sends nothing; Send As only).
    :param probe_recipient: Where probe messages go (default: the authentication account's own mailbox).
        (templated)
    :param conn_id: The ``m365mail`` connection whose account needs the permission.
    :param deferrable: Wait in the triggerer instead of a worker slot after the first probe (default: the
        ``[operators] default_deferrable`` setting).
    :param poke_interval: Seconds between probes (with ``exponential_backoff``: the first wait, then doubling,
        capped by ``max_wait``).
    :param timeout: Seconds to wait in all before failing with ``AirflowSensorTimeout``.

    ``mode="reschedule"`` works too (ignored when deferrable): the report then counts the probes of every reschedule.
    """

    template_fields: Sequence[str] = ("mailbox", "probe_recipient")
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        mailbox: str,
        permission: str = "send_as",
        probe: str = "auto",
        probe_recipient: str | None = None,
        conn_id: str = M365MailHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        if permission not in ("send_as", "send_on_behalf"):
            raise ValueError(f"permission must be 'send_as' or 'send_on_behalf', not {permission!r}")
        if probe not in ("auto", "message", "envelope"):
            raise ValueError(f"probe must be 'auto', 'message' or 'envelope', not {probe!r}")
        self.mailbox = mailbox
        self.permission = permission
        self.probe = probe
        self.probe_recipient = probe_recipient
        self.conn_id = conn_id
        self.deferrable = deferrable
        self._hook: M365MailHook | None = None
        self._probes = 0
        self._first_probe_at: str | None = None
        self._started = 0.0

    def execute(self, context: Context) -> Any:
        """Probe in poke (or reschedule) mode; when deferrable, probe once here, then wait in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        self._started = time.monotonic()
        try:
            done = self.poke(context)
        except AirflowFailException as exc:  # what BaseSensorOperator.execute does in poke mode
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"skipped (soft_fail or never_fail): {exc}") from exc
            raise
        if done:
            return done.xcom_value
        from airflow_provider_m365mail.triggers.send_as import SendAsPermissionTrigger

        remaining = max(0.0, self.timeout - (time.monotonic() - self._started))
        self.defer(
            trigger=SendAsPermissionTrigger(
                conn_id=self.conn_id,
                mailbox=self.mailbox,
                permission=self.permission,
                probe=self.probe,
                probe_recipient=self.probe_recipient,
                poke_interval=self.poke_interval,
                exponential_backoff=self.exponential_backoff,
                max_wait=self.max_wait.total_seconds() if self.max_wait is not None else None,
                timeout_at=time.time() + remaining,
                probes=self._probes,
                first_probe_at=self._first_probe_at,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining + 60),  # the trigger's own deadline comes first
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """Probe once; return done with the report when the permission is live, fail when waiting cannot help."""
        from airflow_provider_m365mail.core.errors import ValidationError
        from airflow_provider_m365mail.core.probe import ProbeMode, ProbeVerdict, probe_send_as
        from airflow_provider_m365mail.core.run_sync import run_sync
        from airflow_provider_m365mail.triggers.send_as import live_report, utc_iso, utc_now_iso, waiting_report

        try:
            settings, identity = self._identity()
        except ValidationError as exc:
            raise AirflowFailException(str(exc)) from exc
        if self.reschedule and not self._probes and context.get("task_reschedule_count"):
            # Each reschedule is a fresh task process: count the earlier pokes of this try and when they began.
            self._probes = context["task_reschedule_count"]
            first = context["ti"].get_first_reschedule_date(context)
            self._first_probe_at = utc_iso(first) if first is not None else None
        self._probes += 1
        self._first_probe_at = self._first_probe_at or utc_now_iso()
        ti = context["ti"]
        probe_id = f"{ti.dag_id}:{ti.run_id}:{ti.task_id}:{ti.map_index}:{ti.try_number}:{self._probes}"
        outcome = run_sync(
            probe_send_as(settings, identity, mode=ProbeMode(self.probe), recipient=self.probe_recipient,
                          probe_id=probe_id)
        )
        if outcome.verdict is ProbeVerdict.LIVE:
            self.log.info("%s for %s is live after %d probe(s): %s", self.permission, self.mailbox, self._probes,
                          outcome.detail)
            report = live_report(
                mailbox=self.mailbox, permission=self.permission, transport=settings.transport.value,
                method=outcome.method, probes=self._probes, first_probe_at=self._first_probe_at,
            )
            return PokeReturnValue(True, report)
        if outcome.verdict is ProbeVerdict.FAILED:
            raise AirflowFailException(outcome.detail)
        warn, why = waiting_report(outcome, probes=self._probes, first_probe_at=self._first_probe_at)
        (self.log.warning if warn else self.log.info)("%s", why)
        return PokeReturnValue(False)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Finish after the trigger's event: return the report, or fail with the trigger's reason."""
        status = event.get("status")
        if status == "live":
            return event["report"]
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"{self.permission} for {self.mailbox} was not live after {event.get('probes')} probe(s) within "
                f"{self.timeout:g} s; last answer: {event.get('message')}"
            )
        raise AirflowFailException(str(event.get("message") or f"unexpected trigger event {event!r}"))

    def _identity(self) -> tuple[MailSettings, SenderIdentity]:
        from airflow_provider_m365mail.core.probe import probe_identity

        if self._hook is None:
            self._hook = M365MailHook(self.conn_id)
        settings = self._hook.get_settings()
        return settings, probe_identity(settings, self.mailbox, self.permission)

"""Describe one Airflow alert (a task failed, will retry or succeeded; a run missed its deadline) as plain facts.

The notifier reads these facts from Airflow's context; the templates turn them into a subject and bodies. Nothing
here imports Airflow, so the rules (the Airflow UI link, the exception summary, the Message-ID seed) are tested
without it and hold on every Airflow 3 version.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

# Enough of an exception for an alert; the rest is in the task log, one click away.
EXCEPTION_LIMIT = 4000
_EXCEPTION_TAIL = 1000


class AlertEvent(str, enum.Enum):
    """What happened."""

    FAILURE = "failure"
    RETRY = "retry"
    SUCCESS = "success"
    DEADLINE_MISSED = "deadline_missed"


_TASK_HEADLINES = {
    AlertEvent.FAILURE: "Task failed",
    AlertEvent.RETRY: "Task will retry",
    AlertEvent.SUCCESS: "Task succeeded",
}
_RUN_HEADLINES = {
    AlertEvent.FAILURE: "DAG run failed",
    AlertEvent.RETRY: "DAG run will retry",
    AlertEvent.SUCCESS: "DAG run succeeded",
    AlertEvent.DEADLINE_MISSED: "DAG run missed its deadline",
}
_TASK_STATES = {"failed": AlertEvent.FAILURE, "up_for_retry": AlertEvent.RETRY, "success": AlertEvent.SUCCESS}


def event_for_state(state: str | None, *, failed: bool) -> AlertEvent:
    """Return the event a task or run state reports; ``failed`` (an exception is known) decides unknown states."""
    known = _TASK_STATES.get((state or "").lower())
    if known is not None:
        return known
    return AlertEvent.FAILURE if failed else AlertEvent.SUCCESS


def ui_link(
    base_url: str,
    *,
    dag_id: str,
    run_id: str,
    task_id: str | None = None,
    map_index: int = -1,
    try_number: int | None = None,
) -> str:
    """Return the Airflow 3 UI page of a run, or of a task's log in that run (one try when ``try_number`` is set).

    The form is the UI's own route: ``/dags/{dag}/runs/{run}/tasks/{task}[/mapped/{index}]?try_number=N``.
    """
    link = f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    if task_id is None:
        return link
    link += f"/tasks/{quote(task_id, safe='')}"
    if map_index >= 0:
        link += f"/mapped/{map_index}"
    if try_number is not None and try_number > 0:
        link += f"?try_number={try_number}"
    return link


def summarize_exception(
    error: BaseException | str | None, limit: int = EXCEPTION_LIMIT, *, redact: Callable[[str], str] = str
) -> str | None:
    """Return the exception as ``Type: message``, secrets masked by ``redact``, cut in the middle when longer than
    ``limit`` characters.

    The start says what failed and the end often says why (a chained cause, a server reply), so both are kept.
    Masking comes first: a secret cut in two at the boundary would no longer be recognised, and half of it mailed.
    """
    if error is None:
        return None
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = redact(text).strip()
    if len(text) <= limit:
        return text
    tail = min(_EXCEPTION_TAIL, limit // 4)
    head = limit - tail
    left_out = len(text) - head - tail
    return f"{text[:head]}\n[... {left_out:,} characters left out: the task log has the full text ...]\n{text[-tail:]}"


@dataclass(frozen=True)
class Alert:
    """The facts one alert reports. Task fields are ``None`` for an alert about a whole DAG run, which may carry
    Airflow's ``reason`` for it instead ("task_failure", "success", ...)."""

    event: AlertEvent
    dag_id: str
    run_id: str
    link: str
    task_id: str | None = None
    map_index: int = -1
    logical_date: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    state: str | None = None
    hostname: str | None = None
    exception: str | None = None
    reason: str | None = None
    deadline: str | None = None

    @property
    def headline(self) -> str:
        """Return the words that open the subject and the body: "Task failed", "DAG run succeeded", ..."""
        if self.task_id is not None and self.event in _TASK_HEADLINES:
            return _TASK_HEADLINES[self.event]
        return _RUN_HEADLINES[self.event]

    @property
    def task_label(self) -> str | None:
        """Return the task id, with the map index of a mapped task instance (``load[3]``)."""
        if self.task_id is None:
            return None
        return f"{self.task_id}[{self.map_index}]" if self.map_index >= 0 else self.task_id

    @property
    def tries(self) -> str | None:
        """Return "try N of M", M counting the first try (Airflow's ``max_tries`` counts retries only)."""
        if self.try_number is None:
            return None
        if self.max_tries is None:
            return f"try {self.try_number}"
        return f"try {self.try_number} of {self.max_tries + 1}"

    @property
    def subject(self) -> str:
        """Return the default subject: what happened, where, and which try."""
        where = f"{self.dag_id}.{self.task_label}" if self.task_label else self.dag_id
        details = ", ".join(part for part in (f"run {self.run_id}", self.tries) if part)
        return f"Airflow: {self.headline}: {where} ({details})"

    @property
    def message_seed(self) -> str:
        """Return what the alert's Message-ID derives from: the same alert sent twice is one message to Exchange."""
        parts = [self.event.value, self.dag_id, self.run_id, self.task_id or "", str(self.map_index)]
        parts.append(str(self.try_number) if self.try_number is not None else (self.deadline or ""))
        return "airflow-alert/" + "/".join(parts)

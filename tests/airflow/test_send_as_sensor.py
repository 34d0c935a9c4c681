"""SendAsPermissionSensor in a real Airflow (``airflow dags test``) against grants the sandbox applies late.

One DAG run covers SMTP and Graph, poke, deferrable and reschedule mode: each waiting sensor starts before its grant
(SMTP Send As or Send on Behalf) or access policy (Graph app-only) is live, given only once the sandbox has refused that
sensor's first probe, and must finish only after; sensors whose grant never comes time out; refused credentials fail
at once with the hint. The tests read the snapshot of that run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.sandbox.config import Right
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import SandboxState, SendAsChannel

pytestmark = pytest.mark.airflow

TEST_DAGS = Path(__file__).parent / "dags"
SERVICE = "airflow@contoso.com"
WAITING: dict[str, tuple[str, Right]] = {  # task -> (mailbox, permission) it waits for
    "smtp_poke": ("alerts@contoso.com", "send_as"),
    "smtp_deferred": ("bob@contoso.com", "send_as"),
    "graph_poke": ("alerts@contoso.com", "send_as"),
    "graph_deferred": ("bob@contoso.com", "send_as"),
    "smtp_reschedule": ("data-team@contoso.com", "send_on_behalf"),
}
CLIENT_SECRET_TRIED = "not-the-client-secret"
PROPAGATION_S = 1.0


def prepare(sandbox: Sandbox) -> None:
    """Take the app's rights on the waiting mailboxes away (SMTP) or keep it out of them (Graph); rotate a password."""
    state, app = sandbox.state, sandbox.settings["client_id"]
    state.update_tenant(
        apps=tuple(replace(a, graph_scope=(SERVICE,)) for a in state.tenant.apps),
        mailboxes=tuple(replace(m, password="Rotated-Passw0rd!") if m.address == SERVICE else m
                        for m in state.tenant.mailboxes),
    )
    for task, (mailbox, permission) in WAITING.items():
        if task.startswith("smtp"):
            state.revoke(app, mailbox, permission)  # the tenant starts with the app's Send on Behalf on data-team


def grants_on_refusal(app: str) -> dict[tuple[SendAsChannel, str], Callable[[SandboxState], None]]:
    """Grant the app Send As or Send on Behalf (SMTP) or access (Graph) to each waiting sensor's mailbox.

    Each grant propagates for PROPAGATION_S, as Exchange's do: a sensor in reschedule mode reads its first probe's
    time from Airflow's reschedule record, written a moment after the refused probe itself.
    """
    found: dict[tuple[SendAsChannel, str], Callable[[SandboxState], None]] = {}
    for task, (mailbox, permission) in WAITING.items():
        if task.startswith("smtp"):
            found["smtp", mailbox] = partial(SandboxState.grant, principal=app, mailbox=mailbox, right=permission,
                                             delay_s=PROPAGATION_S)
        else:
            found["graph", mailbox] = partial(SandboxState.add_to_graph_scope, client_id=app, mailbox=mailbox,
                                              delay_s=PROPAGATION_S)
    return found


@dataclass
class SensorRun:
    outcome: Any
    effective_at: dict[str, float]  # task -> when its grant or access went live (epoch seconds)
    durations: dict[str, float]


@pytest.fixture(scope="module")
def sensor_run(dag_runner: Any) -> SensorRun:
    allow = {"allowed_senders": "*@contoso.com"}
    outcome = dag_runner.run(
        "m365mail_send_as_sensors",
        dags_folder=TEST_DAGS,
        default_connection="graph",
        extra_changes={
            "m365mail_smtp_oauth2": allow,
            "m365mail_smtp_basic": allow,
            "m365mail_graph": allow,
            "m365mail_default": {**allow, "client_secret": CLIENT_SECRET_TRIED},
        },
        before=prepare,
        grant_on_refusal=grants_on_refusal(dag_runner.sandbox.settings["client_id"]),
    )
    sandbox = dag_runner.sandbox
    grants = sandbox.call(sandbox.state.grants_view)
    scopes = sandbox.call(sandbox.state.graph_scope_view)
    effective_at = {}
    for task, (mailbox, permission) in WAITING.items():
        rows = grants if task.startswith("smtp") else scopes
        [row] = [r for r in rows if r["mailbox"] == mailbox and r.get("right", "send_as") == permission
                 and r.get("principal", r.get("client_id")) == sandbox.settings["client_id"]]
        effective_at[task] = row["effective_at"]
    with sqlite3.connect(dag_runner.home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, (julianday(end_date) - julianday(start_date)) * 86400 FROM task_instance "
            "WHERE dag_id = 'm365mail_send_as_sensors'"
        ).fetchall()
    return SensorRun(outcome, effective_at, {task: seconds for task, seconds in rows})


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_every_task_ends_as_expected(sensor_run: SensorRun) -> None:
    expected = {
        **dict.fromkeys(WAITING, "success"),
        **dict.fromkeys(("smtp_never", "graph_never", "smtp_bad_password", "graph_bad_secret"), "failed"),
        "smtp_bad_password_soft_fail": "skipped",
    }
    states = sensor_run.outcome.task_states
    wrong = [task for task in expected if states.get(task) != expected[task]]
    assert states == expected, "\n".join(sensor_run.outcome.task_log(task)[-3000:] for task in wrong)


@pytest.mark.parametrize("task", list(WAITING))
def test_a_sensor_succeeds_after_the_delay_and_not_before(sensor_run: SensorRun, task: str) -> None:
    report = sensor_run.outcome.return_values[task]
    mailbox, permission = WAITING[task]
    transport = "smtp" if task.startswith("smtp") else "graph"
    assert (report["mailbox"], report["permission"], report["transport"]) == (mailbox, permission, transport)
    # Send on Behalf keeps the account in MAIL FROM: only a probe message can tell.
    envelope_first = transport == "smtp" and permission == "send_as"
    assert report["method"] == ("envelope+message" if envelope_first else "message")
    assert report["probes"] >= 2
    assert epoch(report["first_probe_at"]) < sensor_run.effective_at[task] <= epoch(report["live_at"])
    assert epoch(report["live_at"]) - sensor_run.effective_at[task] < 6  # seen within a poke or two
    assert report["live_at"].endswith("+00:00")


def test_probe_messages_are_marked_and_go_only_to_the_probe_recipient(sensor_run: SensorRun) -> None:
    outcome = sensor_run.outcome
    sent = sorted((m.transport, outcome.parsed[m.id]["From"].addresses[0].addr_spec) for m in outcome.messages)
    assert sent == sorted(
        ("smtp_submission" if task.startswith("smtp") else "graph", mailbox) for task, (mailbox, _) in WAITING.items()
    )  # one confirming probe message per grant, none while waiting
    rights = {mailbox: permission for mailbox, permission in WAITING.values()}
    for stored in outcome.messages:
        parsed = outcome.parsed[stored.id]
        mailbox = parsed["From"].addresses[0].addr_spec
        right = rights[mailbox].replace("_", " ")
        assert stored.envelope_to == (SERVICE,)
        assert parsed["To"].addresses[0].addr_spec == SERVICE and parsed["Cc"] is None
        assert parsed["Subject"] == f"[m365mail probe] {right} {mailbox}"
        assert str(parsed["X-M365Mail-Probe"]).strip().startswith(f"{right.replace(' ', '-')}; mailbox={mailbox}; id=")
        if right == "send on behalf":
            assert parsed["Sender"].addresses[0].addr_spec == SERVICE


@pytest.mark.parametrize("task", ["smtp_never", "graph_never"])
def test_a_grant_that_never_comes_times_out(sensor_run: SensorRun, task: str) -> None:
    assert 4 <= sensor_run.durations[task] < 30
    log = sensor_run.outcome.task_log(task)
    assert "AirflowSensorTimeout" in log
    assert ("5.7.60" if task.startswith("smtp") else "ErrorAccessDenied") in log


@pytest.mark.parametrize(
    ("task", "code", "hint"),
    [("smtp_bad_password", "535 5.7.3", "check login and password"),
     ("graph_bad_secret", "AADSTS7000215", "client secret")],
)
def test_refused_credentials_fail_at_once_with_the_hint(sensor_run: SensorRun, task: str, code: str, hint: str) -> None:
    assert sensor_run.durations[task] < 15  # not the 600 s timeout
    log = sensor_run.outcome.task_log(task)
    assert code in log
    assert hint.casefold() in log.casefold()
    assert "AirflowFailException" in log


def test_soft_fail_skips_at_once_on_refused_credentials_in_deferrable_mode(sensor_run: SensorRun) -> None:
    assert sensor_run.durations["smtp_bad_password_soft_fail"] < 15
    log = sensor_run.outcome.task_log("smtp_bad_password_soft_fail")
    assert "Skipping task." in log and "535 5.7.3" in log


def test_no_secret_reaches_the_output_or_xcom(sensor_run: SensorRun, dag_runner: Any) -> None:
    assert "Sandbox-Passw0rd!" in dag_runner.secrets()  # the password the bad_password task signs in with
    xcom = json.dumps(sensor_run.outcome.return_values)
    for text in (sensor_run.outcome.output, xcom):
        dag_runner.assert_no_secrets(text, also=[CLIENT_SECRET_TRIED])

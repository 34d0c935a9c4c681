"""A real Airflow for the integration tests: one migrated AIRFLOW_HOME per session, DAG runs in subprocesses.

Each ``airflow dags test`` costs 10-20 s on a small machine, so a test module runs its DAG once (in a
module-scoped fixture, through ``dag_runner``) and its tests assert on the snapshot of what the sandbox received.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.sandbox.airflow_run import (
    DEFAULT_SANDBOX_CONNECTION,
    EXAMPLE_DAGS,
    LocalAirflow,
    sandbox_connections,
    tail,
)
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import SandboxState, SendAsChannel, StoredMessage

_JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
# A log line's time: "2026-01-31T08:00:00.123Z [info ..." (3.1+), "[2026-01-31T08:00:00.123+0000] {..." (3.0).
# Airflow 3.0's in-process `dags test` supervisor logs each request at debug level, a secret it is asked to mask
# included: Airflow's own line, left out of the secret scan on that version (any other leak is still caught).
_MASK_REQUEST = re.compile(r"^.*Sending request\s+msg=MaskSecret\(.*$", re.MULTILINE)
_LOG_TIME = re.compile(r"^\[?(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d(?:\.\d+)?)")

# A grant to give once the sandbox has refused a client on this channel for this mailbox, e.g. a waiting sensor's probe
GrantOnRefusal = Mapping[tuple[SendAsChannel, str], Callable[[SandboxState], None]]

# The in-process tests import Airflow: keep it away from ~/airflow (subprocesses get their own home anyway).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="m365mail-tests-airflow-"))


@dataclass
class DagRunOutcome:
    """What one ``airflow dags test`` did: its output, the mail the sandbox received, the XComs it left."""

    process: subprocess.CompletedProcess[str]
    messages: list[StoredMessage]
    parsed: dict[str, EmailMessage]
    stats: dict[str, int]
    return_values: dict[str, Any] = field(default_factory=dict)  # task id -> its return value (XCom)
    task_states: dict[str, str] = field(default_factory=dict)  # task id -> final state
    try_numbers: dict[str, int] = field(default_factory=dict)  # task id -> how many tries it ran
    run_id: str = ""

    def task_log(self, task_id: str) -> str:
        """Return the parts of the output ``airflow dags test`` printed while running ``task_id``.

        Every run of the task counts: Airflow 3.0 starts a deferred task afresh when its trigger fires.
        """
        marker = f"[DAG TEST] starting task_id={task_id} "
        assert marker in self.output, f"{task_id} did not run"
        runs = self.output.split(marker)[1:]
        return "".join(run.split("[DAG TEST] starting task_id=", 1)[0] for run in runs)

    @property
    def output(self) -> str:
        """Return everything the ``airflow`` process printed, in the order it printed it.

        Airflow 3.1 writes task logs to stdout and its own (the ``[DAG TEST]`` lines) to stderr: the two streams
        are merged by the time on each log line, so a task's lines sit between its ``[DAG TEST]`` lines.
        """
        return "".join(text for _, text in heapq.merge(_records(self.process.stdout),
                                                        _records(self.process.stderr), key=lambda r: r[0]))

    def received(self, subject_prefix: str) -> tuple[StoredMessage, EmailMessage]:
        """Return the one message whose subject starts with ``subject_prefix``."""
        found = [m for m in self.messages if m.subject.startswith(subject_prefix)]
        assert len(found) == 1, f"expected one message {subject_prefix!r}, got {[m.subject for m in self.messages]}"
        return found[0], self.parsed[found[0].id]


@dataclass
class DagRunner:
    """Run DAGs with the session's Airflow against the session's sandbox (reset before every run)."""

    home: Path
    sandbox: Sandbox

    def run(
        self,
        dag_id: str,
        *,
        dags_folder: Path = EXAMPLE_DAGS,
        extra_changes: Mapping[str, Mapping[str, Any]] | None = None,
        field_changes: Mapping[str, Mapping[str, Any]] | None = None,
        default_connection: str = DEFAULT_SANDBOX_CONNECTION,
        config: Mapping[str, str] | None = None,
        before: Callable[[Sandbox], None] | None = None,
        grant_on_refusal: GrantOnRefusal | None = None,
    ) -> DagRunOutcome:
        """Run ``dag_id`` once with ``airflow dags test`` and snapshot the outcome.

        ``extra_changes`` patches the extras of the sandbox's connections, by conn id, for this run, and
        ``field_changes`` their other fields (``password``, ``host`` ...); ``config``
        adds ``AIRFLOW__SECTION__KEY`` settings; ``before`` prepares the freshly reset sandbox (grants, faults,
        tenant changes) on its own thread, e.g. ``lambda s: s.state.grant(...)``. ``grant_on_refusal`` gives each
        grant once the sandbox has refused its channel and mailbox, so a sensor surely starts before its grant is
        live and gets it after one refused probe, however long Airflow takes to start.
        """
        airflow = self._airflow(dags_folder, extra_changes, default_connection, config, field_changes)
        self.sandbox.reset()
        if before is not None:
            prepare = before
            self.sandbox.call(lambda: prepare(self.sandbox))
        with self._granting_on_refusal(grant_on_refusal or {}):
            process = airflow.dags_test(dag_id)
        return self._outcome(airflow, dag_id, process)

    def clear_and_rerun(
        self,
        earlier: DagRunOutcome,
        dag_id: str,
        task_ids: Sequence[str],
        *,
        dags_folder: Path = EXAMPLE_DAGS,
        default_connection: str = DEFAULT_SANDBOX_CONNECTION,
    ) -> DagRunOutcome:
        """Clear the finished tasks of an earlier run, as a user does in the UI, and run them again in that run.

        ``airflow tasks clear`` then ``airflow tasks test`` for each task; the sandbox keeps what it received.
        """
        airflow = self._airflow(dags_folder, None, default_connection, None)
        names = "|".join(f"^{task_id}$" for task_id in task_ids)
        cleared = airflow.cli("tasks", "clear", dag_id, "-t", names, "-y")
        assert cleared.returncode == 0, tail(cleared)
        runs = [airflow.cli("tasks", "test", dag_id, task_id, earlier.run_id) for task_id in task_ids]
        process = subprocess.CompletedProcess(
            runs[0].args, max(r.returncode for r in runs), "".join(r.stdout for r in runs),
            "".join(r.stderr for r in runs),
        )
        return self._outcome(airflow, dag_id, process)

    def run_at_once(
        self,
        dag_id: str,
        envs: Sequence[Mapping[str, str]],
        *,
        barrier: Path,
        dags_folder: Path = EXAMPLE_DAGS,
        extra_changes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run ``dag_id`` in ``len(envs)`` ``airflow dags test`` processes at once, each from its own copy of the
        session's Airflow home with its own environment; the sandbox is not reset (the test prepares it).

        Each DAG touches ``barrier/ready-<n>`` and waits for ``barrier/go``, touched once all are ready, so the
        processes send together however long each takes to start.
        """
        runs = []
        for number, env in enumerate(envs):
            home = self.home.parent / f"{self.home.name}-{dag_id}-{number}"
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(self.home, home, ignore=shutil.ignore_patterns("logs"))
            airflow = self._airflow(dags_folder, extra_changes, DEFAULT_SANDBOX_CONNECTION, env)
            runs.append(replace(airflow, home=home))
        over = threading.Event()

        def release() -> None:
            while not over.wait(0.01):
                if len(list(barrier.glob("ready-*"))) == len(runs):
                    (barrier / "go").touch()
                    return

        releaser = threading.Thread(target=release, daemon=True)
        releaser.start()
        try:
            with ThreadPoolExecutor(len(runs)) as pool:
                processes = list(pool.map(lambda airflow: airflow.dags_test(dag_id), runs))
        finally:
            over.set()
            releaser.join()
        self.sandbox.raise_server_errors()
        return processes

    def _airflow(
        self,
        dags_folder: Path,
        extra_changes: Mapping[str, Mapping[str, Any]] | None,
        default_connection: str,
        config: Mapping[str, str] | None,
        field_changes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> LocalAirflow:
        connections = sandbox_connections(self.sandbox.settings, default_connection)
        for conn_id, changes in (extra_changes or {}).items():
            connections[conn_id] = {**connections[conn_id], "extra": {**connections[conn_id]["extra"], **changes}}
        for conn_id, changes in (field_changes or {}).items():
            connections[conn_id] = {**connections[conn_id], **changes}
        return LocalAirflow(home=self.home, connections=connections, dags_folder=dags_folder, config=config or {})

    def _outcome(
        self, airflow: LocalAirflow, dag_id: str, process: subprocess.CompletedProcess[str]
    ) -> DagRunOutcome:
        messages = self.sandbox.messages()
        outcome = DagRunOutcome(
            process=process,
            messages=messages,
            parsed={m.id: self.sandbox.parsed(m.id) for m in messages},
            stats=self.sandbox.call(lambda: dict(self.sandbox.state.stats)),
            **from_metadata(airflow.database, dag_id),
        )
        self.sandbox.raise_server_errors()
        return outcome

    @contextmanager
    def _granting_on_refusal(self, grants: GrantOnRefusal) -> Iterator[None]:
        """Watch the sandbox's refusals on a thread while the run lasts; give each grant after its first refusal."""
        sandbox, run_over = self.sandbox, threading.Event()

        def watch() -> None:
            pending = dict(grants)
            while pending and not run_over.wait(0.2):
                for key in [k for k in pending if sandbox.call(partial(sandbox.state.send_as_refusals, *k))]:
                    sandbox.call(partial(pending.pop(key), sandbox.state))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            run_over.set()
            watcher.join()

    def secrets(self) -> list[str]:
        """Return every credential the sandbox's connections carry."""
        settings = self.sandbox.settings
        found = {m["password"] for m in settings["mailboxes"] if m.get("password")}
        found.add(settings["client_secret"])
        for connection in settings["airflow_connections"].values():
            found.update(v for k, v in connection.get("extra", {}).items() if "secret" in k and v)
            if connection.get("password"):
                found.add(connection["password"])
        return sorted(s for s in found if s)

    def assert_no_secrets(self, text: str, also: Sequence[str] = ()) -> None:
        """Fail if ``text`` holds a credential (the sandbox's, or one in ``also``) or anything shaped like a JWT."""
        from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION  # imports Airflow: not before AIRFLOW_HOME

        if AIRFLOW_VERSION < (3, 1):
            text = _MASK_REQUEST.sub("", text)
        leaked = [s for s in [*self.secrets(), *also] if s in text]
        assert not leaked, f"{len(leaked)} secret(s) appear in the output"
        assert not _JWT.search(text), "an access token (JWT) appears in the output"


def _records(stream: str) -> list[tuple[str, str]]:
    """Split a log stream into (time, text) records; an untimed line (a traceback's) joins the record above it."""
    records: list[tuple[str, str]] = []
    for line in stream.splitlines(keepends=True):
        found = _LOG_TIME.match(line)
        if found or not records:
            records.append(("T".join(found.groups()) if found else "", line))
        else:
            records[-1] = (records[-1][0], records[-1][1] + line)
    return records


def from_metadata(database: Path, dag_id: str) -> dict[str, Any]:
    """Read the task states and return values (XCom) of the DAG's latest run from the metadata database."""
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
        if row is None:
            return {"return_values": {}, "task_states": {}, "try_numbers": {}, "run_id": ""}
        run = (dag_id, row[0])
        values = db.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'", run
        ).fetchall()
        states = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", run).fetchall()
        tries = db.execute("SELECT task_id, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
                           run).fetchall()
    return {
        # SQLite hands a JSON number back as a number, anything else as the JSON text
        "return_values": {task_id: value if isinstance(value, (int, float)) else json.loads(value)
                          for task_id, value in values},
        "task_states": dict(states),
        "try_numbers": dict(tries),
        "run_id": row[0],
    }


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return an AIRFLOW_HOME whose SQLite database is migrated (once per session: it takes several seconds)."""
    home = tmp_path_factory.mktemp("airflow-home")
    LocalAirflow(home).migrate()
    return home


@pytest.fixture(scope="session")
def dag_runner(airflow_home: Path, m365_sandbox_session: Sandbox) -> DagRunner:
    """Return the runner of DAGs against the session's Airflow and sandbox."""
    return DagRunner(airflow_home, m365_sandbox_session)

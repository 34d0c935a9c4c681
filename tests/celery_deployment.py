"""A real Airflow deployment with the CeleryExecutor on this machine, started and always stopped by one context manager.

An api-server (the execution API the task processes talk to), a scheduler, a dag-processor and ``workers`` Celery
workers of ``concurrency`` processes each, sharing one AIRFLOW_HOME. The broker and the result backend are databases
1 and 2 of the Redis given (the pacing uses database 0 of the same Redis, as a deployment's Celery Redis would).

The metadata database is SQLite: Airflow 3.3 does not refuse it with the CeleryExecutor, and since Airflow 3 the
workers never open it (their task processes go through the api-server's execution API), so only the scheduler, the
dag-processor and the api-server write it; WAL journal mode (set once, kept in the file) lets them read while one
writes. Every process starts in a session of its own so that stopping it stops its children (Celery's pool
processes, the tasks' supervisors) too.

Run it by hand with ``python tests/celery_deployment.py REDIS_URL`` (a DAGs folder of the example DAGs, until
Ctrl-C).
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from airflow_provider_m365mail.sandbox.airflow_run import EXAMPLE_DAGS, LocalAirflow

START_TIMEOUT_S = 240.0  # a failure bound for a loaded 2-core machine, not a measurement
STOP_TIMEOUT_S = 30.0


def redis_database(url: str, number: int) -> str:
    """Return ``url`` (``redis://host:port/N``) pointing at database ``number``."""
    return f"{url.rsplit('/', 1)[0]}/{number}"


def deployment_config(redis_url: str, api_port: int) -> dict[str, str]:
    """Return the ``AIRFLOW__*`` settings every process of the deployment shares."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": redis_database(redis_url, 1),
        "AIRFLOW__CELERY__RESULT_BACKEND": redis_database(redis_url, 2),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


class Component:
    """One process of the deployment; its output goes to ``log``, ``ready`` is set at ``ready_line`` (or exit)."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], cwd: Path, ready_line: str) -> None:
        self.name = name
        self.log = cwd / f"{name}.log"
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            command, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self._ready_line = ready_line
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("w", encoding="utf-8") as sink:
            for line in self.process.stdout:
                sink.write(line)
                sink.flush()
                if self._ready_line in line:
                    self.ready.set()
        self.ready.set()

    def wait_ready(self) -> None:
        """Return once the process said it is ready; raise with its log if it exited or never said so."""
        if not self.ready.wait(START_TIMEOUT_S) or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} did not start:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the process and everything it started (its session): SIGTERM, then SIGKILL after a while."""
        if self.process.poll() is None:
            _signal_session(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_session(self.process.pid, signal.SIGKILL)
                self.process.wait()
        _signal_session(self.process.pid, signal.SIGKILL)  # children that outlived their parent
        self._copier.join(timeout=10)


def _signal_session(session_id: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(session_id, sig)


@contextmanager
def celery_deployment(
    home: Path,
    *,
    redis_url: str,
    api_port: int,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    dags_folder: Path = EXAMPLE_DAGS,
    workers: int = 2,
    concurrency: int = 4,
) -> Iterator[LocalAirflow]:
    """Run the deployment until the block ends; yield the ``LocalAirflow`` its CLI commands run with."""
    airflow = LocalAirflow(
        home, connections=connections or {}, dags_folder=dags_folder, config=deployment_config(redis_url, api_port)
    )
    airflow.migrate()
    with sqlite3.connect(airflow.database) as db:
        db.execute("PRAGMA journal_mode=WAL")
    airflow_cli = [sys.executable, "-m", "airflow"]
    env = airflow.env()
    with ExitStack() as running:
        components = [
            Component("api-server", [*airflow_cli, "api-server", "-H", "127.0.0.1", "-p", str(api_port), "-w", "1",
                                     "--apps", "execution"], env, home, "Uvicorn running on"),
            Component("scheduler", [*airflow_cli, "scheduler"], env, home, "Starting the scheduler"),
            Component("dag-processor", [*airflow_cli, "dag-processor"], env, home, "Starting the Dag Processor Job"),
            *(Component(f"worker-{n}", [*airflow_cli, "celery", "worker", "--celery-hostname", f"worker{n}@%h",
                                        "--concurrency", str(concurrency), "--skip-serve-logs", "--without-gossip",
                                        "--without-mingle"], env, home, " ready.")
              for n in range(1, workers + 1)),
        ]
        for component in components:
            running.callback(component.stop)
        for component in components:
            component.wait_ready()
        yield airflow


if __name__ == "__main__":
    import tempfile

    from proxy_servers import free_port

    with tempfile.TemporaryDirectory() as folder, celery_deployment(
        Path(folder), redis_url=sys.argv[1], api_port=free_port()
    ):
        print(f"running in {folder}; Ctrl-C stops it", flush=True)
        threading.Event().wait()

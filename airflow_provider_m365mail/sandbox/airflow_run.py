"""Drive a throwaway Airflow (its own AIRFLOW_HOME on SQLite) through the ``airflow`` command line.

``m365mail demo``, the pytest plugin's ``m365_dag_test`` and the integration tests all run DAGs this way: a real
scheduler-free ``airflow dags test`` in a subprocess, with connections passed as ``AIRFLOW_CONN_*`` environment
variables. ``dag.test()`` inside a test process would need a migrated metadata database and an
``AIRFLOW__CORE__DAGS_FOLDER`` holding the DAG ("the dag is not serialized" otherwise), both set before Airflow is
first imported; a subprocess gets all of it cleanly. Inherited ``AIRFLOW_*`` variables are dropped so that a user's
own Airflow configuration (and database) is never touched, and Airflow is never imported here, so the plugin keeps
working for projects that use the sandbox without Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"
DEFAULT_CONN_ID = "m365mail_default"
# The sandbox connection the default connection points at: app-only OAuth2 over SMTP AUTH, as recommended.
DEFAULT_SANDBOX_CONNECTION = "smtp_oauth2"


def sandbox_connections(
    settings: Mapping[str, Any], default: str = DEFAULT_SANDBOX_CONNECTION
) -> dict[str, dict[str, Any]]:
    """Map the sandbox's ready-made connections to conn ids: ``m365mail_default`` (``default``) plus
    ``m365mail_<name>`` for each."""
    ready: Mapping[str, dict[str, Any]] = settings["airflow_connections"]
    connections = {f"m365mail_{name}": dict(conn) for name, conn in ready.items()}
    connections[DEFAULT_CONN_ID] = dict(ready[default])
    return connections


def connection_variables(settings: Mapping[str, Any], default: str = DEFAULT_SANDBOX_CONNECTION) -> dict[str, str]:
    """Return the sandbox's connections (``sandbox_connections``) as ``AIRFLOW_CONN_M365MAIL_*`` variables."""
    return {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
        for conn_id, conn in sandbox_connections(settings, default).items()
    }


@dataclass
class LocalAirflow:
    """A private Airflow installation under ``home``; ``connections`` maps conn id -> Airflow JSON connection."""

    home: Path
    connections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    dags_folder: Path = EXAMPLE_DAGS
    timeout: float = 600.0
    config: Mapping[str, str] = field(default_factory=dict)  # extra AIRFLOW__SECTION__KEY settings

    def env(self) -> dict[str, str]:
        """Return the environment of an ``airflow`` subprocess: this home, these DAGs and connections only."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
        )
        env.update(self.config)
        for conn_id, connection in self.connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` with this installation's environment; return the finished process."""
        self.home.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )

    def migrate(self) -> None:
        """Create or upgrade the SQLite metadata database; raise ``RuntimeError`` with Airflow's output if it fails."""
        done = self.cli("db", "migrate")
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed (exit {done.returncode}):\n{tail(done)}")

    def dags_test(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        """Run one DAG run of a DAG in the DAGs folder with ``airflow dags test`` (``conf`` as its run conf)."""
        return self.cli("dags", "test", dag_id, *(["--conf", json.dumps(conf)] if conf else []))

    @property
    def database(self) -> Path:
        """Return the SQLite file holding the metadata (DAG runs, task instances, XComs)."""
        return self.home / "airflow.db"


def tail(done: subprocess.CompletedProcess[str] | DagTestRun, lines: int = 60) -> str:
    """Return the last ``lines`` lines of a finished process's combined output."""
    output = (done.stdout or "") + (done.stderr or "")
    return "\n".join(output.splitlines()[-lines:])


@dataclass(frozen=True)
class DagTestRun:
    """What one ``airflow dags test`` printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        """Tell whether the DAG run succeeded (``airflow dags test`` exits 0 only then)."""
        return self.returncode == 0

    def tail(self, lines: int = 80) -> str:
        """Return the last lines of the combined output, for an assertion message."""
        return tail(self, lines)

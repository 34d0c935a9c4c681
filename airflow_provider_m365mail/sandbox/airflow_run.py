"""Run a user's DAG with ``airflow dags test`` against the sandbox, in a throwaway Airflow (the pytest plugin's).

``dag.test()`` inside a test process needs a migrated metadata database and an ``AIRFLOW__CORE__DAGS_FOLDER`` that
holds the DAG ("the dag is not serialized" otherwise), both set before Airflow is first imported. A subprocess gets
all of it cleanly: its own ``AIRFLOW_HOME`` on SQLite (migrated once per session), the DAG's folder as DAGs folder,
and the sandbox's connections as ``AIRFLOW_CONN_*`` variables. Airflow is never imported here, so the plugin keeps
working for projects that use the sandbox without Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONNECTION = "smtp_oauth2"  # what m365mail_default points at: app-only OAuth2 over SMTP AUTH


def connection_variables(settings: Mapping[str, Any], default: str = DEFAULT_CONNECTION) -> dict[str, str]:
    """Return ``AIRFLOW_CONN_M365MAIL_<NAME>`` for each ready-made sandbox connection, plus ``..._DEFAULT``."""
    ready: Mapping[str, Mapping[str, Any]] = settings["airflow_connections"]
    variables = {f"AIRFLOW_CONN_M365MAIL_{name.upper()}": json.dumps(conn) for name, conn in ready.items()}
    variables["AIRFLOW_CONN_M365MAIL_DEFAULT"] = json.dumps(ready[default])
    return variables


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
        return "\n".join((self.stdout + self.stderr).splitlines()[-lines:])


@dataclass(frozen=True)
class ThrowawayAirflow:
    """An Airflow home on SQLite that only the tests use; nothing of the user's own Airflow is read or changed."""

    home: Path
    timeout_s: float = 600.0

    def run(self, *args: str, dags_folder: Path | None = None, env: Mapping[str, str] | None = None) -> DagTestRun:
        """Run ``airflow ARGS`` in this home with ``env`` added; return what it printed."""
        variables = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        variables.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
            AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder or self.home / "dags"),
        )
        variables.update(env or {})
        self.home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=variables, cwd=self.home, capture_output=True, text=True,
            timeout=self.timeout_s, check=False,
        )
        return DagTestRun(done.returncode, done.stdout, done.stderr)

    def migrate(self) -> None:
        """Create the metadata database; raise ``RuntimeError`` with Airflow's output if that fails."""
        done = self.run("db", "migrate")
        if not done.succeeded:
            raise RuntimeError(f"airflow db migrate failed (is apache-airflow installed?):\n{done.tail()}")

    def dags_test(self, dag_file: Path, dag_id: str, *, env: Mapping[str, str], conf: Mapping[str, Any] | None = None
                  ) -> DagTestRun:
        """Run one DAG run of ``dag_id`` from ``dag_file`` (its folder becomes the DAGs folder)."""
        args = ["dags", "test", dag_id]
        if conf:
            args += ["--conf", json.dumps(conf)]
        return self.run(*args, dags_folder=Path(dag_file).resolve().parent, env=env)

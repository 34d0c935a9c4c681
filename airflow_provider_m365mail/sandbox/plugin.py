"""pytest plugin: the ``m365_sandbox`` fixture (registered through the ``pytest11`` entry point).

One sandbox runs per test session in a background thread; ``m365_sandbox`` resets it before each test (messages,
faults, counters, grants and tenant back to the configured ones) and re-raises at teardown any error raised inside
the sandbox during the test. Override ``m365_sandbox_tenant`` to emulate another tenant. ``m365_sandbox_clock``
hands the test the sandbox's clock, so propagation delays and rate windows pass when the test says, not by
sleeping. Mark a test with
``@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "reply", "code": 421, "stage": "mail"}],
tenant={"smtp_auth_enabled": False})`` to arm faults or change tenant settings before it runs.

To test DAGs: ``m365_airflow_connections`` exports the sandbox's ready-made connections as ``AIRFLOW_CONN_*``
variables for the test (``m365mail_default`` plus ``m365mail_<name>``), and ``m365_dag_test`` runs a DAG file with
``airflow dags test`` in a throwaway Airflow (migrated once per session) against the sandbox.

The sandbox modules are imported inside the fixtures, and Airflow is only ever run in a subprocess, so loading this
plugin costs nothing in test runs that do not use it and needs no Airflow in those that use only the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .airflow_run import DagTestRun, LocalAirflow
    from .config import TenantConfig
    from .server import Sandbox

RunDag = Callable[..., "DagTestRun"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox(faults=[...], tenant={...}): arm sandbox faults (state.Fault fields) and change tenant "
        "settings (SandboxState.update_tenant keywords) before the test runs",
    )


@pytest.fixture(scope="session")
def m365_sandbox_tenant() -> TenantConfig:
    """Return the tenant the session's sandbox emulates; override it in a conftest.py for another tenant."""
    from .config import default_tenant

    return default_tenant()


@pytest.fixture(scope="session")
def m365_sandbox_session(
    m365_sandbox_tenant: TenantConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """Run one sandbox for the whole session on a temporary state folder."""
    from .server import Sandbox

    sandbox = Sandbox(tmp_path_factory.mktemp("m365-sandbox"), m365_sandbox_tenant).start_in_thread()
    try:
        yield sandbox
    finally:
        sandbox.stop_thread()


@pytest.fixture
def m365_sandbox(m365_sandbox_session: Sandbox, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Return the session's sandbox, reset for this test and prepared as its ``sandbox`` marker asks."""
    from .state import Fault

    sandbox = m365_sandbox_session
    sandbox.reset()
    marker = request.node.get_closest_marker("sandbox")
    if marker is not None:
        faults = [Fault(**spec) for spec in marker.kwargs.get("faults", ())]
        tenant_changes: dict[str, Any] = dict(marker.kwargs.get("tenant", {}))

        def prepare() -> None:
            if tenant_changes:
                sandbox.state.update_tenant(**tenant_changes)
            for fault in faults:
                sandbox.state.add_fault(fault)

        sandbox.call(prepare)
    yield sandbox
    sandbox.raise_server_errors()


class SandboxClock:
    """The sandbox's time while a test holds it: it moves only when the test calls ``advance``.

    Grants and access-policy additions take effect, and rate-limit windows slide, by this clock; tokens keep real
    time.
    """

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (as if ``seconds`` had passed)."""
        self.now += seconds


@pytest.fixture
def m365_sandbox_clock(m365_sandbox: Sandbox) -> Iterator[SandboxClock]:
    """Put the sandbox on a clock the test moves by hand (starting at the real time); restore it afterwards."""
    state = m365_sandbox.state
    clock, original = SandboxClock(time.time()), state.clock
    m365_sandbox.call(lambda: setattr(state, "clock", clock))
    try:
        yield clock
    finally:
        m365_sandbox.call(lambda: setattr(state, "clock", original))


@pytest.fixture
def m365_airflow_connections(m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Export the sandbox's connections as ``AIRFLOW_CONN_M365MAIL_*`` for this test; return the variables set.

    ``m365mail_default`` is the app-only OAuth2 SMTP connection; ``m365mail_smtp_basic``, ``m365mail_graph`` and
    the others are the ready-made ones of ``settings.json``. Hooks and operators built in the test process read
    them the way a worker does.
    """
    from .airflow_run import connection_variables

    variables = connection_variables(m365_sandbox.settings)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture(scope="session")
def m365_airflow(tmp_path_factory: pytest.TempPathFactory) -> LocalAirflow:
    """Return a throwaway Airflow home with a migrated SQLite database, shared by the session's DAG runs."""
    from .airflow_run import LocalAirflow

    airflow = LocalAirflow(tmp_path_factory.mktemp("m365-airflow"))
    airflow.migrate()
    return airflow


@pytest.fixture
def m365_dag_test(m365_sandbox: Sandbox, m365_airflow: LocalAirflow) -> RunDag:
    """Return ``run(dag_file, dag_id, conf=None, connections=None) -> DagTestRun``: one ``airflow dags test``.

    The DAG file's folder becomes the DAGs folder; the sandbox's connections are passed (``connections`` maps
    more conn ids to Airflow JSON connections). Assert on ``m365_sandbox.messages()`` afterwards.
    """
    import dataclasses

    from .airflow_run import DagTestRun, sandbox_connections

    def run(
        dag_file: str | Path,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> DagTestRun:
        airflow = dataclasses.replace(
            m365_airflow,
            connections={**sandbox_connections(m365_sandbox.settings), **(connections or {})},
            dags_folder=Path(dag_file).resolve().parent,
        )
        done = airflow.dags_test(dag_id, conf)
        return DagTestRun(done.returncode, done.stdout, done.stderr)

    return run

"""pytest plugin: the ``m365_sandbox`` fixture (registered through the ``pytest11`` entry point).

One sandbox runs per test session in a background thread; ``m365_sandbox`` resets it before each test (messages,
faults, counters, grants and tenant back to the configured ones) and re-raises at teardown any error raised inside
the sandbox during the test. Override ``m365_sandbox_tenant`` to emulate another tenant. ``m365_sandbox_clock``
hands the test the sandbox's clock, so propagation delays and rate windows pass when the test says, not by
sleeping. Mark a test with
``@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "reply", "code": 421, "stage": "mail"}],
tenant={"smtp_auth_enabled": False})`` to arm faults or change tenant settings before it runs.

The sandbox modules are imported inside the fixtures, so loading this plugin costs nothing in test runs that do
not use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .config import TenantConfig
    from .server import Sandbox


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

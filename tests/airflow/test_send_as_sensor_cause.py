"""SendAsPermissionSensor says why a probe was refused: whose grant Exchange checks for this authentication.

Exchange answers a missing grant, a grant on the wrong principal and a grant still propagating with one code
(550 5.7.60), so the sensor keeps waiting but names the likely cause from its first refused probe on. Over High
Volume Email and Azure Communication Services there is no grant at all: the sensor fails before any probe.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from structlog.testing import capture_logs

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION, AirflowFailException
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sensors.send_as import SendAsPermissionSensor

SERVICE = "airflow@contoso.com"
MAILBOX = "alerts@contoso.com"


def poke_context() -> dict[str, object]:
    ti = SimpleNamespace(dag_id="grants", run_id="manual__1", task_id="wait", map_index=-1, try_number=1)
    return {"ti": ti}


@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 1), reason="Airflow 3.0's task loggers are standard-library loggers structlog cannot capture"
)
def test_the_first_refused_probe_of_a_grant_to_the_login_mailbox_names_the_apps_service_principal(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.grant(SERVICE, MAILBOX, "send_as"))
    conn = dict(m365_sandbox.settings["airflow_connections"]["smtp_oauth2"])
    conn["extra"] = {**conn["extra"], "allowed_senders": "*@contoso.com"}
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_APP", json.dumps(conn))
    sensor = SendAsPermissionSensor(task_id="wait", mailbox=MAILBOX, probe="envelope", conn_id="m365mail_app")

    with capture_logs() as logs:
        first = sensor.poke(poke_context())  # type: ignore[arg-type]
        second = sensor.poke(poke_context())  # type: ignore[arg-type]

    assert not first.is_done and not second.is_done
    refusals = [entry for entry in logs if "5.7.60" in entry["event"]]
    assert [entry["log_level"] for entry in refusals] == ["warning", "info"]
    for entry in refusals:
        message = entry["event"]
        assert "Either the grant is still propagating (Exchange takes up to an hour) or it was never given" in message
        assert f"for app-only XOAUTH2 the trustee is the app's Exchange service principal, not {SERVICE}" in message
        assert f"Get-ServicePrincipal -Identity {conn['extra']['client_id']}" in message


@pytest.mark.parametrize(("connection", "refusal"), [
    ("hve", "extra.smtp_mode: Send As does not apply to High Volume Email"),
    ("acs", "extra.transport: Send As does not apply to Azure Communication Services Email"),
    ("acs_smtp", "extra.smtp_mode: Send As does not apply to Azure Communication Services Email"),
])
@pytest.mark.parametrize("deferrable", [False, True])
def test_over_hve_and_acs_the_sensor_fails_before_any_probe_saying_send_as_does_not_apply(
    m365_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, connection: str, refusal: str, deferrable: bool
) -> None:
    conn = dict(m365_sandbox.settings["airflow_connections"][connection])
    conn["extra"] = {**conn["extra"], "allowed_senders": "*@contoso.com"}
    monkeypatch.setenv("AIRFLOW_CONN_M365MAIL_VOLUME", json.dumps(conn))
    sensor = SendAsPermissionSensor(task_id="wait", mailbox=MAILBOX, conn_id="m365mail_volume", deferrable=deferrable)

    with pytest.raises(AirflowFailException, match=refusal) as caught:
        sensor.execute(poke_context())  # type: ignore[arg-type]

    assert "send without SendAsPermissionSensor" in str(caught.value)
    stats = m365_sandbox.state.stats
    assert (stats["smtp_sessions"], stats["acs_requests"], stats["token_requests"]) == (0, 0, 0)

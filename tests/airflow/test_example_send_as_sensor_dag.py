"""Run the sensor's example DAG with ``airflow dags test``: the sensor sees the live grant, then the send follows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

pytestmark = pytest.mark.airflow

SERVICE = "airflow@contoso.com"


@pytest.fixture(scope="module")
def sensor_example_run(dag_runner: Any) -> Any:
    return dag_runner.run("example_m365mail_send_as_sensor")


def test_the_sensor_lets_the_send_through_once_the_grant_is_live(sensor_example_run: Any) -> None:
    assert sensor_example_run.process.returncode == 0, sensor_example_run.output[-3000:]
    assert sensor_example_run.task_states == {"wait_for_send_as": "success", "announce_from_team_mailbox": "success"}
    report = sensor_example_run.return_values["wait_for_send_as"]
    assert set(report) == {"mailbox", "permission", "transport", "method", "probes", "first_probe_at", "live_at"}
    assert (report["mailbox"], report["permission"], report["transport"]) == ("reports@contoso.com", "send_as", "smtp")
    assert (report["method"], report["probes"]) == ("envelope+message", 1)
    assert datetime.fromisoformat(report["first_probe_at"]) <= datetime.fromisoformat(report["live_at"])

    _, announcement = sensor_example_run.received("Reports now come from ")
    assert announcement["From"].addresses[0].addr_spec == "reports@contoso.com"
    assert f"went live at {report['live_at']}, seen by probe 1." in announcement.get_content()


def test_the_probe_message_is_marked_and_goes_to_the_account_only(sensor_example_run: Any) -> None:
    stored, probe = sensor_example_run.received("[m365mail probe] ")
    assert stored.envelope_to == (SERVICE,)
    assert probe["Subject"] == "[m365mail probe] send as reports@contoso.com"
    assert probe["X-M365Mail-Probe"].startswith("send-as; mailbox=reports@contoso.com; id=")
    assert len(sensor_example_run.messages) == 2  # the probe and the announcement


def test_no_secret_reaches_the_output_of_the_sensor_example(dag_runner: Any, sensor_example_run: Any) -> None:
    dag_runner.assert_no_secrets(sensor_example_run.output)

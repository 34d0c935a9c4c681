"""The pytest plugin's Airflow side: the sandbox's connections as AIRFLOW_CONN_*, and a user's DAG run against it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.sandbox.server import Sandbox

USER_DAG = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG

    from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

    with DAG("nightly_report", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):
        M365EmailOperator(
            task_id="send_report",
            to="data-team@contoso.com",
            subject="Nightly report {{ ds }}",
            html_content="<p>{{ params.rows }} rows loaded</p>",
            params={"rows": 0},
        )
    """
)


def test_the_sandbox_connections_are_exported_as_airflow_connection_variables(
    m365_airflow_connections: dict[str, str], m365_sandbox: Sandbox
) -> None:
    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

    assert {"AIRFLOW_CONN_M365MAIL_DEFAULT", "AIRFLOW_CONN_M365MAIL_GRAPH"} <= set(m365_airflow_connections)
    assert json.loads(m365_airflow_connections["AIRFLOW_CONN_M365MAIL_DEFAULT"])["conn_type"] == "m365mail"

    M365MailHook().send(to="ops@contoso.com", subject="through m365mail_default", text_content="hi")
    M365MailHook("m365mail_graph").send(to="ops@contoso.com", subject="through m365mail_graph", text_content="hi")

    assert sorted(m.subject for m in m365_sandbox.messages()) == ["through m365mail_default",
                                                                  "through m365mail_graph"]


@pytest.mark.airflow
def test_a_users_dag_runs_with_airflow_dags_test_against_the_sandbox(
    m365_dag_test: Any, m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    dag_file = tmp_path / "nightly_report.py"
    dag_file.write_text(USER_DAG, encoding="utf-8")

    run = m365_dag_test(dag_file, "nightly_report", conf=None)

    assert run.succeeded, run.tail()
    [message] = m365_sandbox.messages()
    assert message.envelope_to == ("data-team@contoso.com",)
    assert message.subject.startswith("Nightly report ")
    assert "0 rows loaded" in (m365_sandbox.parsed(message.id).get_body(("html",)).get_content())


def test_the_plugin_and_its_airflow_runner_load_without_importing_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_m365mail.sandbox.plugin, airflow_provider_m365mail.sandbox.airflow_run\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

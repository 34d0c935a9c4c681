"""DAG parsing stays cheap: importing the Airflow layer loads no MSAL, Graph SDK or SMTP client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION

HEAVY = ("msal", "msgraph", "kiota_abstractions", "kiota_http", "aiosmtplib")


@pytest.mark.parametrize(
    "statement",
    [
        "import airflow_provider_m365mail.operators.m365mail",
        "import airflow_provider_m365mail.hooks.m365mail",
        "import airflow_provider_m365mail.sensors.send_as",
        "import airflow_provider_m365mail.triggers.send_as",
        "import runpy, airflow_provider_m365mail.example_dags as d; "
        "runpy.run_path(d.__path__[0] + '/example_m365mail_send.py')",
        "import runpy, airflow_provider_m365mail.example_dags as d; "
        "runpy.run_path(d.__path__[0] + '/example_m365mail_send_as_sensor.py')",
        "import airflow_provider_m365mail.notifications.m365mail",
        "import airflow_provider_m365mail.email_backend",
        "import runpy, airflow_provider_m365mail.example_dags as d; "
        "runpy.run_path(d.__path__[0] + '/example_m365mail_notifier.py')",
        "import runpy, airflow_provider_m365mail.example_dags as d; "
        "runpy.run_path(d.__path__[0] + '/example_m365mail_fan_out.py')",
        "import airflow_provider_m365mail.airflow_compat",
    ],
    ids=[
        "operator", "hook", "sensor", "trigger", "example_dag", "example_sensor_dag", "notifier", "email_backend",
        "example_notifier_dag", "example_fan_out_dag", "airflow_compat",
    ],
)
def test_importing_loads_no_heavy_client_library(statement: str) -> None:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"{statement!r} imported {heavy[:5]}"
    assert "airflow_provider_m365mail.core.transports" not in loaded
    assert "airflow_provider_m365mail.core.auth.tokens" not in loaded


# What a DAG file with the operator and a failure notifier may load on top of airflow.sdk: the three modules, their
# packages, the compatibility shim and the sender options the operator and the notifier share (standard library
# only). The core (alert facts, settings, messages, the delivery ledger) loads when a task first sends, not at each
# parse.
DAG_FACING = ("operators.m365mail", "notifications.m365mail", "hooks.m365mail")
PARSE_TIME_MODULES = {
    "airflow_provider_m365mail.airflow_compat",
    "airflow_provider_m365mail.sender_options",
    *(f"airflow_provider_m365mail.{name}" for name in ("operators", "notifications", "hooks")),
    *(f"airflow_provider_m365mail.{name}" for name in DAG_FACING),
}


@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 2),
    reason="Airflow 3.0 and 3.1 read every installed provider's info, our connection form with it, when a hook "
    "module is imported",
)
def test_dag_facing_modules_load_only_themselves_on_top_of_airflow_sdk() -> None:
    imports = "; ".join(f"import airflow_provider_m365mail.{name}" for name in DAG_FACING)
    code = (
        "import json, sys; import airflow.sdk; before = set(sys.modules); "
        f"{imports}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    added = set(json.loads(done.stdout.strip().splitlines()[-1]))
    beyond_airflow = sorted(m for m in added - PARSE_TIME_MODULES if not m.startswith("airflow."))
    assert not beyond_airflow, f"parsing a DAG file that uses them would also import {beyond_airflow}"

"""DAG parsing stays cheap: importing the Airflow layer loads no MSAL, Graph SDK or SMTP client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("msal", "msgraph", "kiota_abstractions", "kiota_http", "aiosmtplib")


@pytest.mark.parametrize(
    "statement",
    [
        "import airflow_provider_m365mail.operators.m365mail",
        "import airflow_provider_m365mail.hooks.m365mail",
        "import runpy, airflow_provider_m365mail.example_dags as d; "
        "runpy.run_path(d.__path__[0] + '/example_m365mail_send.py')",
    ],
    ids=["operator", "hook", "example_dag"],
)
def test_importing_loads_no_heavy_client_library(statement: str) -> None:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"{statement!r} imported {heavy[:5]}"
    assert "airflow_provider_m365mail.core.transports" not in loaded
    assert "airflow_provider_m365mail.core.tokens" not in loaded

"""The core must stay cheap to import: no Airflow, MSAL, aiosmtplib or Graph SDK at import time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("airflow", "msal", "aiosmtplib", "msgraph", "kiota_abstractions", "requests")


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_m365mail.core.settings",
        "airflow_provider_m365mail.core.message",
        "airflow_provider_m365mail.core.identity",
        "airflow_provider_m365mail.core.errors",
        "airflow_provider_m365mail.core.tokens",
        "airflow_provider_m365mail.core.mailer",
        "airflow_provider_m365mail.core.runner",
    ],
)
def test_importing_core_module_leaves_heavy_libraries_unloaded(module: str) -> None:
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []

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
        "airflow_provider_m365mail.core.settings.model",
        "airflow_provider_m365mail.core.message.outgoing",
        "airflow_provider_m365mail.core.identity",
        "airflow_provider_m365mail.core.errors",
        "airflow_provider_m365mail.core.auth.tokens",
        "airflow_provider_m365mail.core.delivery.mailer",
        "airflow_provider_m365mail.core.run_sync",
    ],
)
def test_importing_core_module_leaves_heavy_libraries_unloaded(module: str) -> None:
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_the_public_surface_loads_each_module_only_when_a_name_is_used() -> None:
    code = (
        "import sys, airflow_provider_m365mail.core as core; "
        "before = {m for m in sys.modules if m.startswith('airflow_provider_m365mail.core.')}; "
        "names = [getattr(core, n) for n in core.__all__]; "
        "print(sorted(before), all(n is not None for n in names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True"

"""Every code block of README.md and docs/ runs, so an example that stopped working fails the build.

- Python runs in a fresh interpreter with the sandbox's connections as ``AIRFLOW_CONN_*`` and a throwaway
  ``AIRFLOW_HOME``: a DAG snippet is parsed (importing it defines the DAG), a hook or notifier example sends into
  the sandbox, a block defining ``test_*`` functions runs under pytest with the sandbox plugin.
- Shell blocks run in bash with the same environment (``m365mail`` commands talk to the sandbox).
- A Python block without imports is a fragment of a DAG file (an operator or notifier call): it runs inside a
  ``with DAG(...)`` after the imports a DAG file has.
- JSON blocks parse; an Airflow connection (``conn_type`` m365mail) must pass ``MailSettings`` validation, with its
  ``<placeholders>`` filled in and its ``/opt/airflow/secrets/...`` files made. INI and YAML blocks parse.
- ``sandbox-state/`` in the working folder is the running sandbox's state folder (``settings.json``, ``ca.pem``).
- A block that cannot run here carries ``<!-- docs-test: skip reason="..." -->`` on the line before its fence; the
  reason is printed in the summary line at the end of the run. Text and HTML blocks show output, not code.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from doc_blocks import NOT_CODE, ROOT, CodeBlock, blocks
from doc_blocks import RESULTS as DOCS_RESULTS

from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.airflow_run import connection_variables
from airflow_provider_m365mail.sandbox.server import Sandbox

CODE_BLOCKS = [b for b in blocks() if b.lang not in NOT_CODE]
RUNNABLE = {"python", "bash", "sh", "shell", "json", "ini", "yaml"}
TIMEOUT_S = 300
PLACEHOLDERS = {
    "<tenant id>": "00000000-0000-4000-8000-00000000c0de",
    "<client id>": "11111111-2222-4333-8444-555555555555",
    "<thumbprint>": "AB" * 20,
}
SECRETS_DIR = "/opt/airflow/secrets/"
FRAGMENT_PRELUDE = """\
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_m365mail.hooks.m365mail import M365MailHook
from airflow_provider_m365mail.notifications.m365mail import M365EmailNotifier
from airflow_provider_m365mail.operators.m365mail import M365EmailOperator
from airflow_provider_m365mail.sensors.send_as import SendAsPermissionSensor

with DAG("docs_fragment", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):
"""


@pytest.fixture
def environment(m365_sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """Return the environment a block runs in: the sandbox's connections, a throwaway Airflow home, this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    home = tmp_path / "airflow-home"
    home.mkdir()
    env.update(connection_variables(m365_sandbox.settings))
    (tmp_path / "sandbox-state").symlink_to(m365_sandbox.state_dir, target_is_directory=True)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path),
        M365MAIL_SANDBOX_SETTINGS=str(m365_sandbox.state_dir / "settings.json"),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")]),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


def fill_in(value: Any, files: Path) -> Any:
    """Replace the documentation's placeholders with sample values, and its secret files with real ones."""
    if isinstance(value, dict):
        return {key: fill_in(item, files) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    if value.startswith(SECRETS_DIR):
        issued = trustme.CA().issue_cert("airflow.contoso.com")
        path = files / Path(value).name
        key, cert = issued.private_key_pem.bytes(), issued.cert_chain_pems[0].bytes()
        path.write_bytes({".key": key, ".crt": cert}.get(path.suffix, key + cert))
        return str(path)
    return PLACEHOLDERS.get(value, value)


def check_json(block: CodeBlock, files: Path) -> None:
    data = json.loads(block.code)
    if isinstance(data, dict) and data.get("conn_type") == "m365mail":
        data = fill_in(data, files)
        extra = data.get("extra") or {}
        MailSettings.from_airflow_connection(
            host=data.get("host"), port=data.get("port"), login=data.get("login"), password=data.get("password"),
            extra=json.loads(extra) if isinstance(extra, str) else extra,
        )


@pytest.mark.parametrize("block", CODE_BLOCKS, ids=[b.id for b in CODE_BLOCKS])
def test_the_documented_example_runs(block: CodeBlock, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Run one block; record its outcome for the summary line."""
    if block.skip_reason:
        DOCS_RESULTS[block.id] = ("skipped", block.skip_reason)
        pytest.skip(block.skip_reason)
    DOCS_RESULTS[block.id] = ("failed", "")
    assert block.lang in RUNNABLE, (
        f"{block.id}: a {block.lang or 'unlabelled'} block cannot run here: label it, or mark it with "
        '<!-- docs-test: skip reason="..." --> on the line before its fence'
    )
    if block.lang == "json":
        check_json(block, tmp_path)
    elif block.lang == "ini":
        configparser.ConfigParser().read_string(block.code)
    elif block.lang == "yaml":
        yaml.safe_load(block.code)
    else:
        env = request.getfixturevalue("environment")
        if block.lang == "python":
            script = tmp_path / ("test_docs_example.py" if "def test_" in block.code else "docs_example.py")
            is_fragment = not re.search(r"^(import|from) ", block.code, re.MULTILINE)
            code = FRAGMENT_PRELUDE + textwrap.indent(block.code, "    ") if is_fragment else block.code
            script.write_text(code, encoding="utf-8")
            if "def test_" in block.code:
                run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)], env, tmp_path)
            else:
                run([sys.executable, str(script)], env, tmp_path)
        else:
            run(["bash", "-euo", "pipefail", "-c", block.code], env, tmp_path)
    DOCS_RESULTS[block.id] = ("passed", "")

"""Every code block of README.md and docs/ runs, so an example that stopped working fails the build.

- Python blocks run in one interpreter for the whole session (``block_runner.py``), with the sandbox's connections
  as ``AIRFLOW_CONN_*`` and a throwaway ``AIRFLOW_HOME``: a block that defines a DAG is parsed the way Airflow's DAG
  processor parses a DAG file (import, validation, serialization); a hook, notifier or client example runs as a
  script and sends into the sandbox. Each block is judged on its own, by what the runner recorded for it.
- A Python block without imports is a fragment of a DAG file (an operator or notifier call): it is parsed inside a
  ``with DAG(...)`` after the imports a DAG file has.
- Blocks defining ``test_*`` functions run under pytest with the sandbox plugin, all in one pytest run.
- Shell blocks run in bash with the same environment (``m365mail`` commands talk to the sandbox); an Airflow
  connection a block exports (``AIRFLOW_CONN_*``) must pass ``MailSettings`` validation.
- JSON blocks parse; an Airflow connection (``conn_type`` m365mail) must pass ``MailSettings`` validation, with its
  ``<placeholders>`` filled in and the files it names made. INI and YAML blocks parse.
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

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
RUNNER = Path(__file__).with_name("block_runner.py")
TIMEOUT_S = 300
PLACEHOLDERS = {
    "<tenant id>": "00000000-0000-4000-8000-00000000c0de",
    "<client id>": "11111111-2222-4333-8444-555555555555",
    "<app client id>": "11111111-2222-4333-8444-555555555555",
    "<thumbprint>": "AB" * 20,
}
# Folders of the files the documented connections name (keys, certificates, CA bundles): made for the check.
DOCUMENTED_FILES = ("/opt/airflow/secrets/", "/etc/ssl/certs/")
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


def runnable(lang: str) -> list[CodeBlock]:
    return [b for b in CODE_BLOCKS if b.lang == lang and not b.skip_reason]


def is_test_module(block: CodeBlock) -> bool:
    return "def test_" in block.code


def python_source(block: CodeBlock) -> str:
    """Return the block as a file: a fragment (no imports) goes inside a DAG file's ``with DAG(...)``."""
    if re.search(r"^(import|from) ", block.code, re.MULTILINE):
        return block.code
    return FRAGMENT_PRELUDE + textwrap.indent(block.code, "    ")


def defines_a_dag(source: str) -> bool:
    return bool(re.search(r"\bDAG\(|@dag\b", source))


@pytest.fixture(scope="session")
def docs_folder(m365_sandbox_session: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder the blocks run in, with ``sandbox-state/`` linked to the running sandbox's state."""
    folder = tmp_path_factory.mktemp("docs-blocks")
    (folder / "sandbox-state").symlink_to(m365_sandbox_session.state_dir, target_is_directory=True)
    (folder / "airflow-home").mkdir()
    return folder


@pytest.fixture(scope="session")
def environment(m365_sandbox_session: Sandbox, docs_folder: Path) -> dict[str, str]:
    """Return the environment a block runs in: the sandbox's connections, a throwaway Airflow home, this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(connection_variables(m365_sandbox_session.settings))
    env.update(
        AIRFLOW_HOME=str(docs_folder / "airflow-home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(docs_folder),
        M365MAIL_SANDBOX_SETTINGS=str(m365_sandbox_session.state_dir / "settings.json"),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")]),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PIP_NO_INDEX="1",  # an install line shows the package and its extras; it must not reach out to PyPI
    )
    return env


def run(args: list[str], env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="session")
def python_outcomes(environment: dict[str, str], docs_folder: Path) -> dict[str, str | None]:
    """Run every plain Python block in one interpreter; return block id -> None (it worked) or what went wrong.

    It runs within the first Python block's test, on the sandbox that test's ``m365_sandbox`` has just reset.
    """
    listed = [
        {"id": b.id, "code": python_source(b), "kind": "dag" if defines_a_dag(python_source(b)) else "script"}
        for b in runnable("python") if not is_test_module(b)
    ]
    (docs_folder / "blocks.json").write_text(json.dumps(listed), encoding="utf-8")
    results = docs_folder / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "blocks.json", str(results)], env=environment, cwd=docs_folder,
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    recorded: dict[str, str | None] = json.loads(results.read_text(encoding="utf-8")) if results.exists() else {}
    died = f"the block runner stopped before this block (exit {done.returncode}):\n{done.stderr[-4000:]}"
    return {block["id"]: recorded.get(block["id"], died) for block in listed}


@pytest.fixture(scope="session")
def pytest_outcomes(environment: dict[str, str], docs_folder: Path) -> dict[str, str | None]:
    """Run every block that defines tests in one pytest run; return block id -> None or the failure."""
    folder = docs_folder / "test-blocks"
    folder.mkdir()
    files = {}
    for number, block in enumerate(b for b in runnable("python") if is_test_module(b)):
        files[f"test_docs_example_{number}"] = block.id
        (folder / f"test_docs_example_{number}.py").write_text(block.code, encoding="utf-8")
    report = folder / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", str(folder)],
        env=environment, cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    outcomes: dict[str, str | None] = {block_id: f"not run:\n{done.stdout[-4000:]}" for block_id in files.values()}
    if report.exists():
        problems_of: dict[str, list[str]] = {}
        for case in ElementTree.parse(report).iter("testcase"):
            module = case.get("classname", "").rpartition("test_docs_example_")[2].split(".")[0]
            block_id = files.get(f"test_docs_example_{module}")
            if block_id is None:
                continue
            problems = [element.text or element.get("message", "") for element in case
                        if element.tag in ("failure", "error", "skipped")]
            problems_of.setdefault(block_id, []).extend(problems)
        outcomes.update({block_id: "\n".join(p) or None for block_id, p in problems_of.items()})
    return outcomes


def fill_in(value: Any, files: Path) -> Any:
    """Replace the documentation's placeholders with sample values, and the files it names with real ones."""
    if isinstance(value, dict):
        return {key: fill_in(item, files) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    if value.startswith(DOCUMENTED_FILES):
        ca = trustme.CA()
        issued = ca.issue_cert("airflow.contoso.com")
        path = files / Path(value).name
        key, cert = issued.private_key_pem.bytes(), issued.cert_chain_pems[0].bytes()
        made = {".key": key, ".crt": cert}.get(path.suffix, key + cert)
        path.write_bytes(ca.cert_pem.bytes() if path.stem.endswith("-ca") else made)  # a CA bundle: the CA alone
        return str(path)
    return PLACEHOLDERS.get(value, value)


def check_connection(data: Any, files: Path) -> None:
    """Validate an Airflow connection in JSON form as the hook would, if it is an m365mail one."""
    if isinstance(data, dict) and data.get("conn_type") == "m365mail":
        data = fill_in(data, files)
        extra = data.get("extra") or {}
        MailSettings.from_airflow_connection(
            host=data.get("host"), port=data.get("port"), login=data.get("login"), password=data.get("password"),
            extra=json.loads(extra) if isinstance(extra, str) else extra,
        )


def run_shell(block: CodeBlock, env: dict[str, str], cwd: Path) -> None:
    """Run a shell block in bash; validate the Airflow connections it exports."""
    exported = cwd / "exported.env"
    run(["bash", "-euo", "pipefail", "-c", f'{block.code}\nenv -0 > "{exported}"'], env, cwd)
    for entry in exported.read_text(encoding="utf-8").split("\0"):
        name, _, value = entry.partition("=")
        if name.startswith("AIRFLOW_CONN_") and env.get(name) != value:
            check_connection(json.loads(value), cwd)


@pytest.mark.parametrize("block", CODE_BLOCKS, ids=[b.id for b in CODE_BLOCKS])
def test_the_documented_example_runs(
    block: CodeBlock, request: pytest.FixtureRequest, m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Run one block (or look up how it ran with the others of its kind); record its outcome for the summary."""
    if block.skip_reason:
        DOCS_RESULTS[block.id] = ("skipped", block.skip_reason)
        pytest.skip(block.skip_reason)
    DOCS_RESULTS[block.id] = ("failed", "")
    assert block.lang in RUNNABLE, (
        f"{block.id}: a {block.lang or 'unlabelled'} block cannot run here: label it, or mark it with "
        '<!-- docs-test: skip reason="..." --> on the line before its fence'
    )
    if block.lang == "json":
        check_connection(json.loads(block.code), tmp_path)
    elif block.lang == "ini":
        configparser.ConfigParser().read_string(block.code)
    elif block.lang == "yaml":
        yaml.safe_load(block.code)
    elif block.lang == "python":
        outcomes = request.getfixturevalue("pytest_outcomes" if is_test_module(block) else "python_outcomes")
        failure = outcomes[block.id]
        assert failure is None, f"{block.id} failed:\n{failure}"
    else:
        (tmp_path / "sandbox-state").symlink_to(m365_sandbox.state_dir, target_is_directory=True)
        run_shell(block, request.getfixturevalue("environment"), tmp_path)
    DOCS_RESULTS[block.id] = ("passed", "")

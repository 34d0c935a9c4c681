"""``m365mail demo``, the README's first command: a sandbox, a throwaway Airflow, an example DAG, the mail shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.cli.main import main

pytestmark = pytest.mark.airflow


def test_demo_runs_the_example_dag_and_shows_what_arrived(
    airflow_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dag_runner: Any
) -> None:
    state_dir = tmp_path / "sandbox"
    code = main(["demo", "--airflow-home", str(airflow_home), "--state-dir", str(state_dir)])
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "2 message(s) arrived in the sandbox" in shown
    assert "From:        Contoso Reports <reports@contoso.com>" in shown
    assert "Sender:      airflow@contoso.com" in shown
    assert "Bcc:         airflow@contoso.com  (envelope only)" in shown
    assert "logo.png (inline <logo>), report.csv" in shown
    assert "Transport:   smtp_submission, authenticated as airflow@contoso.com" in shown
    assert "    Contoso daily report for " in shown  # the text body
    assert "run the demo again with --serve" in shown
    # The messages are where the sandbox keeps its mailboxes, and nothing secret was printed.
    assert len(list((state_dir / "messages").glob("*.eml"))) == 2
    dag_runner.assert_no_secrets(shown)


def test_demo_fails_when_the_dag_run_fails(
    airflow_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--airflow-home", str(airflow_home), "--state-dir", str(tmp_path), "--dag-id", "no_such"])
    shown = capsys.readouterr().out
    assert code == 1
    assert "The DAG run failed" in shown
    assert "0 message(s) arrived" in shown


def test_demo_says_the_notifier_example_fails_on_purpose_without_a_traceback(
    airflow_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--airflow-home", str(airflow_home), "--state-dir", str(tmp_path), "--dag-id",
                 "example_m365mail_notifier"])
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "The DAG run failed, as this example intends: check_freshness always fails" in shown
    assert "Traceback" not in shown
    assert "message(s) arrived in the sandbox" in shown


def test_demo_sends_over_the_sandbox_connection_it_is_given(
    airflow_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--airflow-home", str(airflow_home), "--state-dir", str(tmp_path), "--connection", "ews"])
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "2 message(s) arrived in the sandbox" in shown
    assert "Transport:   ews, authenticated as airflow@contoso.com" in shown

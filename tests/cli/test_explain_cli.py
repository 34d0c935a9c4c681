"""``m365mail explain``: the troubleshooting entries ship inside the package, and every printed hint names them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.core.errors import KNOWN_REPLIES
from airflow_provider_m365mail.core.errors.troubleshooting import anchors, explain_key, find_entries

M365MAIL = Path(sys.executable).with_name("m365mail")


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("5.7.60", "### 550 5.7.60: The authenticated account has no Send As right"),
        ("ErrorSendAsDenied", "### 403 ErrorSendAsDenied: "),
        ("AADSTS7000215", "### AADSTS7000215: The client secret is wrong"),
        ("7000215", "### AADSTS7000215: The client secret is wrong"),
        ("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
         "### 535 5.7.139: Basic authentication is turned off"),
    ],
)
def test_explain_prints_the_entry_for_a_code_or_a_pasted_reply(
    query: str, title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", *query.split()]) == 0
    out = capsys.readouterr().out
    assert out.startswith(title)
    assert "- **Fix:** " in out
    assert "<a id=" not in out


def test_a_shared_code_lists_every_entry_it_may_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "535", "5.7.139"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^### 535 5\.7\.139: ", out, re.MULTILINE)) == 6
    assert "AllowBasicAuthSmtp" in out  # the text High Volume Email's troubleshooting page lists


def test_an_unknown_code_exits_1_and_says_what_to_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "9.9.99"]) == 1
    assert "No troubleshooting entry matches '9.9.99'" in capsys.readouterr().out


def test_every_entry_has_a_key_that_finds_exactly_it() -> None:
    for entry in KNOWN_REPLIES:
        assert find_entries(explain_key(entry)) == [entry], anchors()[entry]


def test_the_installed_command_explains_without_the_docs_folder(tmp_path: Path) -> None:
    result = subprocess.run([str(M365MAIL), "explain", "5.7.60"], cwd=tmp_path, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "Add-RecipientPermission" in result.stdout


def test_the_documentation_url_printed_is_the_projects() -> None:
    from airflow_provider_m365mail.core.errors.troubleshooting import DOCS_URL

    tomllib = pytest.importorskip("tomllib", reason="Python 3.11 reads TOML")

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["urls"]["Documentation"] == DOCS_URL

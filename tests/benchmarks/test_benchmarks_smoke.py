"""Each benchmark still runs end to end in its smoke mode and prints the ratio line it exists for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "ratio"),
    [
        ("smtp_throughput.py", ["--smoke"], "throughput_ratio_vs_smtphook"),
        ("tokens.py", ["--smoke"], "token_requests_ratio_vs_smtphook"),
        ("import_cost.py", ["--smoke"], "import_time_ratio_vs_smtp"),
        ("graph_memory.py", ["--smoke"], "rss_growth_ratio"),
        ("ledger_cost.py", ["--smoke"], "ledger_time_ratio_vs_no_ledger"),
        ("shared_pacing.py", ["--smoke"], "rate_ratio_vs_limit"),
    ],
)
def test_benchmark_prints_its_ratio(script: str, args: list[str], ratio: str) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", str(BENCHMARKS / script), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(rf"^{ratio}=(\d+\.\d+)(?: |$)", done.stdout, flags=re.MULTILINE)
    assert found, done.stdout[-2000:]
    assert float(found.group(1)) > 0

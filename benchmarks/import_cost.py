"""Measure what our DAG-facing modules add to a DAG file's import time, against the SMTP and Azure providers.

Every DAG file that uses an operator or notifier imports its module at each parse, on top of ``airflow.sdk``.
For each module, a fresh interpreter imports ``airflow.sdk`` first, then times importing the module; the figure
is the median over ``--repeat`` processes. Baselines, measured in the same run: the SMTP provider's
``EmailOperator``, ``SmtpNotifier`` and ``SmtpHook`` (installed with this project), and the Azure provider's
``MSGraphNotifier`` and ``MSGraphMailHook`` when ``--azure-provider-path`` points at a copy of
``apache-airflow-providers-microsoft-azure`` installed apart (see graph_memory.py for why it is not in the venv).

Prints one line per module, then ratios ours / theirs (below 1: ours is cheaper), the first being
``import_time_ratio_vs_smtp=<x>`` for the operators.

    python benchmarks/import_cost.py [--repeat 7] [--azure-provider-path DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time

from sandbox_process import AZURE_HINT, run_child, unimportable

# role -> module, per provider
OURS = {
    "operator": "airflow_provider_m365mail.operators.m365mail",
    "notifier": "airflow_provider_m365mail.notifications.m365mail",
    "hook": "airflow_provider_m365mail.hooks.m365mail",
}
SMTP = {
    "operator": "airflow.providers.smtp.operators.smtp",
    "notifier": "airflow.providers.smtp.notifications.smtp",
    "hook": "airflow.providers.smtp.hooks.smtp",
}
AZURE = {
    "notifier": "airflow.providers.microsoft.azure.notifications.msgraph",
    "hook": "airflow.providers.microsoft.azure.hooks.msgraph",
}


def _measure(module: str) -> dict[str, float]:
    """In this fresh process: import ``airflow.sdk``, then time importing ``module``."""
    import airflow.sdk  # noqa: F401  (the base every DAG file pays anyway)

    before = len(sys.modules)
    started = time.perf_counter()
    importlib.import_module(module)
    return {"seconds": time.perf_counter() - started, "modules_added": len(sys.modules) - before}


def _median(module: str, repeat: int, extra_path: str | None) -> tuple[float, int]:
    runs = [run_child(__file__, ["--measure", module], extra_path=extra_path) for _ in range(repeat)]
    return statistics.median(r["seconds"] for r in runs), int(statistics.median(r["modules_added"] for r in runs))


def _measure_set(name: str, modules: dict[str, str], repeat: int, extra_path: str | None) -> dict[str, float]:
    """Print and return the median import time of each module that can be imported here."""
    seconds: dict[str, float] = {}
    for role, module in modules.items():
        why = unimportable(module, extra_path)
        if why is not None:
            print(f"{name}_{role}: not available ({module}: {why})")
            continue
        seconds[role], added = _median(module, repeat, extra_path)
        print(f"{name}_{role}: {module} +{seconds[role] * 1000:.0f} ms, +{added} modules (median of {repeat})")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="fresh processes per module (the median is shown)")
    parser.add_argument("--azure-provider-path", default=os.environ.get("AZURE_PROVIDER_PATH"))
    parser.add_argument("--smoke", action="store_true", help="operators only, one process each")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure)))
        return 0

    roles = ("operator",) if args.smoke else tuple(OURS)
    repeat = 1 if args.smoke else args.repeat
    ours = _measure_set("ours", {r: OURS[r] for r in roles}, repeat, None)
    smtp = _measure_set("smtp", {r: SMTP[r] for r in roles}, repeat, None)
    azure: dict[str, float] = {}
    if not args.smoke:
        if args.azure_provider_path is None:
            print(f"azure: not measured; {AZURE_HINT}")
        else:
            azure = _measure_set("azure", AZURE, repeat, args.azure_provider_path)
    print(f"import_time_ratio_vs_smtp={ours['operator'] / smtp['operator']:.3f}")
    for role in ("notifier", "hook"):
        for name, theirs in (("smtp", smtp), ("azure", azure)):
            if role in ours and role in theirs:
                print(f"{role}_import_time_ratio_vs_{name}={ours[role] / theirs[role]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure what our DAG-facing modules add to a DAG file's import time, against the SMTP and Azure providers.

Every DAG file that uses an operator or notifier imports its module at each parse, on top of ``airflow.sdk``.
For each module, a fresh interpreter imports ``airflow.sdk`` first, then times importing the module; the figure
is the median over ``--repeat`` processes. Baselines, measured in the same run: the SMTP provider's
``EmailOperator``, ``SmtpNotifier`` and ``SmtpHook`` (installed with this project), and the Azure provider's
``MSGraphNotifier`` and ``MSGraphMailHook`` when ``--azure-provider-path`` points at a copy of
``apache-airflow-providers-microsoft-azure`` installed apart (see graph_memory.py for why it is not in the venv).

Prints one line per module, then ratios ours / theirs (below 1: ours is cheaper), the first being
``import_time_ratio_vs_smtp=<x>`` for the operators. Then the three modules together, as a DAG file with an
operator and a failure notifier pays for them: ``--pairs`` interleaved pairs of fresh processes (ours, then the
SMTP provider's, then the other way round), each pair giving one ratio;
``import_time_ratio_together_vs_smtp=<median of the pair ratios>``.

Both sides import from bytecode: the installed SMTP provider has its ``.pyc`` files, and this project's are
written first (``compileall``), since a source checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise
compile every module in every process, which a deployed provider never does.

    python benchmarks/import_cost.py [--repeat 7] [--pairs 15] [--azure-provider-path DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import compileall
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


def _measure(modules: list[str]) -> dict[str, float]:
    """In this fresh process: import ``airflow.sdk``, then time importing ``modules``."""
    import airflow.sdk  # noqa: F401  (the base every DAG file pays anyway)

    before = len(sys.modules)
    started = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return {"seconds": time.perf_counter() - started, "modules_added": len(sys.modules) - before}


def _together_ratio(pairs: int) -> float:
    """Return the median ours / SMTP ratio over ``pairs`` interleaved pairs, each side in a fresh process."""
    ratios = []
    for pair in range(pairs):
        sides = [list(OURS.values()), list(SMTP.values())]
        order = sides if pair % 2 == 0 else sides[::-1]
        seconds = [float(run_child(__file__, ["--measure", *modules])["seconds"]) for modules in order]
        ours, smtp = seconds if pair % 2 == 0 else seconds[::-1]
        ratios.append(ours / smtp)
    return statistics.median(ratios)


def _compile_ours() -> None:
    """Write this project's bytecode, as an installed provider has it."""
    import airflow_provider_m365mail

    compileall.compile_dir(airflow_provider_m365mail.__path__[0], quiet=1)


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
    parser.add_argument("--pairs", type=int, default=15, help="interleaved pairs for the three modules together")
    parser.add_argument("--smoke", action="store_true", help="operators only, one process each, one pair")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure)))
        return 0

    _compile_ours()

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
    pairs = 1 if args.smoke else args.pairs
    print(f"import_time_ratio_together_vs_smtp={_together_ratio(pairs):.3f} (operator + notifier + hook, "
          f"median of {pairs} interleaved pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

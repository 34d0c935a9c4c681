"""The ``m365mail`` command: one entry point whose subcommands live in their own modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module defining ``add_arguments(parser)`` and ``run(args) -> int``, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("airflow_provider_m365mail.cli.sandbox_cmd", "run the local Microsoft 365 sandbox in the foreground"),
    "demo": ("airflow_provider_m365mail.cli.demo", "send real mail from an example DAG into the sandbox"),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand; each module is imported only to describe its own flags."""
    parser = argparse.ArgumentParser(prog="m365mail", description="Microsoft 365 mail for Apache Airflow.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; return its exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

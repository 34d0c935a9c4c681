"""The ``m365mail`` command: one entry point whose subcommands live in their own modules.

``doctor``, ``send-test``, ``explain``, ``login`` and ``consent`` are also offered as ``airflow m365mail ...``
through the provider info's ``cli`` key (Airflow 3.2 and later), built from the same modules by
``airflow_cli_commands``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

# subcommand -> (module defining ``add_arguments(parser)`` and ``run(args) -> int``, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("airflow_provider_m365mail.cli.sandbox_cmd", "run the local Microsoft 365 sandbox in the foreground"),
    "demo": ("airflow_provider_m365mail.cli.demo", "send real mail from an example DAG into the sandbox"),
    "doctor": (
        "airflow_provider_m365mail.cli.doctor",
        "check a connection step by step (DNS, port, TLS, token, sign-in, Send As) and say what fixes a failure",
    ),
    "send-test": (
        "airflow_provider_m365mail.cli.send_test",
        "send one marked test message and show the server's reply (and the SMTP transcript)",
    ),
    "explain": (
        "airflow_provider_m365mail.cli.explain",
        "say what a server reply code means and what fixes it (5.7.60, 535 5.7.139, ErrorSendAsDenied, AADSTS...)",
    ),
    "login": (
        "airflow_provider_m365mail.cli.login",
        "sign a delegated connection's mailbox in (device code or browser) and keep its tokens in its token cache",
    ),
    "consent": (
        "airflow_provider_m365mail.cli.consent",
        "grant an app-only connection's permissions for the tenant (admin consent) and check the roles it gets",
    ),
    "setup": (
        "airflow_provider_m365mail.cli.setup_cmd",
        "build a connection from questions (or a file of answers), validate and check it, and write it (JSON or a "
        "command)",
    ),
    "pool": (
        "airflow_provider_m365mail.cli.pool",
        "print (or --create) the Airflow pool that keeps a mailbox's parallel sends within Exchange's limit",
    ),
}
# The subcommands that also exist as ``airflow m365mail ...``: the ones that work on an Airflow connection, and
# ``explain``, which reads their answers.
AIRFLOW_SUBCOMMANDS = ("doctor", "send-test", "explain", "login", "consent")


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


class _RecordingParser(argparse.ArgumentParser):
    """An argument parser that also remembers each ``add_argument`` call, to hand the flags to Airflow's CLI."""

    def __init__(self) -> None:
        super().__init__(add_help=False)
        self.recorded: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        self.recorded.append((args, kwargs))
        return super().add_argument(*args, **kwargs)


class _AirflowAction:
    """Run one subcommand for Airflow's CLI, which ignores return values: a failure becomes the exit code."""

    def __init__(self, module_name: str) -> None:
        self.module_name = module_name
        self.__name__ = module_name.rpartition(".")[2]

    def __call__(self, args: argparse.Namespace) -> None:
        code: int = importlib.import_module(self.module_name).run(args)
        if code:
            sys.exit(code)


def airflow_cli_commands() -> list[Any]:
    """Return the ``airflow m365mail`` command group (the provider info's ``cli`` entry points here)."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand

    commands = []
    for name in AIRFLOW_SUBCOMMANDS:
        module_name, help_text = SUBCOMMANDS[name]
        recorder = _RecordingParser()
        importlib.import_module(module_name).add_arguments(recorder)
        args = [Arg(flags, **kwargs) for flags, kwargs in recorder.recorded]  # type: ignore[no-untyped-call]
        commands.append(
            ActionCommand(name=name, help=help_text, description=help_text, func=_AirflowAction(module_name), args=args)
        )
    return [GroupCommand(name="m365mail", subcommands=commands,
                         help="Microsoft 365 mail: check connections, send test mail, sign in, consent")]


if __name__ == "__main__":
    sys.exit(main())

"""Hold the interactive ``m365mail setup``: the questions on the terminal, then the doctor and where to write.

Answers are read with ``input`` and secrets with ``getpass`` (no echo, from the terminal itself); the end of
input stops the command without writing anything.
"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.cli.setup_cmd import FORMATS, connection_from_answers
from airflow_provider_m365mail.cli.setup_questions import ask_until_valid

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.settings import MailSettings

SUFFIXES = {"json": "json", "uri": "txt", "airflow-command": "sh"}


def interview(args: argparse.Namespace) -> tuple[dict[str, Any], MailSettings, argparse.Namespace]:
    """Ask for the connection, then whether to check it and how and where to write it; return the connection, its
    settings and the command's options with those answers in."""
    print(f"Setting up the connection {args.conn_id}. Press Enter to take the default in brackets.")
    answers, settings = ask_until_valid(_ask, print)
    check = args.check or _choose("Run the doctor's checks on it now (yes, no)", ("yes", "no"), "yes") == "yes"
    form = _choose(f"Write it as ({', '.join(FORMATS)})", FORMATS, args.format)
    suggested = args.output or f"{args.conn_id}.{SUFFIXES[form]}"
    output = _ask(f"Write it to (a file; - prints it) [{suggested}]: ", False).strip() or suggested
    options = argparse.Namespace(**{**vars(args), "check": check, "format": form,
                                    "output": None if output == "-" else output})
    return connection_from_answers(answers), settings, options


def _ask(prompt: str, secret: bool) -> str:
    return getpass.getpass(prompt) if secret else input(prompt)


def _choose(text: str, choices: tuple[str, ...], default: str) -> str:
    while True:
        answer = _ask(f"{text} [{default}]: ", False).strip().lower() or default
        if answer in choices:
            return answer
        print(f"  answer one of: {', '.join(choices)}")

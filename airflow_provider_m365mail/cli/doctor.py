"""``m365mail doctor``: check a connection step by step and say which setting or admin step fixes what fails.

The checks live in ``core.diagnostics``; this module reads the connection (an Airflow connection id, or its JSON
form), renders the result as a table or JSON, and turns it into the exit code (0: no failure, 1: a check failed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.doctor.diagnosis import Diagnosis
    from airflow_provider_m365mail.core.settings import MailSettings

DEFAULT_CONN_ID = "m365mail_default"
_STYLES = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the flags that say which connection to use (shared with ``send-test``)."""
    parser.add_argument(
        "--conn-id",
        default=DEFAULT_CONN_ID,
        help=f"Airflow connection id, read through Airflow (env AIRFLOW_CONN_*, secrets backend or database; "
        f"default: {DEFAULT_CONN_ID})",
    )
    parser.add_argument(
        "--conn-json",
        metavar="JSON",
        help="the connection in Airflow's JSON form, instead of --conn-id (Airflow is then not needed)",
    )


def settings_loader(args: argparse.Namespace) -> Callable[[], MailSettings]:
    """Return a function that reads and validates the connection the flags name."""
    if args.conn_json:
        return lambda: settings_from_json(args.conn_json)

    def from_airflow() -> MailSettings:
        # Airflow's own lookup (secrets backend, AIRFLOW_CONN_ variables, metadata database), as `airflow
        # connections get` does: outside a task the Task SDK's, which a hook uses, leaves the database out.
        from airflow.models.connection import Connection  # imports Airflow: its logging is set up

        from airflow_provider_m365mail.hooks.m365mail import M365MailHook

        logs_to_stderr()
        return M365MailHook.settings_from_connection(Connection.get_connection_from_secrets(args.conn_id))

    return from_airflow


def logs_to_stderr() -> None:
    """Move log handlers that write to stdout (Airflow's default) to stderr: stdout carries the report or JSON."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
            try:
                handler.setStream(sys.stderr)
            except AttributeError:  # Airflow 3.0's RedirectStdHandler writes to whatever sys.stdout is: replace it
                moved = logging.StreamHandler(sys.stderr)
                moved.setLevel(handler.level)
                moved.setFormatter(handler.formatter)
                for log_filter in handler.filters:
                    moved.addFilter(log_filter)
                root.removeHandler(handler)
                root.addHandler(moved)


def settings_from_json(text: str) -> MailSettings:
    """Validate a connection given in Airflow's JSON form (``{"conn_type": ..., "host": ..., "extra": {...}}``)."""
    from airflow_provider_m365mail.core.errors import ConfigurationError
    from airflow_provider_m365mail.core.settings import MailSettings

    try:
        conn = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError("--conn-json", f"not valid JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(conn, dict):
        raise ConfigurationError("--conn-json", "give a JSON object with host, port, login, password and extra")
    return MailSettings.from_airflow_connection(
        host=conn.get("host"),
        port=conn.get("port"),
        login=conn.get("login"),
        password=conn.get("password"),
        extra=conn.get("extra"),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the doctor's flags."""
    add_connection_arguments(parser)
    parser.add_argument("--send-as", metavar="ADDRESS", help="also probe whether the connection may send as ADDRESS")
    parser.add_argument(
        "--probe-mode",
        choices=["envelope", "message", "auto"],
        help="how to probe Send As: envelope (MAIL FROM/RCPT/RSET, nothing sent; the default over SMTP), message "
        "(one marked probe message; the only way over Graph) or auto (envelope, then one probe message)",
    )
    parser.add_argument("--probe-recipient", metavar="ADDRESS", help="recipient of the Send As probe")
    parser.add_argument(
        "--nameserver",
        metavar="IP[:PORT]",
        default=os.environ.get("M365MAIL_DOCTOR_NAMESERVER"),
        help="DNS server for the lookups (default: the system's; env M365MAIL_DOCTOR_NAMESERVER)",
    )
    parser.add_argument(
        "--sending-ip", metavar="IP", help="public IP mail leaves from, checked against the domain's SPF record"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON (schema in docs/doctor.md)")


def run(args: argparse.Namespace) -> int:
    """Run the checks and print them; return 0 when none failed, 1 otherwise."""
    from airflow_provider_m365mail.core.doctor.diagnosis import DoctorOptions, Nameserver, diagnose
    from airflow_provider_m365mail.core.run_sync import run_sync

    options = DoctorOptions(
        nameserver=Nameserver.parse(args.nameserver) if args.nameserver else None,
        send_as=args.send_as,
        probe_mode=args.probe_mode,
        probe_recipient=args.probe_recipient,
        sending_ip=args.sending_ip,
        conn_id=None if args.conn_json else args.conn_id,
    )
    diagnosis = run_sync(diagnose(settings_loader(args), options))
    if args.json:
        print(json.dumps(diagnosis.as_json(), indent=2))
    else:
        render(diagnosis)
    return diagnosis.exit_code


def render(diagnosis: Diagnosis) -> None:
    """Print the checks as a table, then each failure's and warning's fix with its documentation anchor."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from airflow_provider_m365mail.core.errors.troubleshooting import where_to_read

    console = Console(soft_wrap=False)
    connection = diagnosis.connection
    if connection:
        where = f"{connection['transport']} {connection['host']}:{connection['port']}"
        console.print(escape(f"m365mail doctor: {where}, auth {connection['auth_type']}"), highlight=False)
    table = Table(show_lines=False, expand=False)
    table.add_column("status")
    table.add_column("check")
    table.add_column("result", overflow="fold")
    table.add_column("fix", overflow="fold")
    for check in diagnosis.checks:
        status = check.status.value
        detail = f"[{check.code}] {check.detail}" if check.code else check.detail
        # Server replies hold brackets ("[host.prod.outlook.com]") that rich would take for markup.
        table.add_row(f"[{_STYLES[status]}]{status.upper()}[/]", escape(check.title), escape(detail),
                      escape(check.fix or ""))
    console.print(table, highlight=False)
    for check in diagnosis.checks:
        if check.docs:
            console.print(escape(f"{check.title}: {where_to_read(check.docs)}"), highlight=False)
    counts = diagnosis.counts()
    verdict = "OK" if diagnosis.ok else "FAILED"
    console.print(
        f"{verdict}: {counts['pass']} passed, {counts['warn']} warning(s), {counts['fail']} failed, "
        f"{counts['skip']} skipped",
        highlight=False,
    )

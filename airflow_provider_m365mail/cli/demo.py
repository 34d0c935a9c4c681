"""``m365mail demo``: run an example DAG with ``airflow dags test`` against the sandbox and show the mail it sent.

The sandbox runs in a thread of this process; Airflow runs in a subprocess with a throwaway AIRFLOW_HOME, its
``m365mail_default`` connection pointing at the sandbox (app-only OAuth2 over SMTP AUTH). Nothing outside the
temporary folders is touched, and no real mail leaves the machine.
"""

from __future__ import annotations

import argparse
import ast
import tempfile
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_m365mail.sandbox.airflow_run import (
    DEFAULT_SANDBOX_CONNECTION,
    EXAMPLE_DAGS,
    LocalAirflow,
    sandbox_connections,
    tail,
)

if TYPE_CHECKING:
    from airflow_provider_m365mail.sandbox.state import StoredMessage

DEFAULT_DAG = "example_m365mail_send"
# An example DAG whose run fails on purpose (to show failure alerts) says why in this module-level string.
FAILS_ON_PURPOSE = "DEMO_FAILS_ON_PURPOSE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the demo's flags."""
    parser.add_argument("--dag-id", default=DEFAULT_DAG, help=f"example DAG to run (default: {DEFAULT_DAG})")
    parser.add_argument(
        "--state-dir", type=Path, help="folder for the sandbox's mailboxes and certificates (default: a temp folder)"
    )
    parser.add_argument(
        "--airflow-home",
        type=Path,
        help="AIRFLOW_HOME to use, created and migrated if needed (default: a temp folder); "
        "its airflow.cfg must not point at another database",
    )
    parser.add_argument("--serve", action="store_true", help="keep the sandbox and its web inbox running until Ctrl-C")
    parser.add_argument(
        "--connection",
        default=DEFAULT_SANDBOX_CONNECTION,
        help="the sandbox connection to use as m365mail_default, e.g. graph or ews "
        f"(default: {DEFAULT_SANDBOX_CONNECTION})",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when the DAG run succeeded and mail arrived."""
    from airflow_provider_m365mail.sandbox.server import Sandbox

    with tempfile.TemporaryDirectory(prefix="m365mail-demo-") as scratch:
        state_dir: Path = args.state_dir or Path(scratch) / "sandbox"
        with Sandbox(state_dir) as sandbox:
            airflow = LocalAirflow(
                home=args.airflow_home or Path(scratch) / "airflow",
                connections=sandbox_connections(sandbox.settings, args.connection),
            )
            print(f"Sandbox listening; state in {state_dir}")
            print(f"Preparing Airflow in {airflow.home} (airflow db migrate) ...", flush=True)
            try:
                airflow.migrate()
            except RuntimeError as exc:
                print(exc)
                return 1
            print(f"Running: airflow dags test {args.dag_id} ...", flush=True)
            done = airflow.dags_test(args.dag_id)
            on_purpose = intended_failure(args.dag_id)
            if done.returncode != 0 and on_purpose:
                print(f"\nThe DAG run failed, as this example intends: {on_purpose}.")
            elif done.returncode != 0:
                print(f"\nThe DAG run failed (exit {done.returncode}). The end of Airflow's output:\n{tail(done)}\n")
            messages = sandbox.messages()
            print(f"\n{len(messages)} message(s) arrived in the sandbox:\n")
            for stored in messages:
                print(describe(stored, sandbox.parsed(stored.id)))
            if not args.serve:
                print("To read these in the sandbox's web inbox, run the demo again with --serve.")
            else:
                print(f"Web inbox: {sandbox.settings['inbox_url']}")
                print(
                    f"Serving the sandbox (its CA certificate: {sandbox.settings['ca_file']}); press Ctrl-C to stop.",
                    flush=True,
                )
                try:
                    threading.Event().wait()
                except KeyboardInterrupt:
                    print()
    return 0 if (done.returncode == 0 or on_purpose) and messages else 1


def intended_failure(dag_id: str) -> str | None:
    """Return why an example DAG's run fails on purpose (its ``DEMO_FAILS_ON_PURPOSE``), read without importing it."""
    path = EXAMPLE_DAGS / f"{dag_id}.py"
    if not path.is_file():
        return None
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == FAILS_ON_PURPOSE for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def describe(stored: StoredMessage, message: EmailMessage) -> str:
    """Return a short, human-readable account of one received message: who, to whom, what, and how."""
    header_recipients = {
        address.addr_spec.casefold() for name in ("To", "Cc") for address in getattr(message[name], "addresses", ())
    }
    envelope_only = [a for a in stored.envelope_to if a.casefold() not in header_recipients]
    lines = [
        f"Subject:     {message['Subject']}",
        f"From:        {message['From']}",
        f"Sender:      {message['Sender'] or '-'}",
        f"Reply-To:    {message['Reply-To'] or '-'}",
        f"To:          {message['To'] or '-'}",
        f"Cc:          {message['Cc'] or '-'}",
        f"Bcc:         {', '.join(envelope_only) or '-'}  (envelope only)",
        f"Message-ID:  {stored.message_id}",
        f"Attachments: {', '.join(_parts(message)) or '-'}",
        f"Transport:   {stored.transport}, authenticated as {stored.principal or 'nobody'}",
    ]
    body = message.get_body(preferencelist=("plain",))
    if body is not None:
        text = body.get_content().strip()
        lines += ["", *(f"    {line}" for line in text.splitlines())]
    return "\n".join(lines) + "\n"


def _parts(message: EmailMessage) -> list[str]:
    """Name every attachment and inline image (with its Content-ID)."""
    names = []
    for part in message.walk():
        if part.is_multipart() or (part.get_content_maintype() == "text" and not part.get_filename()):
            continue
        name = part.get_filename() or part.get_content_type()
        content_id = part["Content-ID"]
        names.append(f"{name} (inline {content_id})" if content_id else name)
    return names

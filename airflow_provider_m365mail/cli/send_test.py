"""``m365mail send-test``: send one clearly marked test message through the normal core and show what the server said.

Over SMTP the session transcript is printed line by line as it happens (AUTH arguments shown as ``***``, the
message content left out), which is what a mail admin asks for first. Exit code 0 when the server accepted the
message, 1 when it refused or could not be reached.
"""

from __future__ import annotations

import argparse
import platform
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from airflow_provider_m365mail.cli.doctor import add_connection_arguments, settings_loader

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

TEST_HEADER = "X-M365Mail-Test"
TEST_SUBJECT = "[m365mail send-test] test message"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the flags of send-test."""
    add_connection_arguments(parser)
    parser.add_argument("--to", required=True, metavar="ADDRESS", help="recipient of the test message")
    parser.add_argument(
        "--from", dest="from_email", metavar="ADDRESS", help="send as this address (default: the connection's From)"
    )


def test_message(to: str) -> OutgoingMessage:
    """Return the test message: subject and an ``X-M365Mail-Test`` header say what it is."""
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

    sent_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return OutgoingMessage.create(
        to=to,
        subject=TEST_SUBJECT,
        text=(
            f"This is a test message sent by `m365mail send-test` from {platform.node() or 'an Airflow host'} "
            f"at {sent_at}.\n\nIt checks that the Airflow connection can send mail; no action is needed."
        ),
        headers={TEST_HEADER: "send-test"},
    )


def run(args: argparse.Namespace) -> int:
    """Send the test message; return 0 when the server accepted it."""
    from airflow_provider_m365mail.core.delivery.mailer import Mailer
    from airflow_provider_m365mail.core.errors import M365MailError
    from airflow_provider_m365mail.core.errors.troubleshooting import anchor_for, where_to_read
    from airflow_provider_m365mail.core.identity import resolve_identity
    from airflow_provider_m365mail.core.run_sync import run_sync
    from airflow_provider_m365mail.core.settings import TransportKind
    from airflow_provider_m365mail.core.transports import make_transport

    transcript = Transcript()
    try:
        settings = settings_loader(args)()
    except M365MailError as exc:
        print(f"FAILED: invalid connection: {exc}", flush=True)
        return 1
    except Exception as exc:  # Airflow could not find or read the connection: say why, without a traceback
        print(f"FAILED: cannot read the connection: {type(exc).__name__}: {exc}", flush=True)
        return 1
    try:
        identity = resolve_identity(settings, from_email=args.from_email)
        message = test_message(args.to)
        transport = make_transport(settings, transcript=transcript.show)
        where = {TransportKind.GRAPH: settings.graph_endpoint, TransportKind.EWS: settings.ews_url,
                 TransportKind.ACS: settings.acs_endpoint}.get(
            settings.transport, f"{settings.host}:{settings.port}"
        )
        print(f"Sending a test message from {identity.from_address.email} to {args.to} over "
              f"{settings.transport.value} ({where}):", flush=True)
        results = run_sync(Mailer(settings, transport=transport).send(message, identity))
    except M365MailError as exc:
        print(f"FAILED: {exc}", flush=True)
        anchor = anchor_for(exc)
        if anchor:
            print(f"To know more, {where_to_read(anchor)}; `m365mail doctor` tests each step.")
        return 1
    for result in results:
        print(f"Server reply: {transcript.data_reply or result.reply}")
        print(f"Message-ID:   {result.message_id}")
        print(f"Accepted:     {', '.join(result.accepted) or '-'}")
        for address, (code, reply) in result.refused.items():
            print(f"Refused:      {address}: {code} {reply}")
    return 0


class Transcript:
    """Print an SMTP session as it happens and remember the server's final answer to the message data."""

    def __init__(self) -> None:
        self.data_reply: str | None = None
        self._after_data = False

    def show(self, line: str) -> None:
        """Print one command or reply (a multi-line reply indented under its first line)."""
        first, *rest = line.splitlines() or [""]
        print(f"  {first}", *(f"     {more}" for more in rest), sep="\n", flush=True)
        if self._after_data and line.startswith("S: "):
            self.data_reply = line.removeprefix("S: ")
        self._after_data = line.startswith("C: DATA")

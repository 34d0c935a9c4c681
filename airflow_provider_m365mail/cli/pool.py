"""``m365mail pool``: the Airflow pool that keeps a mailbox's parallel tasks within Exchange's concurrency limit.

Exchange Online allows 3 concurrent SMTP connections per mailbox (the 4th gets ``432 4.3.2``) and 4 concurrent
Graph requests per app and mailbox (the 5th gets ``429``); Exchange Server's default throttling policy allows 10
concurrent EWS connections per account. ``rate_limit_storage`` shares the per-minute count between workers, but
not how many send at once: a pool with that many slots, given to every task sending as the mailbox
(``pool="m365mail-..."``), does. Prints the pool's name and size; ``--create`` creates or updates it with
``airflow pools set``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from typing import TYPE_CHECKING

from airflow_provider_m365mail.cli.doctor import add_connection_arguments, settings_loader

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.settings import MailSettings

# Concurrent sends one mailbox may have open, per transport (see M365-FACTS.md).
CONCURRENCY = {"smtp": 3, "graph": 4, "ews": 10}


def pool_for(settings: MailSettings) -> tuple[str, int, str]:
    """Return the pool's name, slots and description for the connection's sending mailbox."""
    mailbox = (settings.username or settings.from_email or "mailbox").casefold()
    kind = settings.transport.value
    name = "m365mail-" + re.sub(r"[^a-z0-9_.-]+", "-", mailbox).strip("-")
    description = f"sends as {mailbox} over {kind}: at most {CONCURRENCY[kind]} at once"
    return name, CONCURRENCY[kind], description


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the flags of pool."""
    add_connection_arguments(parser)
    parser.add_argument("--create", action="store_true", help="create or update the pool (airflow pools set)")


def run(args: argparse.Namespace) -> int:
    """Print the mailbox's pool; with --create, make Airflow hold it. Return 0 on success."""
    from airflow_provider_m365mail.core.errors import M365MailError

    try:
        settings = settings_loader(args)()
    except M365MailError as exc:
        print(f"FAILED: invalid connection: {exc}", flush=True)
        return 1
    name, slots, description = pool_for(settings)
    print(f"pool {name}: {slots} slots ({description})", flush=True)
    if not args.create:
        print(f"create it with: airflow pools set {name} {slots} '{description}'", flush=True)
        return 0
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "pools", "set", name, str(slots), description],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        print(f"FAILED: airflow pools set exited with {done.returncode}: {done.stderr.strip()[-500:]}", flush=True)
        return 1
    print(f"created pool {name} with {slots} slots; give it to every task sending as this mailbox", flush=True)
    return 0

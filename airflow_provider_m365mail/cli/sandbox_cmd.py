"""``m365mail sandbox``: run the local Microsoft 365 sandbox in the foreground until Ctrl-C (or SIGTERM).

Once every server listens, ``STATE_DIR/settings.json`` holds the endpoints, credentials and ready-made Airflow
connections; the terminal gets a summary without the secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_m365mail.sandbox.server import Sandbox

DEFAULT_STATE_DIR = Path("m365mail-sandbox")
_PORT_FLAGS = {
    "smtp_port": "SMTP submission port (STARTTLS)",
    "ssl_port": "SMTP implicit-TLS port",
    "direct_send_port": "direct-send (port 25 style) port",
    "relay_port": "relay connector port",
    "http_port": "HTTPS port (token endpoint, Graph, admin API, web inbox)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the sandbox's flags."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"folder for stored messages, keys, the CA certificate and settings.json (default: ./{DEFAULT_STATE_DIR})",
    )
    for dest, what in _PORT_FLAGS.items():
        parser.add_argument(f"--{dest.replace('_', '-')}", dest=dest, type=int, default=0,
                            help=f"{what}; 0 picks a free one (default)")
    parser.add_argument("--tenant-file", type=Path, help="YAML or JSON tenant to emulate (default: the demo tenant)")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; return 0 after a clean stop, 1 if the sandbox could not start."""
    from airflow_provider_m365mail.sandbox.config import load_tenant
    from airflow_provider_m365mail.sandbox.server import Sandbox

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        tenant = load_tenant(args.tenant_file) if args.tenant_file else None
    except (OSError, ValueError, TypeError) as exc:
        print(f"m365mail sandbox: cannot load the tenant file: {exc}", file=sys.stderr)
        return 1
    sandbox = Sandbox(args.state_dir, tenant, **{dest: getattr(args, dest) for dest in _PORT_FLAGS})
    try:
        asyncio.run(_serve(sandbox))
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    except OSError as exc:
        print(f"m365mail sandbox: cannot start: {exc}", file=sys.stderr)
        return 1
    print("m365mail sandbox stopped.", flush=True)
    return 0


async def _serve(sandbox: Sandbox) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await sandbox.start()
    try:
        print(describe(sandbox.settings, sandbox.settings_file), flush=True)
        await stop.wait()
    finally:
        await sandbox.stop()


def describe(settings: dict[str, Any], settings_file: Path) -> str:
    """Return a human-readable summary of the running sandbox; secrets stay in settings.json."""
    smtp = settings["smtp"]
    host = smtp["host"]
    mailboxes = ", ".join(
        m["address"] + (" (password)" if "password" in m else "") for m in settings["mailboxes"]
    )
    rows = [
        ("SMTP submission (STARTTLS)", f"{host}:{smtp['submission_port']}"),
        ("SMTP implicit TLS", f"{host}:{smtp['ssl_port']}"),
        ("Direct send", f"{host}:{smtp['direct_send_port']}"),
        ("Relay connector", f"{host}:{smtp['relay_port']}"),
        ("Web inbox", settings["inbox_url"]),
        ("Admin API", settings["admin_url"]),
        ("Token endpoint", settings["token_endpoint"]),
        ("Graph", settings["graph_endpoint"]),
        ("CA certificate", settings["ca_file"]),
        ("Tenant id", settings["tenant_id"]),
        ("App client id", settings["client_id"] or "-"),
        ("Mailboxes", mailboxes),
        ("Airflow connections", ", ".join(settings["airflow_connections"])),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["m365mail sandbox is ready.", *(f"  {label:<{width}}  {value}" for label, value in rows)]
    lines.append(f"Passwords, the client secret and the connections' JSON are in {settings_file}.")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)

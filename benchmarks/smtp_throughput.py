"""Measure SMTP sending speed to a local server: our hook and core against the SMTP provider's SmtpHook.

All paths send the same small HTML message from the server's sender to one recipient over STARTTLS with basic
auth, for each N in ``--sizes``, against each server in ``--servers``:

- ``sandbox``: the project's Microsoft 365 emulator (its tenant set not to throttle), a Python process of its own;
- ``postfix``: a real Postfix with Dovecot SASL on loopback (the test suite's ``tests/postfix_server.py``, which
  needs the Debian packages and root), its virtual transport set to discard, so the figure is not capped by our
  own sandbox's single Python process, nor by disk writes.

Paths:

- ``ours_bulk``: ``Mailer.send_many`` (what the hook's bulk calls go through) with ``max_connections=3``, the
  default of an Exchange Online submission connection, each connection reused;
- ``smtphook_reused``: ``SmtpHook.send_email_smtp`` N times inside one ``with SmtpHook(...)``, one connection;
- ``ours_per_call``: ``M365MailHook.send`` N times, a connection per call (one task, one message);
- ``smtphook_per_call``: ``with SmtpHook(...)`` around each ``send_email_smtp``, a connection per call;
- ``aiosmtplib_floor``: raw aiosmtplib over the same 3 connections, each sending a prebuilt message: the floor
  under every library.

Our connection's client-side ``max_messages_per_minute`` is set far above the rate reached. Every client trusts
the same production-size CA store (the system bundle plus the server's CA), as it would against Exchange Online:
loading it is part of what a new connection costs.

Prints messages per second per server, path and N, then for the largest N and each server (named on the line):
``throughput_ratio_vs_smtphook=<x> server=<name>`` (ours_bulk / smtphook_reused; above 1: ours is faster),
``per_call_throughput_ratio_vs_smtphook`` and ``throughput_ratio_vs_aiosmtplib_floor``.

    python benchmarks/smtp_throughput.py [--sizes 1,100,1000] [--repeat 3] [--servers sandbox,postfix] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox_process import UNTHROTTLED_LIMITS, admin, realistic_trust_store, running_sandbox

SUBJECT = "Throughput"
HTML = "<p>Nightly load finished: 1,024 rows.</p>"
OURS_CONN, SMTP_CONN = "bench_m365mail", "bench_smtp"
CONNECTIONS = 3  # max_connections of an Exchange Online submission connection


@dataclass(frozen=True)
class Server:
    """Where the messages go, and how the paths sign in there."""

    name: str
    description: str
    host: str
    port: int
    login: str
    password: str
    recipient: str
    ca_file: str
    extra: dict[str, Any]  # our connection's extras for this server (beyond the benchmark's own)
    accepted: Callable[[], int] | None = None  # how many messages the server has accepted, where it can tell


@contextlib.contextmanager
def sandbox_server() -> Iterator[Server]:
    with running_sandbox({"limits": UNTHROTTLED_LIMITS}) as settings:
        conn = settings["airflow_connections"]["smtp_basic"]
        user = settings["basic_user"]
        yield Server(
            "sandbox", "m365mail sandbox (aiosmtpd, one Python process)", settings["smtp"]["host"],
            settings["smtp"]["submission_port"], user["address"], user["password"], "bob@contoso.com",
            settings["ca_file"], dict(conn["extra"]),
            accepted=lambda: int(admin(settings, "GET", "/stats")["messages_accepted"]),
        )


@contextlib.contextmanager
def postfix_server() -> Iterator[Server]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from postfix_server import MailAccount, MailServer, missing_packages

    missing = missing_packages()
    if missing or os.geteuid() != 0:
        raise RuntimeError(f"needs root and the Debian packages postfix and dovecot-core (missing: {missing})")
    password = "Bench-Passw0rd!"
    accounts = [MailAccount("airflow@contoso.test", password), MailAccount("bob@contoso.test")]
    server = MailServer(["contoso.test"], accounts, discard=True).start()
    version = subprocess.run(["postconf", "-h", "-d", "mail_version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    try:
        yield Server("postfix", f"Postfix {version} + Dovecot SASL, discard transport", "127.0.0.1",
                     server.ports["starttls"], "airflow@contoso.test", password, "bob@contoso.test",
                     str(server.ca_file), {})
    finally:
        server.stop()


SERVERS: dict[str, Callable[[], contextlib.AbstractContextManager[Server]]] = {
    "sandbox": sandbox_server,
    "postfix": postfix_server,
}

_target: Server | None = None  # the server the paths send to


def _configure(server: Server) -> None:
    """Expose both connections to Airflow (environment variables); both trust a production-size CA store."""
    global _target
    _target = server
    trust_store = realistic_trust_store({"ca_file": server.ca_file})
    ours = {
        "conn_type": "m365mail", "host": server.host, "port": server.port, "login": server.login,
        "password": server.password,
        "extra": {**server.extra, "max_messages_per_minute": 10**9, "ca_bundle": trust_store,
                  "max_connections": CONNECTIONS},
    }
    smtp = {
        "conn_type": "smtp", "host": server.host, "port": server.port,
        "login": server.login, "password": server.password,
        "extra": {"disable_ssl": True, "from_email": server.login, "retry_limit": 0},
    }
    os.environ[f"AIRFLOW_CONN_{OURS_CONN.upper()}"] = json.dumps(ours)
    os.environ[f"AIRFLOW_CONN_{SMTP_CONN.upper()}"] = json.dumps(smtp)
    # SmtpHook verifies with ssl.create_default_context(), i.e. the default trust store, which this variable sets.
    os.environ["SSL_CERT_FILE"] = trust_store


def _recipient() -> str:
    assert _target is not None
    return _target.recipient


def ours_bulk(n: int) -> None:
    from airflow_provider_m365mail.core.delivery.mailer import Mailer
    from airflow_provider_m365mail.core.identity import resolve_identity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

    settings = M365MailHook(OURS_CONN).get_settings()
    identity = resolve_identity(settings)
    items = [(OutgoingMessage.create(to=_recipient(), subject=SUBJECT, html=HTML), identity) for _ in range(n)]
    if len(asyncio.run(Mailer(settings).send_many(items))) != n:
        raise RuntimeError("ours_bulk: not every message was delivered")


def ours_per_call(n: int) -> None:
    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

    hook = M365MailHook(OURS_CONN)
    for _ in range(n):
        hook.send(to=_recipient(), subject=SUBJECT, html_content=HTML)


def smtphook_reused(n: int) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(SMTP_CONN) as hook:
        for _ in range(n):
            hook.send_email_smtp(to=_recipient(), subject=SUBJECT, html_content=HTML)


def smtphook_per_call(n: int) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    for _ in range(n):
        with SmtpHook(SMTP_CONN) as hook:
            hook.send_email_smtp(to=_recipient(), subject=SUBJECT, html_content=HTML)


def aiosmtplib_floor(n: int) -> None:
    import ssl
    from email.message import EmailMessage

    import aiosmtplib

    connection = json.loads(os.environ[f"AIRFLOW_CONN_{SMTP_CONN.upper()}"])
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = connection["login"], _recipient(), SUBJECT
    message.set_content(HTML, subtype="html")

    async def one_connection(count: int, context: ssl.SSLContext) -> None:
        async with aiosmtplib.SMTP(hostname=connection["host"], port=connection["port"], start_tls=True,
                                   tls_context=context) as client:
            await client.login(connection["login"], connection["password"])
            for _ in range(count):
                await client.send_message(message)

    async def run() -> None:
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
        shares = [len(range(i, n, CONNECTIONS)) for i in range(CONNECTIONS)]
        await asyncio.gather(*(one_connection(count, context) for count in shares if count))

    asyncio.run(run())


PATHS: dict[str, Callable[[int], None]] = {
    "ours_bulk": ours_bulk,
    "smtphook_reused": smtphook_reused,
    "ours_per_call": ours_per_call,
    "smtphook_per_call": smtphook_per_call,
    "aiosmtplib_floor": aiosmtplib_floor,
}


def _rate(server: Server, name: str, n: int) -> float:
    """Send ``n`` messages along path ``name``; check the server accepted them all; return messages per second."""
    before = server.accepted() if server.accepted else 0
    started = time.perf_counter()
    PATHS[name](n)
    seconds = time.perf_counter() - started
    if server.accepted is not None and (accepted := server.accepted() - before) != n:
        raise RuntimeError(f"{name}: the server accepted {accepted} of {n} messages")
    print(f"server={server.name} n={n} {name}: {n} messages in {seconds:.2f} s, {n / seconds:.1f} msg/s")
    return n / seconds


def _measure(server: Server, sizes: list[int], repeat: int) -> dict[str, float]:
    """Return each path's median rate at the largest size, after warming every path up."""
    _configure(server)
    for path in PATHS.values():  # warm up: imports, connection parsing, TLS contexts
        path(1)
    rates: dict[str, float] = {}
    for n in sizes:
        rounds: dict[str, list[float]] = {name: [] for name in PATHS}
        for _ in range(repeat):  # paths take turns, so a noisy moment on a shared machine hits all alike
            for name in PATHS:
                rounds[name].append(_rate(server, name, n))
        rates = {name: statistics.median(values) for name, values in rounds.items()}
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="comma-separated message counts")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size; each path's median is kept")
    parser.add_argument("--servers", default="sandbox,postfix", help=f"comma-separated, of {', '.join(SERVERS)}")
    parser.add_argument("--smoke", action="store_true", help="sizes 1 and 5, one round, the sandbox only")
    args = parser.parse_args()
    sizes = [1, 5] if args.smoke else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.smoke else args.repeat
    names = ["sandbox"] if args.smoke else args.servers.split(",")

    results: dict[str, tuple[Server, dict[str, float]]] = {}
    for name in names:
        try:
            with SERVERS[name]() as server:
                results[name] = (server, _measure(server, sizes, repeat))
        except RuntimeError as exc:
            print(f"server={name}: not measured: {exc}")
    n = sizes[-1]
    for server, rates in results.values():
        where = f"server={server.name}"
        print(f"{where}: {server.description}; ratios at n={n} (median of {repeat} rounds), ours with "
              f"{CONNECTIONS} connections:")
        print(f"throughput_ratio_vs_smtphook={rates['ours_bulk'] / rates['smtphook_reused']:.3f} {where}")
        print(f"per_call_throughput_ratio_vs_smtphook={rates['ours_per_call'] / rates['smtphook_per_call']:.3f} "
              f"{where}")
        print(f"throughput_ratio_vs_aiosmtplib_floor={rates['ours_bulk'] / rates['aiosmtplib_floor']:.3f} {where}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())

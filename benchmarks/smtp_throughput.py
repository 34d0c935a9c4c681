"""Measure SMTP sending speed to one local server: our hook and core against the SMTP provider's SmtpHook.

All paths send the same small HTML message from ``airflow@contoso.com`` to ``bob@contoso.com`` over STARTTLS
with basic auth to the sandbox's submission port (its tenant set not to throttle, our connection's client-side
``max_messages_per_minute`` set far above the rate reached), for each N in ``--sizes``:

- ``ours_bulk``: ``Mailer.send_many`` (what the hook's callers share a connection through), one connection;
- ``smtphook_reused``: ``SmtpHook.send_email_smtp`` N times inside one ``with SmtpHook(...)``, one connection;
- ``ours_per_call``: ``M365MailHook.send`` N times, a connection per call (one task, one message);
- ``smtphook_per_call``: ``with SmtpHook(...)`` around each ``send_email_smtp``, a connection per call;
- ``aiosmtplib_floor``: raw aiosmtplib on one connection with a prebuilt message: the floor under every library.

Every client trusts the same production-size CA store (the system bundle plus the sandbox CA), as it would
against Exchange Online: loading it is part of what a new connection costs.

Prints messages per second per path and N, then ratios for the largest N:
``throughput_ratio_vs_smtphook=<x>`` (ours_bulk / smtphook_reused, like with like; above 1: ours is faster),
``per_call_throughput_ratio_vs_smtphook`` and ``throughput_ratio_vs_aiosmtplib_floor``.

    python benchmarks/smtp_throughput.py [--sizes 1,100,1000] [--repeat 3] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sandbox_process import UNTHROTTLED_LIMITS, admin, realistic_trust_store, running_sandbox

SENDER = "airflow@contoso.com"
RECIPIENT = "bob@contoso.com"
SUBJECT = "Throughput"
HTML = "<p>Nightly load finished: 1,024 rows.</p>"
OURS_CONN, SMTP_CONN = "bench_m365mail", "bench_smtp"


def _configure(settings: dict[str, Any]) -> None:
    """Expose both connections to Airflow (environment variables); both trust a production-size CA store."""
    trust_store = realistic_trust_store(settings)
    ours = dict(settings["airflow_connections"]["smtp_basic"])
    ours["extra"] = {**ours["extra"], "max_messages_per_minute": 10**9, "ca_bundle": trust_store}
    user = settings["basic_user"]
    smtp = {
        "conn_type": "smtp", "host": settings["smtp"]["host"], "port": settings["smtp"]["submission_port"],
        "login": user["address"], "password": user["password"],
        "extra": {"disable_ssl": True, "from_email": SENDER, "retry_limit": 0},
    }
    os.environ[f"AIRFLOW_CONN_{OURS_CONN.upper()}"] = json.dumps(ours)
    os.environ[f"AIRFLOW_CONN_{SMTP_CONN.upper()}"] = json.dumps(smtp)
    # SmtpHook verifies with ssl.create_default_context(), i.e. the default trust store, which this variable sets.
    os.environ["SSL_CERT_FILE"] = trust_store


def ours_bulk(n: int) -> None:
    from airflow_provider_m365mail.core.delivery.mailer import Mailer
    from airflow_provider_m365mail.core.identity import resolve_identity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

    settings = M365MailHook(OURS_CONN).get_settings()
    identity = resolve_identity(settings)
    items = [(OutgoingMessage.create(to=RECIPIENT, subject=SUBJECT, html=HTML), identity) for _ in range(n)]
    asyncio.run(Mailer(settings).send_many(items))


def ours_per_call(n: int) -> None:
    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

    hook = M365MailHook(OURS_CONN)
    for _ in range(n):
        hook.send(to=RECIPIENT, subject=SUBJECT, html_content=HTML)


def smtphook_reused(n: int) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(SMTP_CONN) as hook:
        for _ in range(n):
            hook.send_email_smtp(to=RECIPIENT, subject=SUBJECT, html_content=HTML)


def smtphook_per_call(n: int) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    for _ in range(n):
        with SmtpHook(SMTP_CONN) as hook:
            hook.send_email_smtp(to=RECIPIENT, subject=SUBJECT, html_content=HTML)


def aiosmtplib_floor(n: int) -> None:
    import ssl
    from email.message import EmailMessage

    import aiosmtplib

    connection = json.loads(os.environ[f"AIRFLOW_CONN_{SMTP_CONN.upper()}"])
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, RECIPIENT, SUBJECT
    message.set_content(HTML, subtype="html")

    async def run() -> None:
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
        async with aiosmtplib.SMTP(hostname=connection["host"], port=connection["port"], start_tls=True,
                                   tls_context=context) as client:
            await client.login(connection["login"], connection["password"])
            for _ in range(n):
                await client.send_message(message)

    asyncio.run(run())


PATHS: dict[str, Callable[[int], None]] = {
    "ours_bulk": ours_bulk,
    "smtphook_reused": smtphook_reused,
    "ours_per_call": ours_per_call,
    "smtphook_per_call": smtphook_per_call,
    "aiosmtplib_floor": aiosmtplib_floor,
}


def _rate(settings: dict[str, Any], name: str, n: int) -> float:
    """Send ``n`` messages along path ``name``; check the sandbox accepted them all; return messages per second."""
    before = admin(settings, "GET", "/stats")["messages_accepted"]
    started = time.perf_counter()
    PATHS[name](n)
    seconds = time.perf_counter() - started
    accepted = admin(settings, "GET", "/stats")["messages_accepted"] - before
    if accepted != n:
        raise RuntimeError(f"{name}: the server accepted {accepted} of {n} messages")
    print(f"n={n} {name}: {n} messages in {seconds:.2f} s, {n / seconds:.1f} msg/s")
    return n / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="comma-separated message counts")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size; each path's median is kept")
    parser.add_argument("--smoke", action="store_true", help="sizes 1 and 5, one round")
    args = parser.parse_args()
    sizes = [1, 5] if args.smoke else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.smoke else args.repeat

    with running_sandbox({"limits": UNTHROTTLED_LIMITS}) as settings:
        _configure(settings)
        for path in PATHS.values():  # warm up: imports, connection parsing, TLS contexts
            path(1)
        rates: dict[str, float] = {}
        for n in sizes:
            rounds: dict[str, list[float]] = {name: [] for name in PATHS}
            for _ in range(repeat):  # paths take turns, so a noisy moment on a shared machine hits all alike
                admin(settings, "DELETE", "/messages")
                for name in PATHS:
                    rounds[name].append(_rate(settings, name, n))
            rates = {name: statistics.median(values) for name, values in rounds.items()}
    n = sizes[-1]
    print(f"ratios at n={n} (median of {repeat} rounds):")
    print(f"throughput_ratio_vs_smtphook={rates['ours_bulk'] / rates['smtphook_reused']:.3f}")
    print(f"per_call_throughput_ratio_vs_smtphook={rates['ours_per_call'] / rates['smtphook_per_call']:.3f}")
    print(f"throughput_ratio_vs_aiosmtplib_floor={rates['ours_bulk'] / rates['aiosmtplib_floor']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

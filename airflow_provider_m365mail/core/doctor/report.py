"""What a doctor check reports (``CheckReport`` with its ``Status``), the options it runs with, and where the
documentation explains each check."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airflow_provider_m365mail.core.doctor.dns import Nameserver
from airflow_provider_m365mail.core.errors import M365MailError
from airflow_provider_m365mail.core.errors.troubleshooting import anchor_for

DOCTOR_PAGE = "doctor.md"
# check -> its section in docs/doctor.md (MX and SPF share one)
DOCTOR_ANCHORS = {
    "settings": "settings",
    "dns": "dns",
    "mx": "mx-and-spf",
    "spf": "mx-and-spf",
    "tcp": "tcp",
    "tls": "tls",
    "sign_in": "sign-in",
    "token": "token",
    "server": "server",
    "send_as": "send-as",
}


def doctor_docs(check: str) -> str:
    """Return ``doctor.md#<section>``, where the documentation explains ``check`` and its failures."""
    return f"{DOCTOR_PAGE}#{DOCTOR_ANCHORS[check]}"


class Status(str, Enum):
    """How one check ended."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckReport:
    """One check's outcome: what was found, and for a warning or failure the one-line fix."""

    name: str
    title: str
    status: Status
    detail: str
    fix: str | None = None
    code: str | None = None
    docs: str | None = None  # page#anchor in the documentation

    def as_json(self) -> dict[str, Any]:
        """Return the check as plain JSON data (the ``checks`` items of ``m365mail doctor --json``)."""
        return {**dataclasses.asdict(self), "status": self.status.value}


@dataclass(frozen=True)
class DoctorOptions:
    """What to check beyond the defaults, and how."""

    nameserver: Nameserver | None = None  # DNS server for every lookup; None: the system's
    send_as: str | None = None  # probe whether the connection may send as this address
    probe_mode: str | None = None  # core.probe.ProbeMode value; None: envelope over SMTP, a message over Graph
    probe_recipient: str | None = None
    sending_ip: str | None = None  # the public IP mail leaves from, for the SPF check
    network_checks: bool = True  # separate TCP and TLS checks (the sign-in check covers them too)
    mail_dns: bool = True  # MX and SPF checks for direct send and relay
    conn_id: str | None = None  # the Airflow connection id, for the commands a fix names
    clock: Callable[[], float] = time.time  # Unix time, for the age of a sign-in


def error_report(name: str, title: str, exc: M365MailError) -> CheckReport:
    """Turn a provider error into a failed check carrying its code, hint and documentation anchor.

    The anchor is the error's troubleshooting entry when the reply is catalogued, else the check's section.
    """
    code = exc.enhanced_status or exc.code
    docs = anchor_for(exc) or doctor_docs(name)
    return CheckReport(name, title, Status.FAIL, exc.message, fix=exc.hint, code=code, docs=docs)

"""Diagnose a mail connection step by step and say, for the first step that fails, which setting or admin step fixes it.

The checks run in the order a send meets the problems: settings, DNS (and, for direct send and relay, the
domain's MX and SPF records), TCP, TLS, the OAuth token, the SMTP sign-in or Graph call, then optionally whether
the account may send as another address. A check whose prerequisite failed is skipped with the reason. Nothing
here sends mail, except the optional Send As probe in its ``message`` mode.

``m365mail doctor`` renders the result; ``M365MailHook.test_connection`` runs the cheap subset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_m365mail.core.doctor import checks
from airflow_provider_m365mail.core.doctor.checks import describe_connection
from airflow_provider_m365mail.core.doctor.dns import DnsLookup, Nameserver
from airflow_provider_m365mail.core.doctor.report import CheckReport, DoctorOptions, Status, error_report
from airflow_provider_m365mail.core.errors import M365MailError
from airflow_provider_m365mail.core.settings import MailSettings

__all__ = ["CheckReport", "Diagnosis", "DoctorOptions", "Nameserver", "Status", "diagnose"]


@dataclass(frozen=True)
class Diagnosis:
    """Every check, in the order it ran, and the connection it examined (secrets left out)."""

    checks: tuple[CheckReport, ...]
    connection: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        """Tell whether no check failed (warnings do not count)."""
        return all(c.status is not Status.FAIL for c in self.checks)

    @property
    def exit_code(self) -> int:
        """Return 0 when nothing failed, else 1."""
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        """Return how many checks ended in each status."""
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}

    def as_json(self) -> dict[str, Any]:
        """Return the schema documented in docs/doctor.md."""
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "connection": dict(self.connection),
            "summary": self.counts(),
            "checks": [c.as_json() for c in self.checks],
        }


async def diagnose(load_settings: Callable[[], MailSettings], options: DoctorOptions | None = None) -> Diagnosis:
    """Run every check in order; ``load_settings`` is called first, and its failure is the first check's."""
    return await _Doctor(options or DoctorOptions()).run(load_settings)


class _Doctor:
    """Run the checks; remember which failed so that the ones depending on them are skipped."""

    def __init__(self, options: DoctorOptions) -> None:
        self._options = options
        self._reports: list[CheckReport] = []
        self._blocked: dict[str, str] = {}  # check name -> its title, for failed or blocked checks

    async def run(self, load_settings: Callable[[], MailSettings]) -> Diagnosis:
        try:
            settings = load_settings()
        except Exception as exc:  # a broken connection is exactly what the doctor reports
            self._add(_settings_failure(exc))
            for name, title, _ in checks.plan(self._options):
                self._add(CheckReport(name, title, Status.SKIP, "skipped: the connection's settings are invalid"))
            return Diagnosis(tuple(self._reports), {})
        self._add(checks.coherence(settings))
        lookup = DnsLookup(self._options.nameserver, lifetime=min(settings.timeout, 5.0))
        for name, title, needs in checks.plan(self._options):
            blocker = next((self._blocked[n] for n in needs if n in self._blocked), None)
            if blocker is not None:
                self._add(CheckReport(name, title, Status.SKIP, f"skipped: {blocker} did not pass"))
                continue
            step: Callable[..., Awaitable[CheckReport]] = getattr(checks, name)
            try:
                report = await asyncio.wait_for(step(settings, self._options, lookup), settings.timeout * 2 + 5)
            except asyncio.TimeoutError:
                report = CheckReport(name, title, Status.FAIL, f"no result within {settings.timeout * 2 + 5:.0f} s",
                                     fix="check the network path; raise extra.timeout for slow links")
            except M365MailError as exc:
                report = error_report(name, title, exc)
            self._add(report)
        return Diagnosis(tuple(self._reports), describe_connection(settings))

    def _add(self, report: CheckReport) -> None:
        self._reports.append(report)
        if report.status is Status.FAIL or (report.status is Status.SKIP and report.detail.startswith("skipped:")):
            self._blocked[report.name] = report.title


def _settings_failure(exc: Exception) -> CheckReport:
    title = checks.TITLES["settings"]
    if isinstance(exc, M365MailError):
        return CheckReport("settings", title, Status.FAIL, exc.message, fix=exc.hint or "correct the named field",
                           docs="connection.md")
    return CheckReport("settings", title, Status.FAIL, f"{type(exc).__name__}: {exc}",
                       fix="check the connection id, or pass the connection with --conn-json")

"""The doctor's sign-in check reads the token cache a real sign-in wrote: who signed in, how old the refresh token
is, a warning in its last two weeks of Entra ID's 90 days of inactivity, a failure once they are over, and the
command that renews it. Time is a clock the test sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from connection_settings import settings_for

from airflow_provider_m365mail.core.auth.token_cache import cached_sign_in
from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.doctor.diagnosis import CheckReport, DoctorOptions, Status, diagnose
from airflow_provider_m365mail.core.doctor.dns import DnsLookup
from airflow_provider_m365mail.core.doctor.sign_in_age import sign_in
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.server import Sandbox

DAY_S = 86_400.0
SIGNED_IN = "alice@contoso.com"


def delegated(sandbox: Sandbox, cache: str, **fields: Any) -> MailSettings:
    """Alice's delegated connection on the sandbox's confidential app, with its tokens in ``cache``."""
    return settings_for(sandbox, "smtp_oauth2", login=SIGNED_IN, auth_type="oauth2_delegated",
                        client_secret=sandbox.settings["client_secret"], token_cache_path=cache, **fields)


@pytest.fixture
async def signed_in(m365_sandbox: Sandbox, tmp_path: Path) -> tuple[MailSettings, float]:
    """Sign alice in (password grant) into a token cache; return the connection without the password, and when
    its refresh token was issued."""
    cache = str(tmp_path / "alice.json")
    with_password = delegated(m365_sandbox, cache, password="Alice-Passw0rd!")
    await TokenSource(with_password).get_token("https://outlook.office.com/SMTP.Send")
    cached = cached_sign_in(cache, SIGNED_IN)
    assert cached is not None
    return delegated(m365_sandbox, cache, password=None), cached.issued_at


async def check_after(settings: MailSettings, issued_at: float, days: float) -> CheckReport:
    options = DoctorOptions(conn_id="m365mail_alice", clock=lambda: issued_at + days * DAY_S)
    return await sign_in(settings, options, DnsLookup(None))


async def test_a_fresh_sign_in_passes_saying_who_and_how_old(signed_in: tuple[MailSettings, float]) -> None:
    report = await check_after(*signed_in, days=3)
    assert report.status is Status.PASS
    assert f"{SIGNED_IN} signed in; its refresh token was issued 3 days ago" in report.detail
    assert "87 days left" in report.detail


async def test_the_last_two_weeks_warn_naming_the_command_that_renews_it(
        signed_in: tuple[MailSettings, float]) -> None:
    report = await check_after(*signed_in, days=80)
    assert (report.status, report.docs) == (Status.WARN, "doctor.md#sign-in")
    assert "10 days left" in report.detail
    assert report.fix is not None and "m365mail login --conn-id m365mail_alice" in report.fix


async def test_a_sign_in_unused_for_90_days_fails(signed_in: tuple[MailSettings, float]) -> None:
    report = await check_after(*signed_in, days=91)
    assert report.status is Status.FAIL and "lapsed" in report.detail
    assert report.fix == "sign in again: m365mail login --conn-id m365mail_alice"


async def test_the_doctor_checks_the_sign_in_before_the_token_and_fails_without_one(
        m365_sandbox: Sandbox, tmp_path: Path) -> None:
    settings = delegated(m365_sandbox, str(tmp_path / "nobody.json"), password=None)
    diagnosis = await diagnose(lambda: settings, DoctorOptions(network_checks=False, mail_dns=False))
    names = [c.name for c in diagnosis.checks]
    assert names.index("sign_in") == names.index("token") - 1
    [report] = [c for c in diagnosis.checks if c.name == "sign_in"]
    assert report.status is Status.FAIL
    assert report.fix == "sign the mailbox in: m365mail login --conn-id <connection id>"

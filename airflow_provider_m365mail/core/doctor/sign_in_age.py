"""The doctor's check of a delegated connection's cached sign-in: who signed in, how old it is, when it lapses.

Entra ID gives a refresh token 90 days of inactivity (Microsoft identity platform, "Refresh tokens": "90 days for
all other scenarios" than single-page apps; every use hands out a new token, with a new 90 days). A connection
that sends at least once every 90 days keeps its sign-in; one left unused that long must be signed in again. The
token cache records when its refresh token was issued, so the doctor can say how long is left and warn ahead.
It runs before the token check, which may itself renew the token.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_m365mail.core.auth import token_cache
from airflow_provider_m365mail.core.doctor.dns import DnsLookup
from airflow_provider_m365mail.core.doctor.report import CheckReport, DoctorOptions, Status, doctor_docs
from airflow_provider_m365mail.core.settings import AuthType, MailSettings

TITLE = "Delegated sign-in"
REFRESH_TOKEN_INACTIVITY_DAYS = 90
WARNING_DAYS = 14
DAY_S = 86_400.0


async def sign_in(settings: MailSettings, options: DoctorOptions, lookup: DnsLookup) -> CheckReport:
    """Say who the token cache holds a sign-in for, how old its refresh token is, and warn before it lapses."""
    if settings.auth_type is not AuthType.OAUTH2_DELEGATED or not settings.token_cache_path:
        return CheckReport("sign_in", TITLE, Status.SKIP, f"auth_type {settings.auth_type.value} keeps no sign-in "
                           "in a token cache")
    renew = f"m365mail login --conn-id {options.conn_id or '<connection id>'}"
    cached = token_cache.cached_sign_in(settings.token_cache_path, settings.username or "")
    if cached is None:
        if settings.refresh_token or settings.password:
            source = "extra.refresh_token" if settings.refresh_token else "the login and password"
            return CheckReport("sign_in", TITLE, Status.SKIP, f"the token cache holds no sign-in for "
                               f"{settings.username}; tokens come from {source}")
        return CheckReport("sign_in", TITLE, Status.FAIL, f"{settings.username} has not signed in: the token "
                           f"cache {settings.token_cache_path} holds no sign-in for it",
                           fix=f"sign the mailbox in: {renew}", docs=doctor_docs("sign_in"))
    age_days = max(0.0, options.clock() - cached.issued_at) / DAY_S
    left_days = REFRESH_TOKEN_INACTIVITY_DAYS - age_days
    issued = datetime.fromtimestamp(cached.issued_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    detail = (f"{cached.username} signed in; its refresh token was issued {age_days:.0f} days ago ({issued}) "
              f"and lapses after {REFRESH_TOKEN_INACTIVITY_DAYS} days unused")
    if left_days <= 0:
        return CheckReport("sign_in", TITLE, Status.FAIL, f"{detail}: it has lapsed", fix=f"sign in again: {renew}",
                           docs=doctor_docs("sign_in"))
    if left_days < WARNING_DAYS:
        return CheckReport("sign_in", TITLE, Status.WARN, f"{detail}: {left_days:.0f} days left",
                           fix=f"send over the connection (each use renews it) or sign in again: {renew}",
                           docs=doctor_docs("sign_in"))
    return CheckReport("sign_in", TITLE, Status.PASS, f"{detail} ({left_days:.0f} days left; each use renews it)")

"""A bulk run against the sandbox enforcing Exchange's 30 messages per window, on a window shrunk to 0.25 s.

2,000 personalised messages go out over three connections (Exchange Online's per-mailbox limit) with the
client's rate limit set to match, shared by the three: each arrives exactly once, the injected "slow down"
replies are retried, and no window ever holds more than 30 submissions, so the sandbox never has to refuse one
for the quota.
"""

from __future__ import annotations

import logging

import pytest
from connection_settings import settings_for

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.sandbox.config import Limits
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

MESSAGES = 2000
PER_WINDOW = 30
WINDOW_S = 0.25
SLOW_DOWN = Fault("smtp", "reply", code=421, message="4.7.0 Too many messages; slow down", stage="mail",
                  probability=0.005, seed=2000)


@pytest.mark.sandbox(tenant={"limits": Limits(messages_per_window=PER_WINDOW, window_s=WINDOW_S)})
async def test_2000_personalised_messages_arrive_once_within_the_rate_limit(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_m365mail")
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(SLOW_DOWN))
    settings = settings_for(m365_sandbox, "smtp_basic", max_messages_per_minute=PER_WINDOW, max_connections=3)
    identity = resolve_identity(settings)
    messages = [
        OutgoingMessage.create(
            to=f"customer{i:04d}@example.org",
            subject=f"Your statement, customer {i}",
            text=f"Dear customer {i}, your balance is {i * 7 % 1000} EUR.",
            message_id=f"<statement-{i}@contoso.com>",
        )
        for i in range(MESSAGES)
    ]

    results = await Mailer(settings, rate_window_s=WINDOW_S).send_many([(m, identity) for m in messages])

    stored = m365_sandbox.messages()
    assert len(results) == len(stored) == MESSAGES
    assert sorted(m.message_id for m in stored) == sorted(str(m.message_id) for m in messages)
    by_id = {m.message_id: m for m in stored}
    assert all(by_id[f"<statement-{i}@contoso.com>"].envelope_to == (f"customer{i:04d}@example.org",)
               for i in range(0, MESSAGES, 97))
    assert m365_sandbox.state.stats["throttled"] == 0  # the client never went over the quota
    accepted_at = [m.received_at for m in stored]
    assert all(later - earlier >= WINDOW_S
               for earlier, later in zip(accepted_at, accepted_at[PER_WINDOW:], strict=False))
    slowed = m365_sandbox.state.stats["faults_fired"]
    assert slowed == 9  # the seeded draws: nine "slow down" replies, each retried on a new connection
    assert len([r for r in caplog.records if "code=421" in r.getMessage()]) == slowed
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sent ")]
    assert progress[-1].startswith(f"sent {MESSAGES} of {MESSAGES} messages")
    assert len(progress) >= MESSAGES // 500

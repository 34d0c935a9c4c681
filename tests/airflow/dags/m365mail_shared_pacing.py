"""One of several workers sending as one mailbox at the same moment, each from its own Airflow home.

tests/airflow/test_shared_pacing_dags.py runs three of these at once. Each waits at a barrier until all three are
ready, then sends 15 messages through a Mailer whose window is as short as the sandbox's (60 s in production), so
the run takes seconds: the workers keep to the mailbox's limit only if they share the connection's
rate_limit_storage.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

MESSAGES = 15

with DAG(
    dag_id="m365mail_shared_pacing",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):

    @task
    def send_as_one_mailbox() -> list[str]:
        from airflow_provider_m365mail.core import Mailer, OutgoingMessage, resolve_identity, run_sync
        from airflow_provider_m365mail.hooks.m365mail import M365MailHook

        worker = os.environ["M365MAIL_TEST_WORKER"]
        barrier = Path(os.environ["M365MAIL_TEST_BARRIER"])
        settings = M365MailHook().get_settings()
        identity = resolve_identity(settings)
        messages = [
            (OutgoingMessage.create(to=f"user{i}@contoso.com", subject=f"worker {worker} message {i}",
                                    text="One of many."), identity)
            for i in range(MESSAGES)
        ]
        (barrier / f"ready-{worker}").touch()
        while not (barrier / "go").exists():
            time.sleep(0.01)
        mailer = Mailer(settings, rate_window_s=float(os.environ["M365MAIL_TEST_WINDOW_S"]))
        return [result.message_id for result in run_sync(mailer.send_many(messages))]

    send_as_one_mailbox()

"""Resumable sends in real runs: a burst of transient faults, a try cut off by its timeout, a busy server, a clear.

Each DAG holds one ``send_separately`` task; the tests arm the sandbox's faults, run the DAG with ``airflow dags
test`` and count what the sandbox stored per recipient, over SMTP or (as ``m365mail_default``) Graph.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

START = pendulum.datetime(2025, 1, 1, tz="UTC")


def recipients(count: int) -> list[str]:
    return [f"customer{i:03d}@example.org" for i in range(count)]


def statements(dag_id: str, count: int, **task: object) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        M365EmailOperator(
            task_id="statements",
            to=recipients(count),
            subject="Your statement",
            text_content="one message each",
            send_separately=True,
            **task,  # type: ignore[arg-type]
        )
    return dag


# Six transient faults in a row: one try, within the connection's retry budget.
statements("m365mail_burst", 20, retries=0)
# 40 messages at 30 a minute: the first try times out after 30, Airflow's retries deliver the other 10.
statements("m365mail_cut_off", 40, retries=12, retry_delay=timedelta(0), execution_timeout=timedelta(seconds=8))
# Half the DATA commands answered 451 4.7.500: what a try leaves over, the next one sends.
statements("m365mail_busy", 50, retries=12, retry_delay=timedelta(0))
# Cleared after it succeeded: sends again only with resend=True.
with DAG(dag_id="m365mail_cleared", schedule=None, start_date=START, catchup=False):
    M365EmailOperator(task_id="resume", to=recipients(3), subject="Resumed", text_content="once",
                      send_separately=True)
    M365EmailOperator(task_id="resend", to=recipients(3), subject="Resent", text_content="again when cleared",
                      send_separately=True, resend=True)

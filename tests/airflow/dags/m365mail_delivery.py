"""Delivery options in a real run: one refused recipient fails its task when asked, then a mail merge."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

with DAG(
    dag_id="m365mail_delivery",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    # The test arms one refusal at RCPT TO: it hits gone@contoso.com, the first recipient of the run.
    partly_refused = M365EmailOperator(
        task_id="partly_refused",
        to="gone@contoso.com, bob@contoso.com",
        subject="Figures {{ ds }}",
        text_content="bob gets this; the task still fails, naming gone@contoso.com",
        fail_on_refused_recipients=True,
    )
    statements = M365EmailOperator(
        task_id="statements",
        to=["alice@contoso.com", "bob@contoso.com", "carol@fabrikam.com"],
        subject="Your statement {{ ds }}",
        text_content="one message each",
        send_separately=True,
        trigger_rule="all_done",
    )
    partly_refused >> statements

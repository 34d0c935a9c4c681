"""Tasks that must fail: two on invalid input (before any network I/O), one refused by Exchange (no Send As)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

with DAG(
    dag_id="m365mail_refusals",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    M365EmailOperator(
        task_id="subject_with_line_break",
        to="bob@contoso.com",
        subject="Report {{ ds }}\r\nBcc: eve@fabrikam.com",
        text_content="header injection attempt",
    )
    M365EmailOperator(
        task_id="sender_outside_allow_list",
        from_email="mallory@contoso.com",
        to="bob@contoso.com",
        subject="Not allowed",
        text_content="the connection's allowed_senders does not list this From",
    )
    # Listed in allowed_senders by the test, but Exchange (the sandbox) holds no Send As grant for it.
    M365EmailOperator(
        task_id="send_as_without_grant",
        from_email="alerts@contoso.com",
        to="bob@contoso.com",
        subject="No grant",
        text_content="refused at MAIL FROM with 550 5.7.60",
    )

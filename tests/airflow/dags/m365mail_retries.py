"""Airflow's retries are for transient failures: a wrong password fails at once, a busy server is retried."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

with DAG(
    dag_id="m365mail_retries",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retry_delay": timedelta(0)},
):
    # The test gives this connection a wrong password: 535, the same answer on every try.
    M365EmailOperator(
        task_id="wrong_password",
        conn_id="m365mail_smtp_basic",
        to="bob@contoso.com",
        subject="Never sent",
        text_content="refused at AUTH",
        retries=3,
    )
    # The test makes the server answer 421 at MAIL FROM to every session: transient, so Airflow tries again.
    M365EmailOperator(
        task_id="server_busy",
        to="bob@contoso.com",
        subject="Never sent either",
        text_content="421 at MAIL FROM",
        retries=1,
    )

"""Send one message over the default connection: the test points it at a mailbox signed in with `m365mail login`."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

with DAG(
    dag_id="m365mail_delegated",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    M365EmailOperator(
        task_id="send_as_signed_in_mailbox",
        to="bob@contoso.com",
        subject="Signed-in send {{ ds }}",
        text_content="Sent with the tokens of a delegated sign-in.",
    )

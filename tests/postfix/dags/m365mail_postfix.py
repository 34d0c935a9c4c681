"""The operator and the notifier sending through a real Postfix: Send As, XOAUTH2, SMTPUTF8 and a refused sender."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_m365mail.notifications.m365mail import M365EmailNotifier
from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

with DAG(
    dag_id="m365mail_postfix",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    M365EmailOperator(
        task_id="send_as_reports",
        from_email="reports@contoso.test",
        to="Bob <bob@contoso.test>",
        cc=["Jörg Müller <jörg@contoso.test>"],
        bcc="carol@contoso.test",
        reply_to="ops@contoso.test",
        subject="Postfix report {{ ds }}",
        html_content="<p>Report for {{ ds }}</p>",
    )
    M365EmailOperator(
        task_id="xoauth2_idn",
        conn_id="m365mail_xoauth2",
        to="bob@bücher.test",
        subject="Postfix XOAUTH2",
        text_content="Signed in with a token",
    )
    M365EmailOperator(
        task_id="send_as_refused",
        from_email="alice@contoso.test",
        to="bob@contoso.test",
        subject="Postfix refused",
        text_content="never delivered",
    )

    @task(on_failure_callback=M365EmailNotifier(to="ops@contoso.test", cc="jörg@contoso.test"))
    def fails() -> None:
        raise RuntimeError("partition 7 is empty")

    fails()

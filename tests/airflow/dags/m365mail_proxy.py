"""Send over SMTP submission, Graph and EWS, each through the proxy its connection names, and once with a proxy
login the proxy refuses; the tasks are independent, so one run shows all four."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

with DAG(
    dag_id="m365mail_proxy",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    for transport, conn_id in [("smtp", "m365mail_smtp_oauth2"), ("graph", "m365mail_graph"), ("ews", "m365mail_ews")]:
        M365EmailOperator(
            task_id=f"send_over_{transport}", conn_id=conn_id, to="bob@contoso.com",
            subject=f"Proxied {transport}", text_content=f"Sent over {transport} through a proxy.",
        )
    M365EmailOperator(
        task_id="refused_by_the_proxy", conn_id="m365mail_smtp_ssl", to="bob@contoso.com",
        subject="Never sent", text_content="The proxy refuses this connection's login.",
    )

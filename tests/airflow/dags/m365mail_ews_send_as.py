"""Over EWS: wait until Send As on alerts@ is live, then send as alerts@ (the grant goes live during the run)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator
from airflow_provider_m365mail.sensors.send_as import SendAsPermissionSensor

with DAG(
    dag_id="m365mail_ews_send_as",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
):
    wait = SendAsPermissionSensor(
        task_id="wait_for_send_as", conn_id="m365mail_ews", mailbox="alerts@contoso.com", poke_interval=2,
        timeout=180,
    )
    send = M365EmailOperator(
        task_id="send_as_alerts", conn_id="m365mail_ews", from_email="alerts@contoso.com", to="bob@contoso.com",
        subject="Alert over EWS", text_content="Sent as alerts@ once the grant was live.",
    )
    wait >> send

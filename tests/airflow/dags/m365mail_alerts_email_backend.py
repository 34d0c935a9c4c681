"""A task that fails with ``email_on_failure``: Airflow's own alert mail goes through the configured email_backend."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

with DAG(
    dag_id="m365mail_alerts_email_backend",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0, "email": ["ops@contoso.com"], "email_on_failure": True},
):

    @task
    def fails() -> None:
        raise ValueError("<b>disk</b> full on /data")

    fails()

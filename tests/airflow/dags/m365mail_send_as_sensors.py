"""SendAsPermissionSensor over SMTP and Graph, in poke and deferrable mode, against grants that go live later.

The test grants each waiting sensor's mailbox once the sandbox has refused that sensor's first probe, so that every
waiting sensor starts before its grant is live. Tasks run one after the other (``all_done``): grants first (the last
one Send on Behalf, in reschedule mode), then a sensor that never sees its grant (timeout), then refused credentials
(fail at once, or skip with ``soft_fail``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, chain

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION
from airflow_provider_m365mail.sensors.send_as import SendAsPermissionSensor

SMTP, GRAPH = "m365mail_smtp_oauth2", "m365mail_graph"
# Airflow 3.0's BaseSensorOperator cannot run reschedule mode at all: it subtracts the first reschedule date, which
# 3.0 hands back as text, from a datetime. There the Send on Behalf sensor pokes instead.
RESCHEDULE = "reschedule" if AIRFLOW_VERSION >= (3, 1) else "poke"

with DAG(
    dag_id="m365mail_send_as_sensors",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0, "trigger_rule": "all_done", "poke_interval": 2},
):
    chain(
        SendAsPermissionSensor(task_id="smtp_poke", conn_id=SMTP, mailbox="alerts@contoso.com", timeout=120),
        SendAsPermissionSensor(
            task_id="smtp_deferred", conn_id=SMTP, mailbox="bob@contoso.com", timeout=120, deferrable=True
        ),
        SendAsPermissionSensor(
            task_id="graph_poke", conn_id=GRAPH, mailbox="alerts@contoso.com", timeout=120,
            exponential_backoff=True, max_wait=3,
        ),
        SendAsPermissionSensor(
            task_id="graph_deferred", conn_id=GRAPH, mailbox="bob@contoso.com", timeout=120, deferrable=True,
            exponential_backoff=True, max_wait=3,
        ),
        SendAsPermissionSensor(
            task_id="smtp_reschedule", conn_id=SMTP, mailbox="data-team@contoso.com", permission="send_on_behalf",
            timeout=120, mode=RESCHEDULE,
        ),
        SendAsPermissionSensor(task_id="smtp_never", conn_id=SMTP, mailbox="alice@contoso.com", timeout=4),
        SendAsPermissionSensor(
            task_id="graph_never", conn_id=GRAPH, mailbox="alice@contoso.com", timeout=4, deferrable=True
        ),
        SendAsPermissionSensor(
            task_id="smtp_bad_password", conn_id="m365mail_smtp_basic", mailbox="reports@contoso.com",
            timeout=600,
        ),
        SendAsPermissionSensor(
            task_id="graph_bad_secret", conn_id="m365mail_default", mailbox="reports@contoso.com", timeout=600,
            deferrable=True,
        ),
        SendAsPermissionSensor(
            task_id="smtp_bad_password_soft_fail", conn_id="m365mail_smtp_basic", mailbox="reports@contoso.com",
            timeout=600, deferrable=True, soft_fail=True,
        ),
    )

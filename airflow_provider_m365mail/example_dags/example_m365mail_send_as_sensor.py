"""Onboard a team mailbox: wait until Exchange honours a new Send As grant, then send as the mailbox.

After an administrator runs ``Add-RecipientPermission reports@contoso.com -Trustee <account> -AccessRights SendAs``,
Exchange Online can take an hour to honour it, and a send before then fails (550 5.7.60 or 554 5.2.252). The sensor
probes until the grant is live, waiting in the triggerer between probes, and the send follows. A wrong password or
SMTP AUTH switched off fails the sensor at once instead of waiting for the timeout.

``m365mail demo --dag-id example_m365mail_send_as_sensor`` runs this DAG against the local sandbox, whose tenant
has this grant already live: the first probe succeeds.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator
from airflow_provider_m365mail.sensors.send_as import SendAsPermissionSensor

with DAG(
    dag_id="example_m365mail_send_as_sensor",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "m365mail"],
    doc_md=__doc__,
):
    # Probe every 2 minutes, then less often (at most every 10), for up to 3 hours, holding no worker slot.
    wait_for_send_as = SendAsPermissionSensor(
        task_id="wait_for_send_as",
        mailbox="reports@contoso.com",
        poke_interval=timedelta(minutes=2),
        exponential_backoff=True,
        max_wait=timedelta(minutes=10),
        timeout=timedelta(hours=3),
        deferrable=True,
    )

    announce = M365EmailOperator(
        task_id="announce_from_team_mailbox",
        from_email="Contoso Reports <reports@contoso.com>",
        to="alice@contoso.com",
        subject="Reports now come from reports@contoso.com",
        text_content=(
            "Send As on reports@contoso.com went live at "
            "{{ ti.xcom_pull(task_ids='wait_for_send_as')['live_at'] }}, "
            "seen by probe {{ ti.xcom_pull(task_ids='wait_for_send_as')['probes'] }}."
        ),
    )

    wait_for_send_as >> announce

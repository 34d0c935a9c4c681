"""Tell the data team by email through Microsoft 365 when a task fails, is retried, or recovers.

One line per callback: ``M365EmailNotifier(to=...)`` sends a ready-made alert (DAG, task, run, logical date, try,
state, host, the exception, and a link to the task's log in the Airflow UI, built from ``[api] base_url``). It
sends with the ``m365mail_default`` connection. In this DAG ``load_orders`` fails once and succeeds on its retry,
and ``check_freshness`` always fails, so one run shows every kind of alert; ``m365mail demo --dag-id
example_m365mail_notifier`` runs it against the local sandbox.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, get_current_context, task

from airflow_provider_m365mail.notifications.m365mail import M365EmailNotifier

TEAM = "data-team@contoso.com"
# Read by `m365mail demo`, which then reports the failed run as intended rather than as an error.
DEMO_FAILS_ON_PURPOSE = "check_freshness always fails, to send a failure alert"

with DAG(
    dag_id="example_m365mail_notifier",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    # Every task of the DAG reports its failure to the team.
    default_args={"on_failure_callback": M365EmailNotifier(to=TEAM), "retries": 0},
    tags=["example", "m365mail"],
    doc_md=__doc__,
):

    @task(
        retries=1,
        retry_delay=timedelta(seconds=0),
        on_retry_callback=M365EmailNotifier(to=TEAM),
        on_success_callback=M365EmailNotifier(to=TEAM, from_email="Contoso Reports <reports@contoso.com>"),
    )
    def load_orders() -> None:
        """Fail on the first try, as a warehouse that is still starting would, and load the orders on the second."""
        if get_current_context()["ti"].try_number == 1:
            raise ConnectionError("The warehouse did not answer within 30 s; it may still be starting.")

    @task
    def check_freshness() -> None:
        """Fail: the newest order is older than the freshness limit."""
        raise ValueError("The newest order is 26 hours old; the limit is 24 hours.")

    load_orders() >> check_freshness()

"""Alerts that must survive hostile exception text, mapped tasks, own templates and a callback that runs twice."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_m365mail.notifications.m365mail import M365EmailNotifier

# Markup that would close the <pre>, run a script and add a link if the alert did not escape it, then enough text
# to be shortened.
HOSTILE = '</pre><script>alert("owned")</script><a href="https://evil.example/">Click</a> ' + "x" * 9000 + " END"

with DAG(
    dag_id="m365mail_alerts",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
    params={"on_call": "bob@contoso.com"},
    # The whole run's alert: it reports the run and Airflow's reason, not one of its tasks.
    on_failure_callback=M365EmailNotifier(to="ops@contoso.com"),
):

    @task(
        on_failure_callback=[
            M365EmailNotifier(to="ops@contoso.com", cc="data-team@contoso.com", bcc="airflow@contoso.com"),
            # The same alert again, as a callback that runs twice would send it: the same Message-ID.
            M365EmailNotifier(to="ops@contoso.com", cc="data-team@contoso.com", bcc="airflow@contoso.com"),
            M365EmailNotifier(
                to="{{ params.on_call }}",
                subject="Own subject: {{ alert.headline }} in {{ dag.dag_id }}/{{ ti.task_id }}",
                html_content="<p>Airflow's link: {{ ti.log_url }}</p><p>Ours: {{ alert.link }}</p>",
            ),
        ],
    )
    def hostile_exception() -> None:
        raise RuntimeError(HOSTILE)

    @task(on_failure_callback=M365EmailNotifier(to="ops@contoso.com"))
    def mapped(n: int) -> None:
        if n == 1:
            raise ValueError("partition 1 is empty")

    hostile_exception()
    mapped.expand(n=[0, 1])

"""Send one notice to many recipients as one mailbox, fanned out over mapped tasks that any worker may run.

``recipient_chunks`` splits the recipients (run conf ``recipients``, else 300 sandbox addresses) into chunks of
``chunk_size``; ``send_chunk`` is mapped over them with dynamic task mapping, each mapped task sending its chunk one
message per recipient. Each mapped task keeps its own delivery ledger, so a retry sends only what its chunk has left.

Every mapped task runs in the mailbox's Airflow pool, so no more send at once than Exchange allows the mailbox
(3 SMTP connections, 4 Graph requests); make it with ``m365mail pool --conn-id m365mail_default --create`` and set
``POOL`` to the name it prints. Give the connection ``max_connections: 1`` (one connection per pool slot),
``rate_limit_storage`` (the Redis every worker reaches) so the workers share the mailbox's messages per minute, and
``token_cache_path`` so they share one token.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

POOL = "m365mail-airflow-contoso.com"  # the pool `m365mail pool --conn-id m365mail_default` names

with DAG(
    dag_id="example_m365mail_fan_out",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "recipients": Param([], type="array", description="addresses to send to; empty: 300 sandbox recipients"),
        "chunk_size": Param(30, type="integer", minimum=1, description="recipients per mapped task"),
    },
    tags=["example", "m365mail"],
    doc_md=__doc__,
):

    @task
    def recipient_chunks(params: dict[str, Any] | None = None) -> list[list[str]]:
        """Split the run's recipients into chunks, one per mapped send task (Airflow passes ``params``)."""
        assert params is not None
        recipients: list[str] = params["recipients"] or [f"customer{i:03d}@example.org" for i in range(300)]
        size: int = params["chunk_size"]
        return [recipients[start : start + size] for start in range(0, len(recipients), size)]

    M365EmailOperator.partial(
        task_id="send_chunk",
        pool=POOL,
        subject="Planned maintenance on Saturday",
        text_content="Our service is down for maintenance on Saturday from 06:00 to 08:00 UTC.",
        send_separately=True,  # one message per recipient: nobody sees the others' addresses
        retries=2,
        map_index_template="{{ task.to[0] }} and {{ task.to | length - 1 }} more",
    ).expand(to=recipient_chunks())

"""Send a daily report from a team mailbox through Microsoft 365, then tell the team on its behalf.

The ``m365mail_default`` connection's account must have Send As on ``reports@contoso.com`` and Send on Behalf on
``data-team@contoso.com`` in Exchange, and both must be in the connection's ``allowed_senders`` extra.
``m365mail demo`` runs this DAG against the local sandbox, whose tenant has exactly these grants.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_m365mail.operators.m365mail import M365EmailOperator

ASSETS = Path(__file__).parent / "assets"

with DAG(
    dag_id="example_m365mail_send",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    template_searchpath=[str(ASSETS)],
    tags=["example", "m365mail"],
    doc_md=__doc__,
):
    # Send as: only the team mailbox shows in From. HTML with an inline logo, a text alternative and a file.
    send_report = M365EmailOperator(
        task_id="send_report_as_team_mailbox",
        from_email="Contoso Reports <reports@contoso.com>",
        to="Zoë Müller <alice@contoso.com>; bob@contoso.com",
        cc=["data-team@contoso.com"],
        bcc="airflow@contoso.com",
        reply_to="data-team@contoso.com",
        subject="Tagesbericht {{ ds }}: Umsätze ✓",
        html_content="daily_report.html",
        text_content="Contoso daily report for {{ ds }}: orders are attached (report.csv).",
        files=[str(ASSETS / "report.csv")],
        inline_images={"logo": str(ASSETS / "logo.png")},
        headers={"X-Contoso-Report": "daily/{{ ds }}"},
        importance="high",
    )

    # Send on behalf: From is the team mailbox, Sender the connection's account.
    tell_team = M365EmailOperator(
        task_id="notify_on_behalf_of_team",
        on_behalf_of="data-team@contoso.com",
        to="alice@contoso.com",
        subject="Report for {{ ds }} sent",
        text_content="The daily report for {{ ds }} went out as reports@contoso.com.",
    )

    send_report >> tell_team

"""Classify a catalogue entry's example reply the way the transports do, for the catalogue's tests."""

from __future__ import annotations

from airflow_provider_m365mail.core.errors import (
    KnownReply,
    M365MailError,
    ReplySource,
    classify_aadsts,
    classify_acs_error,
    classify_ews_fault,
    classify_graph_error,
    classify_proxy_failure,
    classify_smtp_reply,
)


def classify_example(entry: KnownReply, *, smtp_stage: str = "mail") -> M365MailError:
    """Return the error the entry's example reply becomes."""
    if entry.source is ReplySource.SMTP:
        code, _, text = entry.example.partition(" ")
        return classify_smtp_reply(int(code), text, stage=smtp_stage)
    if entry.source is ReplySource.GRAPH:
        assert entry.http_status is not None
        return classify_graph_error(entry.http_status, entry.code, entry.example)
    if entry.source is ReplySource.ACS:
        assert entry.http_status is not None
        return classify_acs_error(entry.http_status, entry.code, entry.example)
    if entry.source is ReplySource.EWS:
        assert entry.code is not None
        return classify_ews_fault(entry.code, entry.example)
    if entry.source is ReplySource.PROXY:
        assert entry.code is not None
        return classify_proxy_failure("http://proxy.contoso.com:3128", entry.code, entry.example, target="h:587")
    return classify_aadsts("invalid_client", entry.example)

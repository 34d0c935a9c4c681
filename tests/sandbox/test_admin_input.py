"""Junk sent to the sandbox's HTTP side is a 400 naming what is wrong, never a 500, a hang or broken JSON later."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_m365mail.sandbox.server import Sandbox

CLIENT_ID = "11111111-2222-4333-8444-555555555555"
GRANT = {"principal": "bob@contoso.com", "mailbox": "alerts@contoso.com", "right": "send_as"}


@pytest.fixture
def http(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=m365_sandbox.settings["http_base"], verify=m365_sandbox.client_context(),
                      trust_env=False, timeout=10) as client:
        yield client


def post_json(http: httpx.Client, path: str, text: str) -> httpx.Response:
    """POST a body as written: ``NaN`` and ``Infinity`` are what Python's json module (and JavaScript) emit."""
    return http.post(path, content=text.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/_sandbox/faults", '{"target": "graph", "kind": "reply", "code": 429, "retry_after_s": Infinity}',
     "retry_after_s"),
    ("/_sandbox/faults", '{"target": "graph", "kind": "timeout", "retry_after_s": NaN}', "retry_after_s"),
    ("/_sandbox/faults", '{"target": "smtp", "kind": "timeout", "retry_after_s": -Infinity}', "retry_after_s"),
    ("/_sandbox/faults", '{"target": "graph", "kind": "reply", "probability": NaN}', "probability"),
    ("/_sandbox/faults", '{"target": "graph", "kind": "reply", "count": 1e300}', "count"),
    ("/_sandbox/faults", '{"target": "graph", "kind": "reply", "code": 429.5}', "code"),
    ("/_sandbox/grants", '{"principal": "bob@contoso.com", "mailbox": "alerts@contoso.com", "right": "send_as", '
     '"delay_s": NaN}', "delay_s"),
    ("/_sandbox/graph_scope", f'{{"client_id": "{CLIENT_ID}", "mailbox": "bob@contoso.com", "delay_s": Infinity}}',
     "delay_s"),
    ("/_sandbox/tenant", '{"token_lifetime_s": 100000000000000000000}', "token_lifetime_s"),
    ("/_sandbox/tenant", '{"token_lifetime_s": 0}', "token_lifetime_s"),
    ("/_sandbox/tenant", '{"limits": {"messages_per_window": 0}}', "limits.messages_per_window"),
    ("/_sandbox/tenant", '{"limits": {"window_s": -60}}', "limits.window_s"),
    ("/_sandbox/tenant", '{"limits": {"window_s": NaN}}', "limits.window_s"),
    ("/_sandbox/tenant", '{"limits": {"max_message_size": -1}}', "limits.max_message_size"),
    ("/_sandbox/tenant", '{"limits": {"graph_concurrent_requests": 2.5}}', "limits.graph_concurrent_requests"),
    ("/_sandbox/tenant", '{"mailboxes": {"": {"display_name": "Nobody"}}}', "mailboxes."),
    ("/_sandbox/tenant", '{"mailboxes": {"no-at-sign": {}}}', "mailboxes.no-at-sign"),
    ("/_sandbox/tenant", '{"mailboxes": {"bob@contoso.com": {"address": " "}}}', "mailboxes.bob@contoso.com.address"),
    ("/_sandbox/tenant", '{"apps": {"  ": {}}}', "apps.  "),
    ("/_sandbox/tenant", '{"accepted_domains": [""]}', "accepted_domains[0]"),
])
def test_non_finite_out_of_range_and_empty_values_are_refused_naming_the_field(
    m365_sandbox: Sandbox, http: httpx.Client, path: str, body: str, field: str
) -> None:
    tenant_before = http.get("/_sandbox/tenant").json()
    response = post_json(http, path, body)
    assert (response.status_code, response.json()["error"]["field"]) == (400, field), response.text
    assert http.get("/_sandbox/faults").json() == []
    assert http.get("/_sandbox/tenant").json() == tenant_before


def test_a_refused_nan_grant_leaves_the_grant_list_valid_json(http: httpx.Client) -> None:
    refused = post_json(http, "/_sandbox/grants", '{"principal": "bob@contoso.com", "mailbox": "alerts@contoso.com", '
                                                  '"right": "send_as", "delay_s": NaN}')
    listed = http.get("/_sandbox/grants")
    assert refused.status_code == 400
    assert "NaN" not in listed.text
    assert [g for g in listed.json() if g["principal"] == "bob@contoso.com"] == []


def test_json_nested_100000_deep_is_a_400_not_a_crash(http: httpx.Client) -> None:
    deep = '{"limits": ' + "[" * 100_000 + "]" * 100_000 + "}"
    moderately_deep = '{"limits": ' + "[" * 200 + "]" * 200 + "}"
    for body in (deep, moderately_deep):
        response = post_json(http, "/_sandbox/tenant", body)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "InvalidJson")


def test_graph_refuses_nan_and_deep_nesting_as_invalid_json(m365_sandbox: Sandbox, http: httpx.Client) -> None:
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": m365_sandbox.settings["client_secret"], "scope": "https://graph.microsoft.com/.default"}
    token = http.post(m365_sandbox.settings["token_endpoint"], data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = "/v1.0/users/airflow@contoso.com/sendMail"
    nan = http.post(url, headers=headers, content=b'{"message": {"subject": NaN}}')
    deep = http.post(url, headers=headers, content=b'{"message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
    assert [(r.status_code, r.json()["error"]["code"]) for r in (nan, deep)] == [(400, "BadRequest")] * 2
    assert m365_sandbox.messages() == []


def test_a_token_form_that_is_not_utf8_is_an_aadsts_400(m365_sandbox: Sandbox, http: httpx.Client) -> None:
    response = http.post(m365_sandbox.settings["token_endpoint"], content=b"grant_type=\xff\xfe&client_id=\xc3(",
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert response.status_code == 400
    body: dict[str, Any] = response.json()
    assert (body["error"], body["error_codes"]) == ("invalid_request", [9002313])


def test_a_non_ascii_attachment_number_is_a_404(m365_sandbox: Sandbox, http: httpx.Client) -> None:
    raw = b"From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: s\r\n\r\nbody\r\n"
    stored = m365_sandbox.call(lambda: m365_sandbox.state.store_message(
        raw=raw, envelope_from="a@contoso.com", envelope_to=["b@contoso.com"], transport="relay", principal=None))
    for number in ("\u00b2", "\u0661", "\uff11"):  # superscript two, Arabic-Indic one, fullwidth one
        response = http.get(f"/messages/{stored.id}/attachments/{number}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "AttachmentNotFound")


def test_valid_values_at_the_edges_of_their_ranges_are_accepted(http: httpx.Client) -> None:
    changed = http.post("/_sandbox/tenant", json={"token_lifetime_s": 86_400, "limits": {"window_s": 0.5,
                                                                                         "graph_retry_after_s": 0}})
    fault = http.post("/_sandbox/faults", json={"target": "graph", "kind": "reply", "probability": 0,
                                                "retry_after_s": 0})
    grant = http.post("/_sandbox/grants", json={**GRANT, "delay_s": 3600.5})
    assert [r.status_code for r in (changed, fault, grant)] == [200, 201, 201]
    assert changed.json()["limits"]["window_s"] == 0.5

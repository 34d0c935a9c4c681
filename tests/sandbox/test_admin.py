"""The sandbox's JSON admin API under /_sandbox, called with httpx over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP

import httpx
import pytest

from airflow_provider_m365mail.sandbox.server import Sandbox


@pytest.fixture
def admin(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=m365_sandbox.settings["admin_url"], verify=m365_sandbox.client_context(),
                      trust_env=False) as client:
        yield client


def store_sample(sandbox: Sandbox) -> str:
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"] = "airflow@contoso.com", "someone@example.com", "Sample"
    mime["Message-ID"] = "<sample@contoso.com>"
    mime.set_content("plain body\n")
    mime.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="blob.bin")
    raw = mime.as_bytes(policy=SMTP)
    stored = sandbox.call(lambda: sandbox.state.store_message(
        raw=raw, envelope_from="airflow@contoso.com", envelope_to=["someone@example.com"],
        transport="smtp_submission", principal="airflow@contoso.com"))
    return stored.id


def test_messages_list_detail_raw_and_delete(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    message_id = store_sample(m365_sandbox)

    [listed] = admin.get("/messages").json()
    detail = admin.get(f"/messages/{message_id}").json()
    raw = admin.get(f"/messages/{message_id}/raw")

    assert {k: listed[k] for k in ("id", "message_id", "envelope_from", "envelope_to", "subject", "transport",
                                   "principal")} == {
        "id": message_id, "message_id": "<sample@contoso.com>", "envelope_from": "airflow@contoso.com",
        "envelope_to": ["someone@example.com"], "subject": "Sample", "transport": "smtp_submission",
        "principal": "airflow@contoso.com"}
    assert listed["size"] == len(raw.content)
    assert detail["text"] == "plain body\n"
    assert detail["attachments"] == [{"filename": "blob.bin", "content_type": "application/octet-stream",
                                      "content_id": None, "inline": False, "size": 8}]
    assert ["Subject", "Sample"] in detail["headers"]
    assert raw.headers["Content-Type"].startswith("message/rfc822")
    assert raw.content == m365_sandbox.raw(message_id)

    assert admin.delete("/messages").json() == {"deleted": 1}
    assert admin.get("/messages").json() == []
    missing = admin.get(f"/messages/{message_id}")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "MessageNotFound")


def test_grants_take_effect_after_their_delay_and_can_be_revoked(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    grant = {"principal": "bob@contoso.com", "mailbox": "alerts@contoso.com", "right": "send_as", "delay_s": 3600}
    created = admin.post("/grants", json=grant)
    assert created.status_code == 201
    [view] = [g for g in admin.get("/grants").json() if g["principal"] == "bob@contoso.com"]
    assert (view["right"], view["effective"]) == ("send_as", False)
    assert not m365_sandbox.call(lambda: m365_sandbox.state.has_right("bob@contoso.com", "alerts@contoso.com",
                                                                      "send_as"))

    revoked = admin.post("/grants", json={**grant, "revoke": True})
    assert revoked.json() == {"revoked": True}
    assert [g for g in admin.get("/grants").json() if g["principal"] == "bob@contoso.com"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"target": "imap", "kind": "reply"}, "target"),
    ({"target": "graph", "kind": "explode"}, "kind"),
    ({"target": "graph", "kind": "drop_mid_data"}, "kind"),
    ({"target": "smtp", "kind": "lose_answer"}, "kind"),
    ({"target": "smtp", "kind": "reply", "stage": "helo"}, "stage"),
    ({"target": "graph", "kind": "reply", "code": "429"}, "code"),
    ({"target": "graph", "kind": "reply", "count": 0}, "count"),
    ({"target": "graph", "kind": "reply", "probability": 2}, "probability"),
    ({"target": "graph", "kind": "reply", "colour": "red"}, "colour"),
])
def test_fault_bodies_are_validated_field_by_field(admin: httpx.Client, body: dict[str, object], field: str) -> None:
    response = admin.post("/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert admin.get("/faults").json() == []


def test_faults_are_armed_listed_and_cleared(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    fault = {"target": "graph", "kind": "reply", "code": 503, "retry_after_s": 2, "count": 2}
    created = admin.post("/faults", json=fault)
    assert created.status_code == 201
    [listed] = admin.get("/faults").json()
    assert {k: listed[k] for k in fault} == {**fault, "retry_after_s": 2.0}
    assert m365_sandbox.call(lambda: len(m365_sandbox.state.faults)) == 1
    assert admin.delete("/faults").json() == {"cleared": 1}
    assert admin.get("/faults").json() == []


def test_junk_and_oversized_bodies_get_json_errors(admin: httpx.Client) -> None:
    junk = admin.post("/faults", content=b"{not json", headers={"Content-Type": "application/json"})
    not_an_object = admin.post("/grants", json=["send_as"])
    oversized = admin.post("/tenant", content=b"[" + b"1," * 200_000 + b"1]")
    assert (junk.status_code, junk.json()["error"]["code"]) == (400, "InvalidJson")
    assert (not_an_object.status_code, not_an_object.json()["error"]["code"]) == (400, "InvalidJson")
    assert (oversized.status_code, oversized.json()["error"]["code"]) == (413, "RequestEntityTooLarge")


def test_unknown_routes_are_named_as_not_emulated(m365_sandbox: Sandbox) -> None:
    with httpx.Client(base_url=m365_sandbox.settings["http_base"], verify=m365_sandbox.client_context(),
                      trust_env=False) as client:
        unknown = client.get("/v1.0/users/airflow@contoso.com/calendar/events")
        wrong_method = client.delete("/_sandbox/stats")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "NotEmulated",
        "message": "GET /v1.0/users/airflow@contoso.com/calendar/events is not emulated by the M365 sandbox.",
        "route": "GET /v1.0/users/airflow@contoso.com/calendar/events"}
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "NotEmulated")


def test_stats_list_every_counter(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    store_sample(m365_sandbox)
    stats = admin.get("/stats").json()
    assert set(stats) >= {"token_requests", "tokens_issued", "smtp_sessions", "smtp_messages", "graph_requests",
                          "throttled", "faults_fired", "messages_accepted", "smtp_replies_held"}
    assert (stats["messages_accepted"], stats["graph_requests"]) == (1, 0)


def test_tenant_changes_apply_at_once_and_name_bad_fields(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    changed = admin.post("/tenant", json={
        "smtp_auth_enabled": False,
        "limits": {"graph_request_limit": 2048},
        "mailboxes": {"bob@contoso.com": {"rest_enabled": False}, "new@contoso.com": {"display_name": "New"}},
    })
    assert changed.status_code == 200
    view = changed.json()
    assert view["smtp_auth_enabled"] is False
    assert view["limits"]["graph_request_limit"] == 2048
    boxes = {m["address"]: m for m in view["mailboxes"]}
    assert boxes["bob@contoso.com"]["rest_enabled"] is False
    assert boxes["new@contoso.com"]["display_name"] == "New"
    assert "password" not in str(view) and "client_secret" not in str(view)
    tenant = m365_sandbox.call(lambda: m365_sandbox.state.tenant)
    assert (tenant.smtp_auth_enabled, tenant.limits.graph_request_limit) == (False, 2048)

    for body, field in [({"limits": {"graph_request_limit": "big"}}, "limits.graph_request_limit"),
                        ({"mailboxes": {"bob@contoso.com": {"colour": "red"}}}, "mailboxes.bob@contoso.com.colour"),
                        ({"basic_auth_enabled": "no"}, "basic_auth_enabled"),
                        ({"tenant_name": "x"}, "tenant_name")]:
        refused = admin.post("/tenant", json=body)
        assert (refused.status_code, refused.json()["error"]["field"]) == (400, field)


def test_an_hve_accounts_billing_and_allowed_apps_change_through_the_admin_api(
    m365_sandbox: Sandbox, admin: httpx.Client
) -> None:
    changed = admin.post("/tenant", json={"hve_accounts": {"hve@contoso.com": {"active": False, "app_access": []}}})

    assert changed.status_code == 200, changed.text
    [account] = changed.json()["hve_accounts"]
    assert account == {"address": "hve@contoso.com", "can_sign_in": True, "active": False, "app_access": []}
    tenant = m365_sandbox.call(lambda: m365_sandbox.state.tenant)
    assert (tenant.hve_accounts[0].active, tenant.hve_accounts[0].app_access) == (False, ())
    refused = admin.post("/tenant", json={"hve_accounts": {"hve@contoso.com": {"active": "no"}}})
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, "hve_accounts.hve@contoso.com.active")

def test_reset_forgets_messages_and_faults(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    store_sample(m365_sandbox)
    admin.post("/faults", json={"target": "token", "kind": "reply"})
    assert admin.post("/reset").json() == {"reset": True}
    assert admin.get("/messages").json() == []
    assert admin.get("/faults").json() == []


def test_reset_restores_the_tenant_changed_through_the_admin_api(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    configured = admin.get("/tenant").json()
    changed = admin.post("/tenant", json={"smtp_auth_enabled": False, "token_lifetime_s": 60,
                                          "limits": {"messages_per_window": 1},
                                          "mailboxes": {"temp@contoso.com": {"display_name": "Temp"}}})
    assert changed.json() != configured

    assert admin.post("/reset").json() == {"reset": True}

    assert admin.get("/tenant").json() == configured
    assert m365_sandbox.call(lambda: m365_sandbox.state.tenant) == m365_sandbox.tenant

"""An app's access policy growing to include a mailbox after a delay, as Exchange applies policy changes late."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest

from airflow_provider_m365mail.sandbox.plugin import SandboxClock
from airflow_provider_m365mail.sandbox.server import Sandbox

MAILBOX = "alerts@contoso.com"


@pytest.fixture
def admin(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=m365_sandbox.settings["admin_url"], verify=m365_sandbox.client_context(),
                      trust_env=False) as client:
        yield client


@pytest.fixture
def graph(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    settings = m365_sandbox.settings
    form = {"grant_type": "client_credentials", "client_id": settings["client_id"],
            "client_secret": settings["client_secret"], "scope": "https://graph.microsoft.com/.default"}
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as client:
        token = client.post(settings["token_endpoint"], data=form).json()["access_token"]
    with httpx.Client(base_url=settings["graph_endpoint"], headers={"Authorization": f"Bearer {token}"},
                      verify=m365_sandbox.client_context(), trust_env=False, timeout=30) as client:
        yield client


def restrict_to_service_account(sandbox: Sandbox) -> None:
    def restrict() -> None:
        state = sandbox.state
        state.update_tenant(apps=tuple(replace(a, graph_scope=("airflow@contoso.com",)) for a in state.tenant.apps))

    sandbox.call(restrict)


def send_as(graph: httpx.Client, mailbox: str) -> httpx.Response:
    body: dict[str, Any] = {"message": {"subject": "Scope", "body": {"contentType": "Text", "content": "x"},
                                        "toRecipients": [{"emailAddress": {"address": "bob@contoso.com"}}]}}
    return graph.post(f"/users/{mailbox}/sendMail", json=body)


def test_a_mailbox_added_to_the_policy_is_reachable_only_after_the_delay(
    m365_sandbox: Sandbox, m365_sandbox_clock: SandboxClock, admin: httpx.Client, graph: httpx.Client
) -> None:
    restrict_to_service_account(m365_sandbox)
    client_id = m365_sandbox.settings["client_id"]

    created = admin.post("/graph_scope", json={"client_id": client_id, "mailbox": MAILBOX, "delay_s": 3600})
    m365_sandbox_clock.advance(3599)
    before = send_as(graph, MAILBOX)
    [view] = admin.get("/graph_scope").json()
    m365_sandbox_clock.advance(1)
    after = send_as(graph, MAILBOX)
    [view_after] = admin.get("/graph_scope").json()

    assert created.status_code == 201
    assert (view["mailbox"], view["delay_s"], view["effective"]) == (MAILBOX, 3600, False)
    assert view_after["effective"] is True
    assert (before.status_code, cast(str, before.json()["error"]["code"])) == (403, "ErrorAccessDenied")
    assert after.status_code == 202
    assert [m.envelope_from for m in m365_sandbox.messages()] == [MAILBOX]
    assert m365_sandbox.call(lambda: m365_sandbox.state.send_as_refusals("graph", MAILBOX)) == 1  # the one refused


def test_withdrawn_and_reset_additions_no_longer_count(
    m365_sandbox: Sandbox, admin: httpx.Client, graph: httpx.Client
) -> None:
    restrict_to_service_account(m365_sandbox)
    client_id = m365_sandbox.settings["client_id"]
    admin.post("/graph_scope", json={"client_id": client_id, "mailbox": MAILBOX})
    assert send_as(graph, MAILBOX).status_code == 202

    revoked = admin.post("/graph_scope", json={"client_id": client_id, "mailbox": MAILBOX, "revoke": True})
    assert revoked.json() == {"revoked": True}
    assert send_as(graph, MAILBOX).status_code == 403

    admin.post("/graph_scope", json={"client_id": client_id, "mailbox": MAILBOX})
    m365_sandbox.reset()
    assert admin.get("/graph_scope").json() == []


@pytest.mark.parametrize(("body", "field"), [
    ({"mailbox": MAILBOX}, "client_id"),
    ({"client_id": "00000000-0000-0000-0000-000000000000", "mailbox": MAILBOX}, "client_id"),
    ({"client_id": "11111111-2222-4333-8444-555555555555"}, "mailbox"),
    ({"client_id": "11111111-2222-4333-8444-555555555555", "mailbox": MAILBOX, "delay_s": -1}, "delay_s"),
    ({"client_id": "11111111-2222-4333-8444-555555555555", "mailbox": MAILBOX, "scope": "x"}, "scope"),
])
def test_bodies_are_validated_field_by_field(admin: httpx.Client, body: dict[str, object], field: str) -> None:
    response = admin.post("/graph_scope", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field

"""A Graph draft that is not sent does not stay behind: whatever step fails, its draft is deleted again.

Drafts are counted in the sandbox mailbox through its admin API (``GET /_sandbox/drafts``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from connection_settings import settings_for

from airflow_provider_m365mail.core.errors import PermanentSendError, TransientSendError
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage
from airflow_provider_m365mail.core.transports.graph.transport import STEP_ATTEMPTS, GraphTransport
from airflow_provider_m365mail.sandbox.server import Sandbox

MB = 1024 * 1024


@pytest.fixture
def admin(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=m365_sandbox.settings["admin_url"], verify=m365_sandbox.client_context(),
                      trust_env=False) as client:
        yield client


def drafts_left(admin: httpx.Client) -> list[dict[str, Any]]:
    response = admin.get("/drafts")
    assert response.status_code == 200
    drafts: list[dict[str, Any]] = response.json()
    return drafts


def arm(admin: httpx.Client, route: str, count: int, code: int = 503) -> None:
    fault = {"target": "graph", "kind": "reply", "code": code, "retry_after_s": 0, "count": count, "route": route}
    assert admin.post("/faults", json=fault).status_code == 201


async def send_large(sandbox: Sandbox, size: int = 3 * MB + 1) -> None:
    settings = settings_for(sandbox, "graph")
    message = OutgoingMessage.create(to="bob@contoso.com", subject="Extract", text="Attached.",
                                     attachments=[Attachment("extract.bin", content=os.urandom(size))])
    await GraphTransport(settings).send(message, resolve_identity(settings))


async def test_a_message_refused_at_send_leaves_no_draft(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    assert admin.post("/tenant", json={"limits": {"max_message_size": 3 * MB}}).status_code == 200

    with pytest.raises(PermanentSendError) as refused:
        await send_large(m365_sandbox)

    assert refused.value.code == "ErrorMessageSizeExceeded"
    assert drafts_left(admin) == []
    assert m365_sandbox.messages() == []


async def test_a_send_that_keeps_failing_leaves_no_draft_for_the_retry_to_duplicate(
    m365_sandbox: Sandbox, admin: httpx.Client
) -> None:
    arm(admin, "^POST .*/send$", STEP_ATTEMPTS)

    with pytest.raises(TransientSendError):
        await send_large(m365_sandbox)
    assert drafts_left(admin) == []

    await send_large(m365_sandbox)  # the retry: one new draft, sent
    assert (len(m365_sandbox.messages()), drafts_left(admin)) == (1, [])


async def test_a_failed_upload_leaves_no_draft(m365_sandbox: Sandbox, admin: httpx.Client) -> None:
    arm(admin, "/createUploadSession$", STEP_ATTEMPTS)

    with pytest.raises(TransientSendError):
        await send_large(m365_sandbox)

    assert drafts_left(admin) == []
    assert list((m365_sandbox.state.state_dir / "uploads").glob("*")) == []


async def test_a_failure_to_delete_the_draft_is_logged_and_the_send_error_raised(
    m365_sandbox: Sandbox, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    arm(admin, "^POST .*/send$", STEP_ATTEMPTS)
    arm(admin, "^DELETE ", 1, code=504)

    with pytest.raises(TransientSendError) as failed:
        await send_large(m365_sandbox)

    assert failed.value.code == "ServiceNotAvailable"  # the send's 503, not the delete's 504
    [left] = drafts_left(admin)
    assert left["subject"] == "Extract"
    assert any("could not delete the unsent draft" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)

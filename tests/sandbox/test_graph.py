"""The sandbox's Microsoft Graph mail endpoints, called with raw httpx over TLS and tokens from its token endpoint."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from typing import Any, cast

import httpx
import pytest

from airflow_provider_m365mail.sandbox.config import GRAPH_AUDIENCE
from airflow_provider_m365mail.sandbox.server import Sandbox

SERVICE = "airflow@contoso.com"
ALICE, ALICE_PASSWORD = "alice@contoso.com", "Alice-Passw0rd!"
CHUNK = 320 * 1024 * 10  # a multiple of 320 KiB, under 4 MB


def token(sandbox: Sandbox, **form: str) -> str:
    """Get a token from the sandbox's token endpoint (client credentials for Graph unless told otherwise)."""
    settings = sandbox.settings
    data = {"grant_type": "client_credentials", "client_id": settings["client_id"],
            "client_secret": settings["client_secret"], "scope": "https://graph.microsoft.com/.default", **form}
    with httpx.Client(verify=sandbox.client_context(), trust_env=False) as client:
        response = client.post(settings["token_endpoint"], data=data)
    assert response.status_code == 200, response.text
    return cast(str, response.json()["access_token"])


def alice_token(sandbox: Sandbox, scope: str) -> str:
    return token(sandbox, grant_type="password", username=ALICE, password=ALICE_PASSWORD, scope=scope)


@pytest.fixture
def graph(m365_sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An httpx client on the sandbox's Graph root with an app-only token."""
    headers = {"Authorization": f"Bearer {token(m365_sandbox)}"}
    with httpx.Client(base_url=m365_sandbox.settings["graph_endpoint"], headers=headers,
                      verify=m365_sandbox.client_context(), trust_env=False, timeout=30) as client:
        yield client


def address(value: str, name: str = "") -> dict[str, Any]:
    return {"emailAddress": {"address": value, **({"name": name} if name else {})}}


def message(**overrides: Any) -> dict[str, Any]:
    return {"subject": "Nightly report", "body": {"contentType": "Text", "content": "All green."},
            "toRecipients": [address("someone@example.com")], **overrides}


def only_message(sandbox: Sandbox) -> tuple[Any, EmailMessage]:
    [stored] = sandbox.messages()
    return stored, sandbox.parsed(stored.id)


def error_code(response: httpx.Response) -> str:
    return cast(str, response.json()["error"]["code"])


def test_send_mail_json_is_stored_as_mime_with_every_part(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    body = {"message": message(
        body={"contentType": "HTML", "content": '<p>All <b>green</b> <img src="cid:logo"></p>'},
        toRecipients=[address("someone@example.com", "Some One")],
        ccRecipients=[address("cc@example.com")],
        bccRecipients=[address("hidden@example.com")],
        replyTo=[address("noreply@contoso.com")],
        importance="high",
        internetMessageId="<run-42@airflow.contoso.com>",
        internetMessageHeaders=[{"name": "X-Airflow-Run-Id", "value": "run-42"}],
        attachments=[
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "report.csv", "contentType": "text/csv",
             "contentBytes": base64.b64encode(b"a,b\n1,2\n").decode()},
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "logo.png", "contentType": "image/png",
             "contentBytes": pixel, "isInline": True, "contentId": "logo"},
        ],
    ), "saveToSentItems": True}

    response = graph.post(f"/users/{SERVICE}/sendMail", json=body)

    assert (response.status_code, response.content) == (202, b"")
    stored, parsed = only_message(m365_sandbox)
    assert (stored.transport, stored.principal) == ("graph", m365_sandbox.settings["client_id"])
    assert stored.envelope_from == SERVICE
    assert stored.envelope_to == ("someone@example.com", "cc@example.com", "hidden@example.com")
    assert parsed["From"] == "Airflow Service <airflow@contoso.com>"
    assert parsed["To"] == "Some One <someone@example.com>"
    assert (parsed["Cc"], parsed["Reply-To"], parsed["Bcc"]) == ("cc@example.com", "noreply@contoso.com", None)
    assert (parsed["Message-ID"], parsed["X-Airflow-Run-Id"]) == ("<run-42@airflow.contoso.com>", "run-42")
    assert parsed["Importance"] == "high"
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None and "<b>green</b>" in html.get_content()
    related = [p for p in parsed.walk() if p.get("Content-ID") == "<logo>"]
    assert related and related[0].get_content() == b"\x89PNG\r\n\x1a\nfake"
    [csv] = list(parsed.iter_attachments())
    assert (csv.get_filename(), csv.get_content()) == ("report.csv", "a,b\n1,2\n")


def test_send_mail_accepts_msgraph_sdk_pascal_case_and_honours_save_false(
    m365_sandbox: Sandbox, graph: httpx.Client
) -> None:
    response = graph.post(f"/users/{SERVICE}/sendMail", json={
        "Message": message(internetMessageId="<not-saved@contoso.com>"), "SaveToSentItems": False})
    assert response.status_code == 202
    assert only_message(m365_sandbox)[1]["Subject"] == "Nightly report"
    lookup = graph.get(f"/users/{SERVICE}/mailFolders/sentitems/messages",
                       params={"$filter": "internetMessageId eq '<not-saved@contoso.com>'"})
    assert lookup.json()["value"] == []


def test_send_mail_mime_form_keeps_the_message_and_drops_bcc(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Bcc"] = SERVICE, "someone@example.com", "hidden@example.com"
    mime["Subject"], mime["Message-ID"] = "MIME form", "<mime-1@contoso.com>"
    mime.set_content("Sent as MIME.\n")
    raw = mime.as_bytes(policy=policy.SMTP)

    response = graph.post(f"/users/{SERVICE}/sendMail", content=base64.b64encode(raw),
                          headers={"Content-Type": "text/plain"})

    assert response.status_code == 202
    stored, parsed = only_message(m365_sandbox)
    assert stored.envelope_to == ("someone@example.com", "hidden@example.com")
    assert (parsed["Subject"], parsed["Bcc"], parsed["Message-ID"]) == ("MIME form", None, "<mime-1@contoso.com>")
    assert m365_sandbox.raw(stored.id).endswith(raw[raw.index(b"\r\n\r\n"):])


def test_send_mail_mime_form_rejects_bad_base64(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    response = graph.post(f"/users/{SERVICE}/sendMail", content=b"this is not base64!",
                          headers={"Content-Type": "text/plain"})
    assert (response.status_code, error_code(response)) == (400, "ErrorMimeContentInvalidBase64String")
    assert m365_sandbox.messages() == []


def test_requests_without_a_graph_token_get_401(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    url = f"/users/{SERVICE}/sendMail"
    anonymous = graph.post(url, json={"message": message()}, headers={"Authorization": ""})
    exchange_token = token(m365_sandbox, scope="https://outlook.office365.com/.default")
    wrong_audience = graph.post(url, json={"message": message()},
                                headers={"Authorization": f"Bearer {exchange_token}"})
    for response in (anonymous, wrong_audience):
        assert (response.status_code, error_code(response)) == (401, "InvalidAuthenticationToken")
    assert "audience" in wrong_audience.json()["error"]["message"]
    assert m365_sandbox.messages() == []


def test_app_only_sends_as_the_url_mailbox_and_needs_its_grants_for_another_from(
    m365_sandbox: Sandbox, graph: httpx.Client
) -> None:
    url = f"/users/{SERVICE}/sendMail"
    as_reports = graph.post(url, json={"message": message(**{"from": address("reports@contoso.com")})})
    on_behalf = graph.post(url, json={"message": message(**{"from": address("data-team@contoso.com")})})
    refused = graph.post(url, json={"message": message(**{"from": address("alerts@contoso.com")})})

    assert (as_reports.status_code, on_behalf.status_code) == (202, 202)
    assert (refused.status_code, error_code(refused)) == (403, "ErrorSendAsDenied")
    assert m365_sandbox.call(lambda: m365_sandbox.state.send_as_refusals("graph", "alerts@contoso.com")) == 1
    first, second = (m365_sandbox.parsed(m.id) for m in m365_sandbox.messages())
    assert (first["From"], first["Sender"]) == ("Contoso Reports <reports@contoso.com>", None)
    assert (second["From"], second["Sender"]) == ("Data Team <data-team@contoso.com>",
                                                  "Airflow Service <airflow@contoso.com>")


def test_delegated_send_from_another_mailbox_needs_shared_scope_and_a_grant(m365_sandbox: Sandbox) -> None:
    graph_endpoint = m365_sandbox.settings["graph_endpoint"]
    body = {"message": message(**{"from": address("reports@contoso.com")})}
    shared = alice_token(m365_sandbox, "Mail.Send Mail.Send.Shared")
    plain = alice_token(m365_sandbox, "Mail.Send")
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as client:
        def send(access: str) -> httpx.Response:
            return client.post(f"{graph_endpoint}/me/sendMail", json=body,
                               headers={"Authorization": f"Bearer {access}"})

        denied = send(shared)
        assert (denied.status_code, error_code(denied)) == (403, "ErrorSendAsDenied")
        assert "does not have the right to send mail on behalf of" in denied.json()["error"]["message"]
        admin = client.post(f"{m365_sandbox.settings['http_base']}/_sandbox/grants",
                            json={"principal": ALICE, "mailbox": "reports@contoso.com", "right": "send_on_behalf"})
        assert admin.status_code == 201
        assert send(plain).status_code == 403  # a grant is not enough without Mail.Send.Shared
        allowed = send(shared)

    assert allowed.status_code == 202
    stored, parsed = only_message(m365_sandbox)
    assert stored.principal == ALICE
    assert (parsed["From"], parsed["Sender"]) == ("Contoso Reports <reports@contoso.com>",
                                                  "Alice Example <alice@contoso.com>")


def test_app_access_policy_limits_app_only_mailboxes(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    def restrict() -> None:
        state = m365_sandbox.state
        state.update_tenant(apps=tuple(replace(a, graph_scope=("reports@contoso.com",)) for a in state.tenant.apps))

    m365_sandbox.call(restrict)
    blocked = graph.post(f"/users/{SERVICE}/sendMail", json={"message": message()})
    allowed = graph.post("/users/reports@contoso.com/sendMail", json={"message": message()})

    assert (blocked.status_code, error_code(blocked)) == (403, "ErrorAccessDenied")
    assert "blocked by tenant configured AppOnly AccessPolicy settings" in blocked.json()["error"]["message"]
    assert allowed.status_code == 202


def test_send_mail_over_four_megabytes_gets_413(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    big = message(body={"contentType": "Text", "content": "x" * (4 * 1024 * 1024 + 10)})
    response = graph.post(f"/users/{SERVICE}/sendMail", json={"message": big})
    assert (response.status_code, error_code(response)) == (413, "ErrorRequestEntityTooLarge")
    assert m365_sandbox.messages() == []


def test_unknown_mailbox_and_unresolvable_recipient_are_refused(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    unknown = graph.post("/users/ghost@contoso.com/sendMail", json={"message": message()})
    bad_recipient = graph.post(f"/users/{SERVICE}/sendMail",
                               json={"message": message(toRecipients=[address("not-an-address")])})
    no_recipient = graph.post(f"/users/{SERVICE}/sendMail", json={"message": message(toRecipients=[])})
    junk = graph.post(f"/users/{SERVICE}/sendMail", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (unknown.status_code, error_code(unknown)) == (404, "ErrorInvalidUser")
    assert (bad_recipient.status_code, error_code(bad_recipient)) == (400, "ErrorInvalidRecipients")
    assert (no_recipient.status_code, error_code(no_recipient)) == (400, "ErrorInvalidRecipients")
    assert (junk.status_code, error_code(junk)) == (400, "BadRequest")
    assert m365_sandbox.messages() == []


def test_a_ten_megabyte_attachment_travels_through_an_upload_session(
    m365_sandbox: Sandbox, graph: httpx.Client
) -> None:
    payload = os.urandom(10 * 1024 * 1024 + 12345)
    draft = graph.post(f"/users/{SERVICE}/messages", json=message(subject="Big file"))
    assert draft.status_code == 201
    draft_id = draft.json()["id"]
    session = graph.post(f"/users/{SERVICE}/messages/{draft_id}/attachments/createUploadSession", json={
        "AttachmentItem": {"attachmentType": "file", "name": "dump.bin", "size": len(payload)}})
    assert session.status_code == 201
    upload_url = session.json()["uploadUrl"]

    answers = []
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False, timeout=30) as uploader:
        with_auth = uploader.put(upload_url, content=payload[:CHUNK], headers={
            "Content-Range": f"bytes 0-{CHUNK - 1}/{len(payload)}", "Authorization": graph.headers["Authorization"]})
        assert with_auth.status_code == 401
        for start in range(0, len(payload), CHUNK):
            chunk = payload[start:start + CHUNK]
            answers.append(uploader.put(upload_url, content=chunk, headers={
                "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{len(payload)}"}))
            if start == CHUNK:
                replay = uploader.put(upload_url, content=chunk, headers={
                    "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{len(payload)}"})
                assert replay.status_code == 416
    assert [a.status_code for a in answers] == [200, 200, 200, 201]
    assert answers[0].json()["nextExpectedRanges"] == [str(CHUNK)]

    sent = graph.post(f"/users/{SERVICE}/messages/{draft_id}/send")

    assert sent.status_code == 202
    _, parsed = only_message(m365_sandbox)
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "dump.bin"
    assert attachment.get_content() == payload
    assert list((m365_sandbox.state.state_dir / "uploads").iterdir()) == []
    assert graph.post(f"/users/{SERVICE}/messages/{draft_id}/send").status_code == 404


def test_upload_sessions_need_mail_readwrite(m365_sandbox: Sandbox) -> None:
    send_only = m365_sandbox.call(lambda: m365_sandbox.state.tokens.issue_app_token(
        m365_sandbox.settings["client_id"], GRAPH_AUDIENCE, ["Mail.Send"]))
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as client:
        response = client.post(f"{m365_sandbox.settings['graph_endpoint']}/users/{SERVICE}/messages",
                               json=message(), headers={"Authorization": f"Bearer {send_only}"})
        lookup = client.get(f"{m365_sandbox.settings['graph_endpoint']}/users/{SERVICE}/mailFolders/sentitems/"
                            "messages", headers={"Authorization": f"Bearer {send_only}"})
    assert (response.status_code, error_code(response)) == (403, "ErrorAccessDenied")
    assert (lookup.status_code, error_code(lookup)) == (403, "ErrorAccessDenied")


@pytest.mark.sandbox(faults=[{"target": "graph", "kind": "reply", "code": 429, "retry_after_s": 3}])
def test_graph_429_fault_carries_retry_after_then_passes(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    throttled = graph.post(f"/users/{SERVICE}/sendMail", json={"message": message()})
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert graph.post(f"/users/{SERVICE}/sendMail", json={"message": message()}).status_code == 202
    assert len(m365_sandbox.messages()) == 1


def test_a_fifth_concurrent_request_per_app_and_mailbox_gets_429(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    key = f"{m365_sandbox.settings['client_id']}|{SERVICE}"
    for _ in range(4):
        assert m365_sandbox.call(lambda: m365_sandbox.state.open_graph_request(key))
    throttled = graph.post(f"/users/{SERVICE}/sendMail", json={"message": message()})
    other_mailbox = graph.post("/users/reports@contoso.com/sendMail", json={"message": message()})
    assert (throttled.status_code, error_code(throttled), throttled.headers["Retry-After"]) == (
        429, "ApplicationThrottled", "1")
    assert other_mailbox.status_code == 202


def test_sent_items_lookup_by_internet_message_id(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    sent = graph.post(f"/users/{SERVICE}/sendMail",
                      json={"message": message(internetMessageId="<o'brien-1@contoso.com>")})
    assert sent.status_code == 202
    path = "/mailFolders/sentitems/messages"
    found = graph.get(f"/users/{SERVICE}{path}", params={"$filter": "internetMessageId eq '<o''brien-1@contoso.com>'"})
    elsewhere = graph.get(f"/users/reports@contoso.com{path}",
                          params={"$filter": "internetMessageId eq '<o''brien-1@contoso.com>'"})
    [item] = found.json()["value"]
    assert (item["internetMessageId"], item["subject"]) == ("<o'brien-1@contoso.com>", "Nightly report")
    assert item["id"] == m365_sandbox.messages()[0].id
    assert elsewhere.json()["value"] == []


async def test_msgraph_sdk_sends_and_reads_odata_errors(m365_sandbox: Sandbox) -> None:
    from kiota_abstractions.authentication import (
        AccessTokenProvider,
        AllowedHostsValidator,
        BaseBearerTokenAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.body_type import BodyType
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.models.message import Message
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.recipient import Recipient
    from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
    from msgraph_core import GraphClientFactory

    access = token(m365_sandbox)
    endpoint = m365_sandbox.settings["graph_endpoint"]

    class SandboxTokens(AccessTokenProvider):  # type: ignore[misc]
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return access

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator(["127.0.0.1"])

    async with httpx.AsyncClient(verify=m365_sandbox.client_context(), trust_env=False, base_url=endpoint) as http:
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(SandboxTokens()),
                                      GraphClientFactory.create_with_default_middleware(client=http))
        adapter.base_url = endpoint
        client = GraphServiceClient(request_adapter=adapter)

        def mail(sender: str | None = None) -> SendMailPostRequestBody:
            return SendMailPostRequestBody(save_to_sent_items=True, message=Message(
                subject="From the SDK", body=ItemBody(content_type=BodyType.Text, content="hello"),
                to_recipients=[Recipient(email_address=EmailAddress(address="someone@example.com"))],
                from_=Recipient(email_address=EmailAddress(address=sender)) if sender else None))

        await client.users.by_user_id(SERVICE).send_mail.post(mail())
        with pytest.raises(ODataError) as refused:
            await client.users.by_user_id(SERVICE).send_mail.post(mail("alerts@contoso.com"))

    assert (refused.value.response_status_code, refused.value.error.code) == (403, "ErrorSendAsDenied")
    _, parsed = only_message(m365_sandbox)
    assert (parsed["Subject"], parsed["To"]) == ("From the SDK", "someone@example.com")


def test_reset_forgets_drafts(m365_sandbox: Sandbox, graph: httpx.Client) -> None:
    created = graph.post("/users/airflow@contoso.com/messages", json=message())
    assert created.status_code == 201, created.text
    draft_id = created.json()["id"]
    m365_sandbox.reset()
    sent = graph.post(f"/users/airflow@contoso.com/messages/{draft_id}/send")
    assert sent.status_code == 404
    assert sent.json()["error"]["code"] == "ErrorItemNotFound"
    assert m365_sandbox.messages() == []


def test_a_subject_shaped_like_an_encoded_word_reaches_the_reader_literally(
    m365_sandbox: Sandbox, graph: httpx.Client
) -> None:
    subjects = ["=?utf-8?q?x?=", "Load =?iso-8859-1?b?w6k=?= done", "Caf\u00e9 =?utf-8?q?=C3=A9?= " * 8]
    for subject in subjects:
        assert graph.post(f"/users/{SERVICE}/sendMail", json={"message": message(subject=subject)}).status_code == 202
    stored = m365_sandbox.messages()
    assert [m365_sandbox.parsed(m.id)["Subject"] for m in stored] == subjects
    assert [m.subject for m in stored] == [s.strip() for s in subjects]


def test_deleting_a_draft_answers_204_and_forgets_it_with_its_upload(
    m365_sandbox: Sandbox, graph: httpx.Client
) -> None:
    draft_id = graph.post(f"/users/{SERVICE}/messages", json=message()).json()["id"]
    session = graph.post(f"/users/{SERVICE}/messages/{draft_id}/attachments/createUploadSession", json={
        "AttachmentItem": {"attachmentType": "file", "name": "dump.bin", "size": 4 * 1024 * 1024}})
    upload_url = session.json()["uploadUrl"]
    assert list((m365_sandbox.state.state_dir / "uploads").iterdir()) != []

    elsewhere = graph.delete(f"/users/reports@contoso.com/messages/{draft_id}")
    deleted = graph.delete(f"/users/{SERVICE}/messages/{draft_id}")
    again = graph.delete(f"/users/{SERVICE}/messages/{draft_id}")

    assert (elsewhere.status_code, error_code(elsewhere)) == (404, "ErrorItemNotFound")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (again.status_code, error_code(again)) == (404, "ErrorItemNotFound")
    assert graph.post(f"/users/{SERVICE}/messages/{draft_id}/send").status_code == 404
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False) as uploader:
        assert uploader.get(upload_url).status_code == 404
    assert list((m365_sandbox.state.state_dir / "uploads").iterdir()) == []
    assert m365_sandbox.messages() == []


def test_the_upload_url_reports_where_to_resume_and_when_it_expires(
    m365_sandbox: Sandbox, graph: httpx.Client
) -> None:
    size = CHUNK + 1000
    draft_id = graph.post(f"/users/{SERVICE}/messages", json=message()).json()["id"]
    session = graph.post(f"/users/{SERVICE}/messages/{draft_id}/attachments/createUploadSession", json={
        "AttachmentItem": {"attachmentType": "file", "name": "dump.bin", "size": size}}).json()
    upload_url = session["uploadUrl"]
    with httpx.Client(verify=m365_sandbox.client_context(), trust_env=False, timeout=30) as uploader:
        fresh = uploader.get(upload_url)
        uploader.put(upload_url, content=os.urandom(CHUNK), headers={"Content-Range": f"bytes 0-{CHUNK - 1}/{size}"})
        halfway = uploader.get(upload_url)
        uploader.put(upload_url, content=os.urandom(1000),
                     headers={"Content-Range": f"bytes {CHUNK}-{size - 1}/{size}"})
        done = uploader.get(upload_url)
        with_auth = uploader.get(upload_url, headers={"Authorization": graph.headers["Authorization"]})
        forged = uploader.get(upload_url.partition("?")[0] + "?tempauth=forged")

    assert [r.status_code for r in (fresh, halfway, done)] == [200, 200, 200]
    assert [r.json()["nextExpectedRanges"] for r in (fresh, halfway, done)] == [["0"], [str(CHUNK)], []]
    assert fresh.json()["expirationDateTime"] == session["expirationDateTime"]
    assert (with_auth.status_code, forged.status_code) == (401, 401)

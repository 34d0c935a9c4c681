"""The real Airflow 3.3 UI in headless Chromium: our connection form draws every field with secrets as password
inputs, a connection saved through it reads back with every secret masked, and its Test Connection verdict shows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from airflow_api import AirflowUi
from secret_scan import SecretScan

from airflow_provider_m365mail import connection_fields
from airflow_provider_m365mail.sandbox.server import Sandbox

ENUM_FIELDS = {f.name for f in connection_fields.EXTRA_FIELDS if f.enum}
PROXY_USER, PROXY_PASSWORD = "proxyuser", f"Pr0xy-{uuid.uuid4().hex[:8]}"


def open_add_connection(ui: AirflowUi, conn_id: str) -> Any:
    """Open Admin > Connections > Add Connection for an m365mail connection; return the dialog."""
    page = ui.page
    page.goto(f"{ui.server.base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    dialog.get_by_role("combobox").first.fill("Microsoft 365")
    page.get_by_role("option", name="Microsoft 365 Mail").click()
    return dialog


def fill_and_save(ui: AirflowUi, dialog: Any, standard: Mapping[str, Any], extras: Mapping[str, Any]) -> None:
    """Type the standard fields, then the extras (choices picked from their lists), and save."""
    page = ui.page
    for name, value in standard.items():
        dialog.locator(f"[name={name}]").fill(str(value))
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    labels = {f.name: f.label for f in connection_fields.EXTRA_FIELDS}
    for name, value in extras.items():
        if name in ENUM_FIELDS:
            dialog.get_by_role("combobox", name=labels[name]).click()
            page.get_by_role("option", name=str(value), exact=True).click()
        else:
            dialog.locator(f"[name=element_{name}]").fill(str(value))
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")


def press_test_connection(ui: AirflowUi, conn_id: str) -> tuple[str, str]:
    """Press the Test Connection button of the connection's row in the list; return the toast's title and message
    once Airflow answers."""
    page = ui.page
    row = page.get_by_role("row").filter(has_text=conn_id)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        row.get_by_role("button", name="Test Connection").click()
    assert answer.value.status == 200, answer.value.text()
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection")
    toast.first.wait_for()
    title = toast.first.locator("[data-part=title]").inner_text()
    description = toast.first.locator("[data-part=description]")
    return title, description.inner_text() if description.count() else ""


def test_the_form_draws_every_field_and_secrets_as_password_inputs(
    airflow_ui: AirflowUi, served_secret_fields: list[str], conn_id: str
) -> None:
    dialog = open_add_connection(airflow_ui, conn_id)
    assert dialog.locator("[name=password]").get_attribute("type") == "password"
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    airflow_ui.shot("airflow-add-connection", full_page=True)

    fields = connection_fields.EXTRA_FIELDS
    missing = [f.name for f in fields if dialog.locator(f"[name=element_{f.name}]").count() != 1]
    secret_fields = [*served_secret_fields, "proxy"]  # a proxy URL may hold credentials: Airflow masks it
    shown_as = {name: dialog.locator(f"[name=element_{name}]").get_attribute("type") for name in secret_fields}
    labels = dialog.locator("label").all_inner_texts()

    assert missing == []
    assert shown_as == dict.fromkeys(secret_fields, "password")
    assert [f.label for f in fields if not any(f.label in text for text in labels)] == []


def test_a_connection_saved_through_the_form_reads_back_masked_and_its_test_quotes_no_secret(
    airflow_ui: AirflowUi, airflow_rest: httpx.Client, m365_sandbox: Sandbox, conn_id: str, secret_scan: SecretScan
) -> None:
    sandbox = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    secrets = {f.name: f"{f.name}-Secret-{uuid.uuid4().hex[:8]}" for f in connection_fields.EXTRA_FIELDS if f.secret}
    # A proxy URL with credentials; the private key (not a PEM) fails first, naming its field but not its value.
    secrets["proxy"] = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:9"
    secret_scan.secret(*secrets.values(), PROXY_PASSWORD, sandbox["password"])
    dialog = open_add_connection(airflow_ui, conn_id)

    fill_and_save(
        airflow_ui, dialog,
        {"host": sandbox["host"], "port": sandbox["port"], "login": sandbox["login"], "password": sandbox["password"]},
        {**{key: sandbox["extra"][key] for key in ("tenant_id", "client_id", "ca_bundle", "authority_host")},
         "auth_type": "oauth2_app", "security": "starttls", **secrets},
    )
    read = airflow_rest.get(f"/connections/{conn_id}").json()
    title, message = press_test_connection(airflow_ui, conn_id)
    airflow_ui.shot("airflow-test-connection-proxy")
    secret_scan.output("Test Connection toast", f"{title} {message}")

    extra = json.loads(read["extra"])
    assert read["password"] == "***"
    assert {name: extra[name] for name in secrets} == dict.fromkeys(secrets, "***")
    assert (extra["tenant_id"], extra["auth_type"]) == (sandbox["extra"]["tenant_id"], "oauth2_app")
    assert title == "Test Connection Failed"
    assert message.startswith("OAuth2 token failed: extra.certificate_private_key")
    assert PROXY_USER not in message and PROXY_PASSWORD not in message


def test_a_working_connection_saved_through_the_form_passes_its_test(
    airflow_ui: AirflowUi, m365_sandbox: Sandbox, conn_id: str
) -> None:
    sandbox = m365_sandbox.settings["airflow_connections"]["smtp_oauth2"]
    dialog = open_add_connection(airflow_ui, conn_id)

    fill_and_save(
        airflow_ui, dialog,
        {"host": sandbox["host"], "port": sandbox["port"], "login": sandbox["login"], "password": sandbox["password"]},
        {**{key: sandbox["extra"][key] for key in ("tenant_id", "client_id", "ca_bundle", "authority_host")},
         "auth_type": "oauth2_app", "security": "starttls"},
    )
    title, _ = press_test_connection(airflow_ui, conn_id)
    airflow_ui.shot("airflow-test-connection-ok")

    assert title == "Test Connection Successful"

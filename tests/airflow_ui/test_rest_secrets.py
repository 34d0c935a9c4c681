"""Airflow's own REST API hands no secret of an m365mail connection back: read-backs and Test Connection messages.

Airflow masks a connection's extras by key name alone, so each secret field of our form must have a name its masker
hides; and Test Connection shows the hook's message as it is, so that message must not quote a secret either.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from secret_scan import SecretScan

PROXY_USER, PROXY_PASSWORD = "proxyuser", f"Pr0xy-{uuid.uuid4().hex[:8]}"
MASK = "***"


def test_a_connection_created_over_rest_reads_back_with_every_secret_masked(
    airflow_rest: httpx.Client, served_secret_fields: list[str], conn_id: str, secret_scan: SecretScan
) -> None:
    # A value for every extra the served form takes as a password (the proxy's URL may hold credentials).
    secrets = {name: f"{name}-Secret-{uuid.uuid4().hex[:8]}" for name in served_secret_fields}
    secrets["proxy"] = f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy.contoso.com:3128"
    extra: dict[str, Any] = {**secrets, "tenant_id": "contoso.com", "client_id": "app-1234"}
    secret_scan.secret(*secrets.values(), PROXY_PASSWORD, "Mailbox-Passw0rd-REST")
    created = airflow_rest.post("/connections", json={
        "connection_id": conn_id, "conn_type": "m365mail", "host": "smtp.office365.com", "port": 587,
        "login": "airflow@contoso.com", "password": "Mailbox-Passw0rd-REST", "extra": json.dumps(extra),
    })
    assert created.status_code == 201, created.text

    read = airflow_rest.get(f"/connections/{conn_id}").json()

    shown = json.loads(read["extra"])
    assert read["password"] == MASK
    assert {key: shown[key] for key in secrets} == dict.fromkeys(secrets, MASK)
    assert (shown["tenant_id"], read["login"]) == ("contoso.com", "airflow@contoso.com")  # the rest stays readable


def test_test_connection_over_rest_passes_for_a_working_connection(
    airflow_rest: httpx.Client, sandbox_connection: dict[str, Any]
) -> None:
    answer = airflow_rest.post("/connections/test", json={"connection_id": "m365mail_probe", **sandbox_connection})

    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["status"] is True, verdict["message"]
    assert "authenticated as airflow@contoso.com (XOAUTH2)" in verdict["message"]


@pytest.mark.parametrize(
    "proxy",
    [f"http//{PROXY_USER}:{PROXY_PASSWORD}@proxy.contoso.com:3128", f"ftp://{PROXY_USER}:{PROXY_PASSWORD}@proxy"],
)
def test_test_connection_over_rest_never_quotes_an_invalid_proxys_credentials(
    airflow_rest: httpx.Client, sandbox_connection: dict[str, Any], secret_scan: SecretScan, proxy: str
) -> None:
    secret_scan.secret(PROXY_PASSWORD)
    extra = {**json.loads(sandbox_connection["extra"]), "proxy": proxy}

    answer = airflow_rest.post(
        "/connections/test",
        json={"connection_id": "m365mail_probe", **sandbox_connection, "extra": json.dumps(extra)},
    )

    verdict = answer.json()
    assert verdict["status"] is False
    assert verdict["message"].startswith("Connection settings failed: extra.proxy")
    assert PROXY_USER not in verdict["message"] and PROXY_PASSWORD not in verdict["message"]

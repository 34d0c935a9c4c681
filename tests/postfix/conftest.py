"""One real Postfix + Dovecot per session, the sandbox's identity platform for tokens, and connections to them.

Postfix hosts ``contoso.test`` and ``bücher.test`` (as ``xn--bcher-kva.test``); ``airflow@contoso.test`` signs in
(password, or XOAUTH2 with a delegated token the sandbox issues and Dovecot validates against the sandbox's signing
key) and may send as ``reports@contoso.test`` only. Tests are skipped, saying why, where the Debian packages are
not installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from postfix_server import MailAccount, MailServer, missing_packages
from real_parts import unavailable

from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.config import App, Mailbox, TenantConfig
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.tokens import KEY_ID

PASSWORD = "Postfix-Passw0rd!"
CLIENT_ID = "22222222-3333-4444-8555-666666666666"
CLIENT_SECRET = "postfix-tests-client-secret"
ACCOUNTS = (
    MailAccount("airflow@contoso.test", PASSWORD, send_as=("reports@contoso.test",)),
    MailAccount("reports@contoso.test"),
    MailAccount("alice@contoso.test"),
    MailAccount("bob@contoso.test"),
    MailAccount("carol@contoso.test"),
    MailAccount("ops@contoso.test"),
    MailAccount("jörg@contoso.test"),
    MailAccount("bob@xn--bcher-kva.test"),
)


@pytest.fixture(scope="session")
def identity_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Run the sandbox for its token endpoint only: it signs the tokens Dovecot validates."""
    tenant = TenantConfig(
        accepted_domains=("contoso.test",),
        mailboxes=(Mailbox("airflow@contoso.test", "Airflow Service", password=PASSWORD),),
        apps=(App(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),),
    )
    sandbox = Sandbox(tmp_path_factory.mktemp("postfix-identity"), tenant).start_in_thread()
    try:
        yield sandbox
    finally:
        sandbox.stop_thread()


@pytest.fixture(scope="session")
def postfix_session(identity_platform: Sandbox) -> Iterator[MailServer]:
    """Start Postfix and Dovecot for the session; skip where they are not installed."""
    missing = missing_packages()
    if missing:
        unavailable(f"needs the Debian packages {', '.join(missing)} (see .ci/apt-packages)")
    if os.geteuid() != 0:
        unavailable("Postfix's master process runs as root (it drops to the postfix user itself)")
    private = serialization.load_pem_private_key((identity_platform.state_dir / "signing-key.pem").read_bytes(), None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    server = MailServer(["contoso.test", "xn--bcher-kva.test"], ACCOUNTS, {(CLIENT_ID, KEY_ID): public}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postfix(postfix_session: MailServer) -> MailServer:
    """Return the session's Postfix with every Maildir emptied."""
    postfix_session.clear_mail()
    return postfix_session


@pytest.fixture(scope="session")
def postfix_connections(postfix_session: MailServer, identity_platform: Sandbox) -> dict[str, dict[str, Any]]:
    """Return Airflow connections (JSON form) by conn id: STARTTLS, implicit TLS, XOAUTH2, and no SMTPUTF8."""
    bundle = postfix_session.root / "trusted-cas.pem"
    bundle.write_bytes(postfix_session.ca_file.read_bytes() + Path(identity_platform.ca_file).read_bytes())
    os.chmod(bundle, 0o644)
    common = {"ca_bundle": str(bundle), "from_email": "airflow@contoso.test", "allowed_senders": "*@contoso.test"}
    basic = {**common, "auth_type": "basic"}
    ports = postfix_session.ports

    def connection(port: int, **extra: Any) -> dict[str, Any]:
        return {"conn_type": "m365mail", "host": "127.0.0.1", "port": port, "login": "airflow@contoso.test",
                "password": PASSWORD, "extra": extra}

    return {
        "m365mail_default": connection(ports["starttls"], **basic, security="starttls"),
        "m365mail_ssl": connection(ports["ssl"], **basic, security="ssl"),
        "m365mail_xoauth2": connection(
            ports["ssl"], **common, security="ssl", auth_type="oauth2_delegated", client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET, tenant_id=identity_platform.tenant.tenant_id,
            authority_host=identity_platform.settings["authority_host"],
        ),
        "m365mail_no_smtputf8": connection(ports["no_smtputf8"], **basic, security="starttls"),
    }


@pytest.fixture
def postfix_settings(postfix_connections: dict[str, dict[str, Any]]) -> Any:
    """Return a function giving the ``MailSettings`` of one of the connections, extras overridden by keyword."""

    def settings(conn_id: str = "m365mail_default", **extra: Any) -> MailSettings:
        conn = postfix_connections[conn_id]
        return MailSettings.from_connection_fields(
            host=conn["host"], port=conn["port"], login=conn["login"], password=conn["password"],
            extra={**conn["extra"], **extra},
        )

    return settings

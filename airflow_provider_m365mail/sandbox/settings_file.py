"""Write what ``settings.json`` says: where the sandbox listens, its credentials and ready Airflow connections."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import TenantConfig
from .smtp import Listener


def describe(
    tenant: TenantConfig, host: str, ca_file: Path, smtp_ports: Mapping[Listener, int], http_port: int
) -> dict[str, Any]:
    """Return the settings.json content: endpoints, credentials and ready-made Airflow connections."""
    ca = str(ca_file)
    http_base = f"https://{host}:{http_port}"
    authority_host = f"{host}:{http_port}"
    graph_endpoint = f"{http_base}/v1.0"
    basic = next((m for m in tenant.mailboxes if m.password), None)
    app = next((a for a in tenant.apps if a.client_secret), None)
    from_email = basic.address if basic else ""
    allowed = ",".join(
        g.mailbox for g in tenant.grants if basic and g.principal.casefold() == basic.address.casefold()
    )
    other_sender = f"alerts@{tenant.accepted_domains[0]}" if tenant.accepted_domains else from_email
    # Defaults (transport smtp; no auth without credentials) are left out: Airflow hands every extra to its
    # log masker, which warns "too short" on each run for values under 5 characters such as "smtp" or "none".
    smtp = {"ca_bundle": ca, "from_email": from_email, "allowed_senders": allowed}
    anonymous = {"security": "starttls", "ca_bundle": ca, "from_email": other_sender}
    oauth = {"tenant_id": tenant.tenant_id, "authority_host": authority_host}

    def connection(port: int | None, login: str | None, password: str | None, **extra: Any) -> dict[str, Any]:
        conn: dict[str, Any] = {"conn_type": "m365mail"}
        if port is not None:
            conn.update(host=host, port=port)
        if login is not None:
            conn.update(login=login, password=password)
        return {**conn, "extra": extra}

    connections: dict[str, Any] = {}
    if basic is not None:
        connections["smtp_basic"] = connection(
            smtp_ports["submission"], basic.address, basic.password,
            **smtp, smtp_mode="submission", security="starttls", auth_type="basic",
        )
        connections["smtp_ssl"] = connection(
            smtp_ports["ssl"], basic.address, basic.password,
            **smtp, smtp_mode="submission", security="ssl", auth_type="basic",
        )
    if basic is not None and app is not None:
        connections["smtp_oauth2"] = connection(
            smtp_ports["submission"], basic.address, app.client_secret,
            **smtp, **oauth, smtp_mode="submission", security="starttls", auth_type="oauth2_app",
            client_id=app.client_id,
        )
    signs_in = next((m for m in tenant.mailboxes if m.password and m is not basic), basic)
    public = next((a for a in tenant.apps if a.public_client), None)
    if signs_in is not None and public is not None:
        # Delegated: `m365mail login` signs the mailbox in and keeps its tokens in this cache; no secret here.
        connections["smtp_delegated"] = connection(
            smtp_ports["submission"], signs_in.address, None,
            ca_bundle=ca, from_email=signs_in.address, **oauth, smtp_mode="submission",
            security="starttls", auth_type="oauth2_delegated", client_id=public.client_id,
            token_cache_path=str(ca_file.parent / "token-caches" / "smtp_delegated.json"),  # in the state folder
        )
    connections["direct_send"] = connection(smtp_ports["direct_send"], None, None, **anonymous,
                                            smtp_mode="direct_send")
    connections["relay"] = connection(smtp_ports["relay"], None, None, **anonymous, smtp_mode="relay")
    if app is not None:
        connections["graph"] = connection(
            None, basic.address if basic is not None else None, app.client_secret,
            transport="graph", **oauth, client_id=app.client_id, graph_endpoint=graph_endpoint,
            ca_bundle=ca, from_email=from_email, allowed_senders=allowed,
        )
    if basic is not None:
        connections["ews"] = connection(
            None, basic.address, basic.password, transport="ews", auth_type="ntlm",
            ews_url=f"{http_base}/EWS/Exchange.asmx", ca_bundle=ca, from_email=from_email, allowed_senders=allowed,
        )
    connections.update(_volume_connections(tenant, host, ca, smtp_ports, http_base, oauth, allowed))
    return {
        "smtp": {
            "host": host,
            "submission_port": smtp_ports["submission"],
            "ssl_port": smtp_ports["ssl"],
            "direct_send_port": smtp_ports["direct_send"],
            "relay_port": smtp_ports["relay"],
            "hve_port": smtp_ports["hve"],
            "acs_smtp_port": smtp_ports["acs_smtp"],
        },
        "acs_endpoint": http_base,
        "http_base": http_base,
        "token_endpoint": f"{http_base}/{tenant.tenant_id}/oauth2/v2.0/token",
        "device_code_endpoint": f"{http_base}/{tenant.tenant_id}/oauth2/v2.0/devicecode",
        "verification_uri": f"{http_base}/devicelogin",
        "authority_host": authority_host,
        "graph_endpoint": graph_endpoint,
        "ews_url": f"{http_base}/EWS/Exchange.asmx",
        "inbox_url": f"{http_base}/",
        "admin_url": f"{http_base}/_sandbox",
        "ca_file": ca,
        "tenant_id": tenant.tenant_id,
        "client_id": app.client_id if app else None,
        "client_secret": app.client_secret if app else None,
        "mailboxes": [
            {"address": m.address, "display_name": m.display_name}
            | ({"password": m.password} if m.password else {})
            for m in tenant.mailboxes
        ],
        "basic_user": {"address": basic.address, "password": basic.password} if basic else None,
        "airflow_connections": connections,
    }


def _volume_connections(  # noqa: PLR0917 - the parts of describe() these connections share
    tenant: TenantConfig, host: str, ca: str, smtp_ports: Mapping[Listener, int], http_base: str,
    oauth: Mapping[str, str], allowed: str,
) -> dict[str, Any]:
    """Return the connections for High Volume Email (``hve``) and Azure Communication Services (``acs``,
    ``acs_smtp``)."""
    connections: dict[str, Any] = {}
    hve = next((a for a in tenant.hve_accounts if a.password), None)
    if hve is not None:
        connections["hve"] = {
            "conn_type": "m365mail", "host": host, "port": smtp_ports["hve"], "login": hve.address,
            "password": hve.password,
            "extra": {"transport": "smtp", "smtp_mode": "hve", "ca_bundle": ca, "from_email": hve.address,
                      "allowed_senders": allowed, "accepted_domains": ",".join(tenant.accepted_domains)},
        }
    app = next((a for a in tenant.apps if a.client_secret and a.client_id in tenant.acs.role_apps), None)
    sender = f"DoNotReply@{tenant.acs.sender_domains[0]}" if tenant.acs.sender_domains else ""
    if app is not None:
        acs = {"from_email": sender, "allowed_senders": allowed, "ca_bundle": ca}
        connections["acs"] = {
            "conn_type": "m365mail", "password": app.client_secret,
            "extra": {"transport": "acs", "acs_endpoint": http_base, **oauth, "client_id": app.client_id, **acs},
        }
        connections["acs_smtp"] = {
            "conn_type": "m365mail", "host": host, "port": smtp_ports["acs_smtp"], "password": app.client_secret,
            "extra": {"transport": "smtp", "smtp_mode": "acs", "acs_resource": tenant.acs.name,
                      "tenant_id": tenant.tenant_id, "client_id": app.client_id, **acs},
        }
    return connections

"""Turn an Airflow connection's fields into coherent ``MailSettings`` values, applying defaults per mode.

The rules follow Microsoft's three SMTP options and Graph (see M365-FACTS.md): submission is 587 + STARTTLS
with SMTP AUTH on the cloud's endpoint; direct send and relay go unauthenticated to the tenant MX on port 25;
Graph needs OAuth. Combinations that would fail at the server (or leak credentials) are refused here, naming
the field and the fix.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.acs import (
    ACS_SMTP_HOST,
    acs_default_auth,
    acs_endpoint,
    acs_recipient_limit,
    acs_smtp_login,
    check_acs_auth,
    is_acs,
)
from airflow_provider_m365mail.core.settings.choices import AuthType, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.clouds import CLOUDS, Cloud
from airflow_provider_m365mail.core.settings.entra_ids import MULTI_TENANT, check_tenant_id, check_thumbprint
from airflow_provider_m365mail.core.settings.ews import check_ews_auth, ews_endpoint
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader, parse_int
from airflow_provider_m365mail.core.settings.hosts import (
    check_authority_host,
    check_graph_endpoint,
    check_host,
    check_proxy,
    check_rate_limit_storage,
    check_smtp_proxy,
    graph_host_port,
    is_ip_literal,
    is_mx_host,
    submission_cloud,
)
from airflow_provider_m365mail.core.settings.hve import accepted_domains, check_hve_auth, hve_host
from airflow_provider_m365mail.core.settings.mailbox_limits import mailbox_limits
from airflow_provider_m365mail.core.settings.private_servers import is_private_setup
from airflow_provider_m365mail.core.settings.senders import sender_defaults, warn_where_microsoft_refuses

_OAUTH = (AuthType.OAUTH2_APP, AuthType.OAUTH2_DELEGATED)
_UNAUTHENTICATED_MODES = (SmtpMode.DIRECT_SEND, SmtpMode.RELAY)  # the tenant MX, which takes no AUTH
_FILE_EXTRAS = ("certificate_path", "ca_bundle", "client_certificate_path", "client_key_path")
# A timeout is waited for on every connect and read, and retries stop after four of them: an hour is plenty,
# and far larger values overflow the socket layer's timers.
MAX_TIMEOUT_S = 3600.0
_OAUTH_FIX = "e.g. auth_type oauth2_app with tenant_id, client_id and a client secret"


def resolve_connection(
    *, host: str | None, port: Any, login: str | None, password: str | None, extra: ExtraReader
) -> dict[str, Any]:
    """Return the ``MailSettings`` field values for a connection, or raise ``ConfigurationError``."""
    login = (login or "").strip() or None
    password = password or None
    transport = extra.choice("transport", TransportKind) or TransportKind.SMTP
    cloud = extra.choice("cloud", Cloud) or Cloud.GLOBAL
    endpoints = CLOUDS[cloud]
    authority_host = check_authority_host(extra.text("authority_host") or endpoints.authority_host)
    values: dict[str, Any] = {
        "transport": transport,
        "cloud": cloud,
        "authority_host": authority_host,
        "tenant_id": check_tenant_id(extra.text("tenant_id")),
        "refresh_token": extra.text("refresh_token"),
        "token_cache_path": extra.text("token_cache_path"),
        "certificate_private_key": extra.text("certificate_private_key"),
        "certificate_thumbprint": check_thumbprint(extra.text("certificate_thumbprint")),
        "save_to_sent_items": extra.boolean("save_to_sent_items", True),
        "allow_insecure_auth": extra.boolean("allow_insecure_auth", False),
        **{key: extra.existing_file(key) for key in _FILE_EXTRAS},
        **_limits(extra),
        **sender_defaults(extra),
    }
    if extra.text("proxy"):
        values["proxy"] = check_proxy(extra.text("proxy") or "")
        if transport is TransportKind.SMTP:
            check_smtp_proxy(values["proxy"])
    if values["client_key_path"] and not values["client_certificate_path"]:
        raise ConfigurationError(
            "extra.client_key_path", "a client key needs its certificate", hint="set extra.client_certificate_path"
        )
    if values["certificate_path"] and values["certificate_private_key"]:
        raise ConfigurationError(
            "extra.certificate_private_key", "set certificate_path or certificate_private_key, not both"
        )
    if transport is TransportKind.GRAPH:
        values.update(_graph_endpoint(host, port, extra, endpoints.graph_endpoint))
    elif transport is TransportKind.EWS:
        values.update(ews_endpoint(host, port, extra))
    elif transport is TransportKind.ACS:
        values.update(acs_endpoint(host, port, extra))
        values["acs_access_key"] = extra.text("acs_access_key")
    else:
        values.update(_smtp_endpoint(host, port, login, extra, cloud))
    if values["smtp_mode"] is SmtpMode.ACS:
        login, password = acs_smtp_login(login, password, extra)
    if is_acs(values):
        values["max_recipients_per_message"] = acs_recipient_limit(values, extra)
    values["accepted_domains"] = accepted_domains(extra, values["smtp_mode"], login, values["from_email"])
    if values["smtp_mode"] is SmtpMode.HVE:
        values["save_to_sent_items"] = False  # HVE keeps no Sent Items
    values.update(mailbox_limits(values, extra))
    values.update(_credentials(values, login, password, extra))
    _check_coherence(values, custom_authority=authority_host != endpoints.authority_host)
    warn_where_microsoft_refuses(values)
    return values


# How long transient failures of one message are retried (server waits included) before it is left for the next try.
DEFAULT_RETRY_BUDGET_S = 300.0


def _limits(extra: ExtraReader) -> dict[str, Any]:
    return {
        "max_recipients_per_message": extra.positive_integer("max_recipients_per_message", 500),
        "max_messages_per_minute": extra.positive_integer("max_messages_per_minute", 30),
        "timeout": extra.positive_number("timeout", 30.0, at_most=MAX_TIMEOUT_S),
        "retry_budget_s": extra.positive_number("retry_budget_s", DEFAULT_RETRY_BUDGET_S),
        "rate_limit_storage": check_rate_limit_storage(extra.text("rate_limit_storage")),
    }


def _port(value: Any, field: str) -> int:
    number = parse_int(value, field=field)
    if not 0 < number < 65536:
        raise ConfigurationError(field, f"{number} is not a TCP port (1-65535)")
    return number


def _graph_endpoint(host: str | None, port: Any, extra: ExtraReader, default: str) -> dict[str, Any]:
    for key in ("smtp_mode", "security"):
        if key in extra:
            raise ConfigurationError(f"extra.{key}", f"{key} applies to transport smtp only", hint="remove it")
    if extra.text("graph_endpoint"):
        endpoint = check_graph_endpoint(extra.text("graph_endpoint") or "", field="extra.graph_endpoint")
    elif host:
        url = host.strip() if "://" in host else f"https://{host.strip()}" + (f":{_port(port, 'port')}" if port else "")
        endpoint = check_graph_endpoint(url, field="host")
    else:
        endpoint = default
    graph_host, graph_port = graph_host_port(endpoint)
    secure = endpoint.startswith("https://")
    return {
        "graph_endpoint": endpoint,
        "smtp_mode": SmtpMode.SUBMISSION,
        "host": graph_host,
        "port": graph_port,
        "security": Security.SSL if secure else Security.NONE,
    }


def _smtp_endpoint(host: str | None, port: Any, login: str | None, extra: ExtraReader, cloud: Cloud) -> dict[str, Any]:
    if extra.text("graph_endpoint"):
        raise ConfigurationError(
            "extra.graph_endpoint", "graph_endpoint applies to transport graph only", hint="set transport graph"
        )
    name = check_host(host, field="host") if host and host.strip() else None
    mode = extra.choice("smtp_mode", SmtpMode)
    if mode is None:
        mode = SmtpMode.DIRECT_SEND if name and is_mx_host(name) else SmtpMode.SUBMISSION
    if mode is SmtpMode.HVE:
        name = hve_host(name)
    elif mode is SmtpMode.ACS:
        name = name or ACS_SMTP_HOST
    if name is None:
        if mode in _UNAUTHENTICATED_MODES:
            raise ConfigurationError(
                "host",
                f"{mode.value} needs the tenant's MX host",
                hint="e.g. contoso-com.mail.protection.outlook.com (the MX record of your domain)",
            )
        name = CLOUDS[cloud].smtp_host
    security = extra.choice("security", Security)
    number = _port(port, "port") if port not in (None, "", 0) else None
    if number is None:
        number = 465 if security is Security.SSL else (25 if mode in _UNAUTHENTICATED_MODES else 587)
    security = security or (Security.SSL if number == 465 else Security.STARTTLS)
    _check_port_security(number, security)
    alternate_host = extra.text("alternate_host")
    alternate_port = extra.integer("alternate_port")
    if alternate_port is not None and not alternate_host:
        raise ConfigurationError("extra.alternate_port", "set alternate_host too", hint="or remove alternate_port")
    return {
        "smtp_mode": mode,
        "host": name,
        "port": number,
        "security": security,
        "graph_endpoint": CLOUDS[cloud].graph_endpoint,
        "alternate_host": check_host(alternate_host, field="extra.alternate_host") if alternate_host else None,
        "alternate_port": (
            _port(alternate_port, "extra.alternate_port") if alternate_port is not None
            else (number if alternate_host else None)
        ),
    }


def _check_port_security(port: int, security: Security) -> None:
    message = None
    if port == 587 and security is Security.SSL:
        message = "port 587 uses STARTTLS: set security to 'starttls' or use port 465"
    elif port == 465 and security is not Security.SSL:
        message = f"port 465 uses implicit TLS: set security to 'ssl' or use port 587 (security {security.value})"
    elif port == 25 and security is Security.SSL:
        message = "port 25 does not use implicit TLS: set security to 'starttls' (or 'none') or use port 465"
    if message:
        raise ConfigurationError("extra.security", message)


def _default_auth(values: dict[str, Any], login: str | None, password: str | None, client_id: str | None) -> AuthType:
    oauth = AuthType.OAUTH2_DELEGATED if values["refresh_token"] else AuthType.OAUTH2_APP
    if values["transport"] is TransportKind.GRAPH:
        return oauth
    if values["transport"] is TransportKind.EWS:
        return oauth if client_id else AuthType.NTLM
    if values["smtp_mode"] in _UNAUTHENTICATED_MODES:
        return AuthType.NONE
    if values["smtp_mode"] is SmtpMode.ACS:
        return AuthType.BASIC
    if client_id:
        return oauth
    return AuthType.BASIC if login and password else AuthType.NONE


def _credentials(values: dict[str, Any], login: str | None, password: str | None, extra: ExtraReader) -> dict[str, Any]:
    client_id = extra.text("client_id")
    auth = extra.choice("auth_type", AuthType) or (
        acs_default_auth(extra) if values["transport"] is TransportKind.ACS
        else _default_auth(values, login, password, client_id)
    )
    graph = values["transport"] is TransportKind.GRAPH
    check_acs_auth(values, auth, extra)
    check_hve_auth(values["smtp_mode"], auth)
    if graph and auth in (AuthType.BASIC, AuthType.NTLM, AuthType.NONE):
        raise ConfigurationError(
            "extra.auth_type", f"Microsoft Graph needs OAuth, not {auth.value}", hint=_OAUTH_FIX
        )
    check_ews_auth(values["transport"], auth)
    if values["smtp_mode"] in _UNAUTHENTICATED_MODES and auth is not AuthType.NONE:
        raise ConfigurationError(
            "extra.auth_type",
            f"{values['smtp_mode'].value} does not authenticate (auth_type must be none, got {auth.value})",
            hint="for authenticated sending use smtp_mode submission",
        )
    username, client_secret = login, extra.text("client_secret")
    if graph and auth is AuthType.OAUTH2_APP and client_id is None:
        client_id, username = login, None
    if auth is AuthType.OAUTH2_APP or (auth is AuthType.OAUTH2_DELEGATED and values["refresh_token"]):
        client_secret, password = client_secret or password, None
    if auth in (AuthType.BASIC, AuthType.NTLM):
        if not login:
            raise ConfigurationError("login", "basic auth needs the mailbox to sign in as", hint="set login")
        if not password:
            raise ConfigurationError("password", "basic auth needs the mailbox password", hint="set password")
    if values["token_cache_path"] and auth not in _OAUTH:
        raise ConfigurationError(
            "extra.token_cache_path", f"{auth.value} uses no tokens to cache", hint="remove token_cache_path"
        )
    if auth in _OAUTH:
        _check_oauth(
            values, auth, client_id=client_id, client_secret=client_secret, username=username, password=password
        )
        if not graph and values["transport"] is not TransportKind.ACS and auth is AuthType.OAUTH2_APP:
            username = username or values["from_email"]
            if not username:
                raise ConfigurationError(
                    "login",
                    "XOAUTH2 needs the mailbox to authenticate as",
                    hint="set login to the mailbox the app has FullAccess on, e.g. airflow@contoso.com",
                )
    return {
        "auth_type": auth,
        "username": username,
        "password": password,
        "client_secret": client_secret,
        "client_id": client_id,
    }


def _check_oauth(
    values: dict[str, Any],
    auth: AuthType,
    *,
    client_id: str | None,
    client_secret: str | None,
    username: str | None,
    password: str | None,
) -> None:
    tenant = values["tenant_id"]
    if not tenant:
        raise ConfigurationError(
            "extra.tenant_id", f"{auth.value} needs the tenant id", hint="Entra admin center > Overview > Tenant ID"
        )
    if not client_id:
        raise ConfigurationError(
            "extra.client_id",
            f"{auth.value} needs the application (client) id",
            hint="Entra admin center > App registrations > your app > Application (client) ID",
        )
    if auth is AuthType.OAUTH2_APP:
        if tenant.lower() in MULTI_TENANT:
            raise ConfigurationError(
                "extra.tenant_id", f"app-only tokens need your tenant, not {tenant!r}", hint="use the tenant GUID"
            )
        if not (client_secret or values["certificate_path"] or values["certificate_private_key"]):
            raise ConfigurationError(
                "extra.client_secret",
                "oauth2_app needs a client secret or a certificate",
                hint="put the secret in the password field or extra.client_secret, or set extra.certificate_path",
            )
    elif values["token_cache_path"] and not username:
        raise ConfigurationError(
            "login", "a delegated token cache needs the mailbox that signs in", hint="set login, e.g. alice@contoso.com"
        )
    elif not (values["refresh_token"] or values["token_cache_path"]) and not (username and password):
        raise ConfigurationError(
            "extra.refresh_token",
            "oauth2_delegated needs a token cache, a refresh token, or login and password",
            hint="set extra.token_cache_path and sign the mailbox in with `m365mail login --conn-id <id>`",
        )


def _check_coherence(values: dict[str, Any], *, custom_authority: bool) -> None:
    if values["transport"] is not TransportKind.SMTP:
        return
    host, auth, security, mode = values["host"], values["auth_type"], values["security"], values["smtp_mode"]
    host_cloud = submission_cloud(host)
    if security is Security.NONE and auth is not AuthType.NONE and not values["allow_insecure_auth"]:
        raise ConfigurationError(
            "extra.security",
            f"security 'none' would send the {auth.value} credentials in clear text",
            hint="use security starttls (port 587) or ssl (port 465); allow_insecure_auth true is for local tests",
        )
    if mode is SmtpMode.SUBMISSION and is_mx_host(host):
        raise ConfigurationError(
            "host",
            f"{host} is the tenant MX endpoint: it takes direct send and relay, not SMTP AUTH",
            hint="set smtp_mode direct_send (or relay), or use host " + CLOUDS[values["cloud"]].smtp_host,
        )
    if mode in _UNAUTHENTICATED_MODES and host_cloud:
        raise ConfigurationError(
            "host",
            f"{host} is the SMTP AUTH endpoint; {mode.value} goes to the tenant MX (it answers 530 5.7.57 here)",
            hint="use your domain's MX host, e.g. contoso-com.mail.protection.outlook.com",
        )
    if host_cloud and security is Security.SSL:
        raise ConfigurationError(
            "extra.security",
            f"{host} does not offer implicit TLS (port 465)",
            hint="use port 587 with security starttls",
        )
    if host_cloud and auth is AuthType.NONE:
        raise ConfigurationError(
            "extra.auth_type",
            f"{host} accepts only authenticated submission (it answers 530 5.7.57)",
            hint=_OAUTH_FIX + "; to send without auth use smtp_mode direct_send with your tenant's MX host",
        )
    if host_cloud and auth in _OAUTH and host_cloud is not values["cloud"]:
        raise ConfigurationError(
            "extra.cloud",
            f"{host} belongs to the {host_cloud.value} cloud but cloud is {values['cloud'].value}",
            hint=f"set extra.cloud to {host_cloud.value!r}: tokens from one cloud are not valid in another",
        )
    private = is_private_setup(ca_bundle=values["ca_bundle"], custom_authority=custom_authority)
    if is_ip_literal(host) and auth is not AuthType.NONE and security is not Security.NONE and not private:
        raise ConfigurationError(
            "host",
            f"{host} is an IP address: Microsoft 365 requires the DNS name and its certificates name hosts",
            hint=f"use {CLOUDS[values['cloud']].smtp_host}; a test server with its own CA needs extra.ca_bundle",
        )

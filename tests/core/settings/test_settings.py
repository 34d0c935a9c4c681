"""MailSettings: defaults per mode, typed extras from strings, and every refusal naming its field."""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.model import (
    CLOUDS,
    EXTRA_KEYS,
    AuthType,
    Cloud,
    MailSettings,
    Security,
    SmtpMode,
    TransportKind,
)
from airflow_provider_m365mail.core.settings.secret import Secret

TENANT = "00000000-0000-4000-8000-00000000c0de"
CLIENT = "11111111-2222-4333-8444-555555555555"
APP = {"tenant_id": TENANT, "client_id": CLIENT}


def build(
    *, host: str | None = None, port: Any = None, login: str | None = None, password: str | None = None,
    **extra: Any,
) -> MailSettings:
    return MailSettings.from_connection_fields(host=host, port=port, login=login, password=password, extra=extra)


def refused(field: str, match: str | None = None, **kwargs: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError, match=match) as info:
        build(**kwargs)
    assert info.value.field == field, str(info.value)
    return info.value


@pytest.fixture
def pem_file(tmp_path: Path) -> str:
    path = tmp_path / "file.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return str(path)


# --- defaults -------------------------------------------------------------------------------------------------


def test_submission_defaults_to_the_cloud_host_587_starttls_and_basic_auth() -> None:
    s = build(login="airflow@contoso.com", password="pw")
    assert (s.transport, s.smtp_mode, s.host, s.port) == (TransportKind.SMTP, SmtpMode.SUBMISSION,
                                                          "smtp.office365.com", 587)
    assert (s.security, s.auth_type, s.username, s.password) == (Security.STARTTLS, AuthType.BASIC,
                                                                 "airflow@contoso.com", Secret("pw"))


def test_client_id_makes_oauth2_app_and_the_password_becomes_the_client_secret() -> None:
    s = build(login="airflow@contoso.com", password="app-secret", **APP)
    assert s.auth_type is AuthType.OAUTH2_APP
    assert (s.client_secret, s.password) == (Secret("app-secret"), None)
    assert s.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert s.exchange_scope == "https://outlook.office365.com/.default"
    assert s.graph_scope == "https://graph.microsoft.com/.default"
    assert s.uses_oauth


def test_client_secret_extra_wins_over_the_password() -> None:
    s = build(login="airflow@contoso.com", password="ignored", client_secret="from-extra", **APP)
    assert s.client_secret == Secret("from-extra")


def test_port_465_implies_ssl_and_ssl_implies_465() -> None:
    assert build(host="mail.example.com", port=465, login="a@b.com", password="p").security is Security.SSL
    assert build(host="mail.example.com", login="a@b.com", password="p", security="ssl").port == 465


def test_direct_send_defaults_to_25_starttls_without_auth() -> None:
    s = build(host="contoso-com.mail.protection.outlook.com", smtp_mode="direct_send")
    assert (s.port, s.security, s.auth_type) == (25, Security.STARTTLS, AuthType.NONE)


def test_the_tenant_mx_host_implies_direct_send() -> None:
    s = build(host="contoso-com.mail.protection.outlook.com")
    assert s.smtp_mode is SmtpMode.DIRECT_SEND


def test_port_25_allows_starttls_or_none() -> None:
    assert build(host="relay.example.com", port=25, security="none").security is Security.NONE
    assert build(host="relay.example.com", port=25, security="starttls").security is Security.STARTTLS


def test_extras_given_as_strings_are_parsed() -> None:
    s = build(
        host="mail.example.com", port="2525", login="a@b.com", password="p", timeout="12.5", retry_budget_s="90",
        max_recipients_per_message="100", max_messages_per_minute="10", save_to_sent_items="false",
        alternate_host="backup.example.com", alternate_port="2526", allowed_senders="a@b.com; *@c.com",
    )
    assert (s.port, s.timeout, s.max_recipients_per_message, s.max_messages_per_minute) == (2525, 12.5, 100, 10)
    assert s.save_to_sent_items is False and s.retry_budget_s == 90.0
    assert (s.alternate_host, s.alternate_port) == ("backup.example.com", 2526)
    assert s.allowed_senders == ("a@b.com", "*@c.com")


def test_alternate_port_defaults_to_the_main_port() -> None:
    assert build(host="a.example.com", port=2525, alternate_host="b.example.com").alternate_port == 2525


def test_empty_ui_fields_count_as_unset_and_enum_values_ignore_case() -> None:
    s = build(login="a@contoso.com", password="p", tenant_id="", security=" STARTTLS ", proxy="")
    assert (s.tenant_id, s.security, s.proxy) == (None, Security.STARTTLS, None)


def test_legacy_prefixed_extra_keys_are_accepted() -> None:
    assert build(host="mx.example.com", port=25, **{"extra__m365mail__security": "none"}).security is Security.NONE


def test_from_email_with_a_display_name_fills_from_name() -> None:
    s = build(login="a@contoso.com", password="p", from_email="Reports Ü <reports@contoso.com>",
              reply_to="help@contoso.com; Desk <desk@contoso.com>")
    assert (s.from_email, s.from_name) == ("reports@contoso.com", "Reports Ü")
    assert s.reply_to == "help@contoso.com, Desk <desk@contoso.com>"


@pytest.mark.parametrize("cloud", list(Cloud))
def test_cloud_drives_authority_smtp_host_graph_and_scopes(cloud: Cloud) -> None:
    s = build(login="a@contoso.com", password="s", cloud=cloud.value, **APP)
    endpoints = CLOUDS[cloud]
    assert (s.host, s.authority_host, s.graph_endpoint) == (endpoints.smtp_host, endpoints.authority_host,
                                                            endpoints.graph_endpoint)
    assert s.exchange_scope == f"{endpoints.exchange_resource}/.default"
    assert s.graph_scope == f"{endpoints.graph_endpoint}/.default"


def test_authority_override_keeps_the_clouds_scope_and_may_carry_a_port() -> None:
    s = build(host="127.0.0.1", port=2587, login="a@contoso.com", password="s",
              authority_host="https://127.0.0.1:8443/", **APP)
    assert s.authority_host == "127.0.0.1:8443"
    assert s.authority == f"https://127.0.0.1:8443/{TENANT}"
    assert s.exchange_scope == "https://outlook.office365.com/.default"


def test_graph_uses_the_login_as_client_id_and_the_password_as_secret() -> None:
    s = build(login=CLIENT, password="secret", transport="graph", tenant_id=TENANT, from_email="r@contoso.com")
    assert (s.transport, s.auth_type, s.client_id, s.username) == (TransportKind.GRAPH, AuthType.OAUTH2_APP, CLIENT,
                                                                   None)
    assert (s.client_secret, s.graph_endpoint, s.host, s.port) == (Secret("secret"), "https://graph.microsoft.com",
                                                                   "graph.microsoft.com", 443)


def test_graph_endpoint_comes_from_the_host_or_extra_and_loses_its_version() -> None:
    from_host = build(host="127.0.0.1", port=8443, login=CLIENT, password="s", transport="graph", tenant_id=TENANT)
    assert from_host.graph_endpoint == "https://127.0.0.1:8443"
    loopback = build(login=CLIENT, password="s", transport="graph", tenant_id=TENANT,
                     graph_endpoint="http://localhost:9000/v1.0/")
    assert (loopback.graph_endpoint, loopback.port, loopback.security) == ("http://localhost:9000", 9000,
                                                                           Security.NONE)


def test_sandbox_style_ip_with_a_custom_ca_is_allowed(pem_file: str) -> None:
    s = build(host="127.0.0.1", port=2587, login="airflow@contoso.com", password="pw", ca_bundle=pem_file)
    assert (s.host, s.ca_bundle) == ("127.0.0.1", pem_file)


def test_certificate_credentials_replace_the_secret(pem_file: str) -> None:
    s = build(login="a@contoso.com", certificate_path=pem_file, certificate_thumbprint="ab:cd" * 10, **APP)
    assert (s.client_secret, s.certificate_path, s.certificate_thumbprint) == (None, pem_file, "ABCD" * 10)


def test_the_thumbprint_is_taken_as_openssl_prints_it(pem_file: str) -> None:
    pasted = "sha1 Fingerprint=" + ":".join(["AB", "CD"] * 10)
    s = build(login="a@contoso.com", certificate_path=pem_file, certificate_thumbprint=pasted, **APP)
    assert s.certificate_thumbprint == "ABCD" * 10


@pytest.mark.parametrize("thumbprint", ["ab" * 32, "sha256 Fingerprint=" + ":".join(["AB"] * 32)])
def test_a_sha256_thumbprint_is_refused_naming_the_sha1_command(pem_file: str, thumbprint: str) -> None:
    with pytest.raises(ConfigurationError, match="SHA-256 thumbprint; Microsoft Entra ID signs in") as caught:
        build(login="a@contoso.com", certificate_path=pem_file, certificate_thumbprint=thumbprint, **APP)
    assert caught.value.hint is not None and "openssl x509 -in cert.pem -noout -fingerprint -sha1" in caught.value.hint


def test_delegated_with_refresh_token_or_user_password() -> None:
    token = build(login="alice@contoso.com", refresh_token="rt", auth_type="oauth2_delegated", **APP)
    assert (token.auth_type, token.refresh_token) == (AuthType.OAUTH2_DELEGATED, Secret("rt"))
    ropc = build(login="alice@contoso.com", password="pw", auth_type="oauth2_delegated", **APP)
    assert (ropc.password, ropc.client_secret) == (Secret("pw"), None)


def test_refresh_token_implies_delegated() -> None:
    assert build(login="a@contoso.com", refresh_token="rt", **APP).auth_type is AuthType.OAUTH2_DELEGATED


# --- secrets ---------------------------------------------------------------------------------------------------


SECRETS = ("cs-2", "rt-3", "pem-4", "px-5")


def every_secret() -> MailSettings:
    return build(login="a@contoso.com", client_secret="cs-2", refresh_token="rt-3",
                 certificate_private_key="pem-4", proxy="http://user:px-5@proxy.example.com:3128",
                 auth_type="oauth2_delegated", **APP)


def test_repr_hides_every_secret_and_secrets_lists_them() -> None:
    s = every_secret()
    text = repr(s)
    for secret in SECRETS:
        assert secret not in text
        assert secret in s.secrets
    assert "proxy.example.com" not in text  # the proxy URL is a secret as a whole, as Airflow masks it
    assert "a@contoso.com" in text


def test_asdict_and_str_of_the_settings_show_no_secret() -> None:
    s = every_secret()
    copied = dataclasses.asdict(s)
    assert not [secret for secret in SECRETS if secret in repr(copied) or secret in str(copied)]
    assert copied["client_secret"] == Secret("cs-2")  # still usable, not readable
    with pytest.raises(TypeError):
        json.dumps(copied)
    assert f"{s.client_secret}" == "***"


def test_settings_refuse_to_be_pickled_with_their_secrets() -> None:
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(every_secret())


def test_secrets_are_revealed_only_by_name() -> None:
    s = every_secret()
    assert s.client_secret is not None and s.client_secret.reveal() == "cs-2"
    assert s.proxy is not None and s.proxy.reveal() == "http://user:px-5@proxy.example.com:3128"
    assert dataclasses.replace(s, host="other.example.com").client_secret == s.client_secret


def test_rate_limit_storage_memory_counts_in_process_and_a_redis_password_is_a_secret() -> None:
    assert build(login="a@b.com", password="p", host="mail.example.com").rate_limit_storage is None
    assert build(login="a@b.com", password="p", rate_limit_storage="memory://").rate_limit_storage is None
    s = build(login="a@b.com", password="p", rate_limit_storage="redis+sentinel://:rs-6@sentinel:26379/mymaster")
    assert s.rate_limit_storage is not None
    assert s.rate_limit_storage.reveal() == "redis+sentinel://:rs-6@sentinel:26379/mymaster"
    assert "rs-6" not in repr(s) and "rs-6" in s.secrets


def test_the_former_certificate_pem_extra_is_read_with_a_warning_naming_the_new_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = build(login="a@contoso.com", certificate_pem="pem-4", **APP)
    assert s.certificate_private_key == Secret("pem-4")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "certificate_pem" in warning.getMessage() and "certificate_private_key" in warning.getMessage()
    refused("extra.certificate_pem", "former name", login="a@contoso.com", certificate_pem="pem-4",
            certificate_private_key="pem-4", **APP)


# --- refusals, each naming its field ----------------------------------------------------------------------------


def test_unknown_extra_is_refused_with_did_you_mean() -> None:
    error = refused("extra.secuirty", "Did you mean 'security'", secuirty="starttls")
    assert "transport" in (error.hint or "")


def test_unknown_enum_value_lists_the_valid_ones() -> None:
    error = refused("extra.cloud", "not a valid cloud", cloud="usgovv")
    assert "global, usgov, usgov_dod, china" in (error.hint or "")
    assert "usgov" in str(error)


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"host": "mail.example.com", "port": 587, "security": "ssl"}, "extra.security", "port 587 uses STARTTLS"),
        ({"host": "mail.example.com", "port": 465, "security": "starttls"}, "extra.security", "port 465"),
        ({"host": "mail.example.com", "port": 25, "security": "ssl"}, "extra.security", "port 25"),
        ({"host": "mail.example.com", "port": "abc"}, "port", "whole number"),
        ({"host": "mail.example.com", "port": 70000}, "port", "TCP port"),
        ({"host": "smtp://mail.example.com"}, "host", "URL"),
        ({"host": "mail.example.com:587"}, "host", "port"),
        ({"host": "bad host"}, "host", "not a valid host"),
    ],
)
def test_host_port_security_refusals(kwargs: dict[str, Any], field: str, match: str) -> None:
    refused(field, match, login="a@b.com", password="p", **kwargs)


def test_auth_over_plaintext_is_refused_unless_allowed() -> None:
    refused("extra.security", "clear text", host="mail.example.com", port=25, security="none",
            login="a@b.com", password="p")
    s = build(host="mail.example.com", port=25, security="none", login="a@b.com", password="p",
              allow_insecure_auth="true")
    assert s.allow_insecure_auth is True


def test_ip_literal_for_microsoft_auth_is_refused() -> None:
    error = refused("host", "DNS name", host="52.96.1.1", login="a@contoso.com", password="p")
    assert "smtp.office365.com" in (error.hint or "")


def test_direct_send_needs_a_host() -> None:
    refused("host", "MX", smtp_mode="direct_send")


def test_direct_send_to_the_submission_endpoint_is_refused() -> None:
    refused("host", "5.7.57", host="smtp.office365.com", smtp_mode="direct_send")


def test_submission_to_the_mx_is_refused() -> None:
    refused("host", "MX endpoint", host="contoso-com.mail.protection.outlook.com", smtp_mode="submission",
            login="a@contoso.com", password="p")


def test_exchange_online_has_no_implicit_tls() -> None:
    refused("extra.security", "implicit TLS", host="smtp.office365.com", port=465, login="a@contoso.com",
            password="p")


def test_exchange_online_submission_without_auth_is_refused() -> None:
    refused("extra.auth_type", "authenticated", host="smtp.office365.com")


def test_host_from_another_cloud_than_the_token_is_refused() -> None:
    error = refused("extra.cloud", "usgov", host="smtp.office365.us", login="a@contoso.com", password="s", **APP)
    assert "'usgov'" in (error.hint or "")


def test_direct_send_with_auth_is_refused() -> None:
    refused("extra.auth_type", "does not authenticate", host="contoso-com.mail.protection.outlook.com",
            auth_type="basic", login="a@contoso.com", password="p")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"auth_type": "basic", "password": "p"}, "login"),
        ({"auth_type": "basic", "login": "a@contoso.com"}, "password"),
        ({"login": "a@contoso.com", "password": "s", "client_id": CLIENT}, "extra.tenant_id"),
        ({"login": "a@contoso.com", "password": "s", "tenant_id": TENANT, "auth_type": "oauth2_app"},
         "extra.client_id"),
        ({"login": "a@contoso.com", **APP}, "extra.client_secret"),
        ({"password": "s", **APP}, "login"),
        ({"login": "a@contoso.com", "password": "s", "tenant_id": "organizations", "client_id": CLIENT},
         "extra.tenant_id"),
        ({"login": "a@contoso.com", "password": "s", "tenant_id": "not a tenant!", "client_id": CLIENT},
         "extra.tenant_id"),
        ({"login": "a@contoso.com", "auth_type": "oauth2_delegated", **APP}, "extra.refresh_token"),
        ({"auth_type": "oauth2_delegated", "token_cache_path": "/var/cache/a.json", **APP}, "login"),
        ({"login": "a@contoso.com", "password": "s", "certificate_thumbprint": "xyz", **APP},
         "extra.certificate_thumbprint"),
    ],
)
def test_credential_refusals(kwargs: dict[str, Any], field: str) -> None:
    refused(field, **kwargs)


def test_graph_refuses_basic_and_smtp_only_settings() -> None:
    refused("extra.auth_type", "OAuth", transport="graph", auth_type="basic", login="a@b.com", password="p")
    refused("extra.smtp_mode", "smtp only", transport="graph", smtp_mode="relay", login=CLIENT, password="s",
            tenant_id=TENANT)
    refused("extra.graph_endpoint", "graph only", graph_endpoint="https://graph.microsoft.com",
            login="a@b.com", password="p")


@pytest.mark.parametrize(
    ("endpoint", "match"),
    [("http://graph.example.com", "https"), ("ftp://graph.example.com", "http"),
     ("https://graph.example.com/?x=1", "root URL")],
)
def test_graph_endpoint_must_be_https_unless_loopback(endpoint: str, match: str) -> None:
    refused("extra.graph_endpoint", match, transport="graph", login=CLIENT, password="s", tenant_id=TENANT,
            graph_endpoint=endpoint)


def test_authority_host_must_be_a_host() -> None:
    refused("extra.authority_host", "https", authority_host="http://login.example.com", login="a@b.com",
            password="p")
    refused("extra.authority_host", "host:port", authority_host="login.example.com/tenant", login="a@b.com",
            password="p")


def test_missing_files_are_refused(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    for key in ("ca_bundle", "certificate_path", "client_certificate_path", "client_key_path"):
        refused(f"extra.{key}", "file not found", login="a@b.com", password="p", **{key: missing})


def test_client_key_needs_the_certificate(pem_file: str) -> None:
    refused("extra.client_key_path", "certificate", host="mx.example.com", port=25, client_key_path=pem_file)


def test_certificate_path_and_pem_are_exclusive(pem_file: str) -> None:
    refused("extra.certificate_private_key", "not both", login="a@b.com", certificate_path=pem_file,
            certificate_private_key="-----BEGIN", **APP)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("timeout", "0", "greater than 0"),
        ("timeout", "soon", "not a number"),
        ("retry_budget_s", "0", "greater than 0"),
        ("retry_budget_s", "a while", "not a number"),
        ("max_recipients_per_message", "-1", "greater than 0"),
        ("max_messages_per_minute", "1.5", "whole number"),
        ("max_connections", "0", "greater than 0"),
        ("max_recipients_per_day", "-5", "greater than 0"),
        ("save_to_sent_items", "maybe", "not a boolean"),
        ("allowed_senders", "not-an-address", "not a valid email|not one address"),
        ("allowed_senders", "*@", "nothing after the @-sign"),
        ("from_email", "nobody", "not a valid email|not one address"),
        ("reply_to", "a@b.com, broken@", "not a valid email|not one address"),
        ("proxy", "ftp://user:topsecret@proxy", "not a proxy URL"),
        ("rate_limit_storage", "memcached://user:topsecret@cache:11211", "not a store that can share"),
        ("rate_limit_storage", "async+redis://:topsecret@redis:6379", "not a store that can share"),
        ("rate_limit_storage", "localhost:6379", "not a store that can share"),
        ("alternate_port", "2525", "alternate_host"),
        ("client_id", 12345, "expected text"),
        ("allowed_senders", 5, "list of strings"),
    ],
)
def test_extra_value_refusals(key: str, value: Any, match: str) -> None:
    error = refused(f"extra.{key}", match, host="mail.example.com", login="a@b.com", password="p", **{key: value})
    assert "topsecret" not in str(error)


def test_bulk_sends_use_three_connections_on_exchange_online_submission_and_one_elsewhere() -> None:
    assert build(login="a@contoso.com", password="p").max_connections == 3
    assert build(host="smtp.office365.us", login="a@contoso.com", password="p", cloud="usgov").max_connections == 3
    assert build(host="contoso-com.mail.protection.outlook.com").max_connections == 1  # direct send
    assert build(host="mail.example.com", login="a@b.com", password="p").max_connections == 1
    assert build(transport="graph", client_secret="s", **APP).max_connections == 1
    assert build(host="relay.example.com", port=25, security="none", max_connections="8").max_connections == 8


def test_exchange_online_mailboxes_keep_a_daily_recipient_budget_and_other_servers_only_when_set() -> None:
    assert build(login="a@contoso.com", password="p").max_recipients_per_day == 10_000
    assert build(transport="graph", client_secret="s", **APP).max_recipients_per_day == 10_000
    assert build(login="a@contoso.com", password="p", max_recipients_per_day="2000").max_recipients_per_day == 2000
    assert build(host="contoso-com.mail.protection.outlook.com").max_recipients_per_day is None  # direct send
    assert build(host=None, login="hve@contoso.com", password="p", smtp_mode="hve").max_recipients_per_day is None
    assert build(host="mail.example.com", login="a@b.com", password="p").max_recipients_per_day is None
    relay = build(host="relay.example.com", port=25, security="none", max_recipients_per_day=50_000)
    assert relay.max_recipients_per_day == 50_000


def test_more_connections_than_exchange_online_accepts_are_refused_before_sending() -> None:
    error = refused("extra.max_connections", "432 4.3.2", login="a@contoso.com", password="p", max_connections=4)
    assert error.hint is not None and "3 or less" in error.hint


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        ("http//proxyuser:topsecret@proxy:3128", None),  # no scheme: nothing of it can be told from credentials
        ("proxyuser:topsecret@proxy:3128", None),
        ("http://proxyuser:topsecret@[broken", None),
        ("ftp://proxyuser:topsecret@proxy.example.com", "'ftp://proxy.example.com'"),
        ("http://proxyuser:topsecret@proxy.example.com:99999", "'http://proxy.example.com:99999'"),
    ],
)
def test_a_refused_proxy_url_is_shown_without_its_credentials(proxy: str, shown: str | None) -> None:
    error = refused("extra.proxy", "not a proxy URL", login="a@b.com", password="p", proxy=proxy)
    assert "topsecret" not in str(error) and "proxyuser" not in str(error)
    if shown:
        assert shown in str(error)


def test_every_documented_extra_key_is_known() -> None:
    assert len(EXTRA_KEYS) == len(set(EXTRA_KEYS)) == 40
    assert set(EXTRA_KEYS) >= {"transport", "smtp_mode", "allowed_senders", "allow_insecure_auth", "proxy", "ews_url",
                               "retry_budget_s", "max_connections"}


def test_authority_without_tenant_names_the_field() -> None:
    with pytest.raises(ConfigurationError) as info:
        _ = build(login="a@b.com", password="p").authority
    assert info.value.field == "extra.tenant_id"


# --- numbers and the extra's own shape -----------------------------------------------------------------------


NUMERIC_EXTRAS = ("timeout", "max_recipients_per_message", "max_messages_per_minute")


@pytest.mark.parametrize("key", NUMERIC_EXTRAS)
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", float("nan"), float("inf"), True, False,
                                   "true", 0, "0", -1, "-30", "1e400", [30], {"s": 30}])
def test_numeric_extras_refuse_booleans_non_finite_and_non_positive_values(key: str, value: Any) -> None:
    error = refused(f"extra.{key}", login="a@b.com", password="p", **{key: value})
    assert repr(value) in str(error)


def test_a_timeout_beyond_an_hour_is_refused() -> None:
    refused("extra.timeout", "at most 3600", login="a@b.com", password="p", timeout=86400)


@pytest.mark.parametrize(("key", "value", "expected"), [("timeout", "2.5", 2.5), ("timeout", 7, 7.0),
                                                         ("max_recipients_per_message", "100", 100),
                                                         ("max_messages_per_minute", 10.0, 10)])
def test_numeric_extras_still_take_numbers_and_numeric_text(key: str, value: Any, expected: float) -> None:
    assert getattr(build(login="a@b.com", password="p", **{key: value}), key) == expected


def test_a_fractional_recipient_limit_is_refused() -> None:
    refused("extra.max_recipients_per_message", "not a whole number", login="a@b.com", password="p",
            max_recipients_per_message=2.5)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"transport": "graph",}', r"not valid JSON: .* at line 1, column 23 \(character 22\)"),
        ("transport=graph", "not valid JSON"),
        ('["transport", "graph"]', "must be a JSON object of settings, not an array"),
        ('"graph"', "not a string"),
        ("42", "not a number"),
    ],
)
def test_an_extra_that_is_not_a_json_object_is_refused_as_such(text: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        MailSettings.from_airflow_connection(host="127.0.0.1", port=None, login="a@b.com", password="p", extra=text)
    assert info.value.field == "extra"
    assert "IP address" not in str(info.value)


def test_extras_given_as_json_text_are_read() -> None:
    settings = MailSettings.from_airflow_connection(
        host="smtp.contoso.com", port=None, login="a@b.com", password="p", extra='{"timeout": "12"}'
    )
    assert settings.timeout == 12.0


@pytest.mark.parametrize("extra", [["timeout", 30], "not json", 42])
def test_extras_that_are_not_a_mapping_are_refused_when_given_as_fields(extra: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        MailSettings.from_connection_fields(host=None, port=None, login="a@b.com", password="p", extra=extra)
    assert info.value.field == "extra"

"""Which proxy each connection takes (the connection's, the environment's with ``proxy: env``, or none), and the
token endpoint, Graph and EWS going through real proxies (tinyproxy, Dante) with their failures explained."""

from __future__ import annotations

import logging

import pytest
from connection_settings import settings_for
from proxy_servers import PROXY_PASSWORD, ProxyServer

from airflow_provider_m365mail.core.auth import proxies
from airflow_provider_m365mail.core.auth.proxies import environment_proxy, proxy_for
from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.errors import AuthenticationError, ConfigurationError, ServerUnreachableError
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings.hosts import check_proxy
from airflow_provider_m365mail.core.transports.ews.transport import EwsTransport
from airflow_provider_m365mail.core.transports.graph.transport import GraphTransport
from airflow_provider_m365mail.sandbox.server import Sandbox


def http_port(sandbox: Sandbox) -> int:
    return int(sandbox.settings["http_base"].rpartition(":")[2])


# -- the proxy setting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["http://proxy.contoso.com:3128", "https://proxy.contoso.com:443", "socks5://u:p@10.0.0.1:1080",
              "socks5h://proxy.contoso.com:1080"],
)
def test_proxy_urls_of_each_scheme_with_a_port_are_accepted(value: str) -> None:
    assert check_proxy(value) == value


def test_env_is_the_explicit_choice_of_the_environments_proxy() -> None:
    assert check_proxy(" ENV ") == "env"


@pytest.mark.parametrize("value", ["http://proxy.contoso.com", "proxy.contoso.com:3128", "ftp://proxy:21"])
def test_a_proxy_without_scheme_or_port_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"extra\.proxy: .* is not a proxy URL with a port"):
        check_proxy(value)


def test_a_refused_proxy_url_never_repeats_its_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_proxy("gopher://user:hunter2-secret@proxy:70")
    assert "hunter2-secret" not in str(caught.value)


def test_an_https_proxy_is_refused_for_smtp_before_anything_is_sent(m365_sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError, match=r"extra\.proxy: SMTP cannot be tunnelled through an https:// proxy"):
        settings_for(m365_sandbox, "smtp_basic", proxy="https://proxy.contoso.com:443")
    assert settings_for(m365_sandbox, "graph", proxy="https://proxy.contoso.com:443").proxy


# -- proxy: env ------------------------------------------------------------------------------------------------


def test_env_follows_https_proxy_then_all_proxy() -> None:
    assert environment_proxy("smtp.office365.com", {"HTTPS_PROXY": "http://a:3128", "ALL_PROXY": "socks5h://b:1080"}) \
        == "http://a:3128"
    assert environment_proxy("smtp.office365.com", {"ALL_PROXY": "socks5h://b:1080"}) == "socks5h://b:1080"
    assert environment_proxy("smtp.office365.com", {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}) \
        == "http://low:1"
    assert environment_proxy("smtp.office365.com", {"HTTPS_PROXY": "proxy.contoso.com:3128"}) \
        == "http://proxy.contoso.com:3128"
    assert environment_proxy("smtp.office365.com", {"HTTP_PROXY": "http://plain:3128"}) is None


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", ".office365.com", "office365.com"])
def test_env_reaches_hosts_named_in_no_proxy_directly(no_proxy: str) -> None:
    host = "127.0.0.1" if "127" in no_proxy or no_proxy == "*" else "smtp.office365.com"
    assert environment_proxy(host, {"HTTPS_PROXY": "http://a:3128", "NO_PROXY": no_proxy}) is None
    assert environment_proxy("graph.microsoft.us", {"HTTPS_PROXY": "http://a:3128", "no_proxy": "office365.com"}) \
        == "http://a:3128"


def test_a_malformed_environment_proxy_names_the_variable(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", proxy="env")
    with pytest.raises(ConfigurationError, match="environment variable ALL_PROXY"):
        proxy_for(settings, "127.0.0.1", {"ALL_PROXY": "http://no-port"})


def test_without_a_proxy_the_environments_variables_are_ignored_in_one_log_line(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxies, "_told_ignored", type(proxies._told_ignored)())
    settings = settings_for(m365_sandbox, "smtp_basic")
    environ = {"HTTPS_PROXY": "http://user:env-secret@proxy:3128", "NO_PROXY": "localhost"}
    with caplog.at_level(logging.INFO, logger=proxies.__name__):
        assert proxy_for(settings, "127.0.0.1", environ) is None
        assert proxy_for(settings, "127.0.0.1", environ) is None
    (record,) = caplog.records
    assert record.getMessage().startswith("HTTPS_PROXY set in the environment: ignored")
    assert "env-secret" not in record.getMessage()


# -- the token endpoint (requests through MSAL) ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "socks5", "socks5h"])
async def test_the_token_request_goes_through_the_proxy(
    m365_sandbox: Sandbox, request: pytest.FixtureRequest, kind: str
) -> None:
    server: ProxyServer = request.getfixturevalue("http_proxy" if kind == "http" else "socks_proxy")
    settings = settings_for(m365_sandbox, "smtp_oauth2", proxy=server.url(None if kind == "http" else kind))
    mark = server.mark()
    await TokenSource(settings).get_token(settings.exchange_scope)
    assert m365_sandbox.state.stats["tokens_issued"] == 1
    assert server.tunnels(mark, http_port(m365_sandbox)) >= 1


async def test_a_wrong_proxy_password_on_the_token_request_is_a_407_not_retried(
    m365_sandbox: Sandbox, http_proxy: ProxyServer
) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2", proxy=http_proxy.url(password="wrong-px"))
    with pytest.raises(AuthenticationError) as caught:
        await TokenSource(settings).get_token(settings.exchange_scope)
    assert caught.value.code == "407"
    assert "wrong-px" not in str(caught.value) and PROXY_PASSWORD not in str(caught.value)
    assert m365_sandbox.state.stats["token_requests"] == 0


async def test_proxy_env_takes_the_token_request_through_https_proxy(
    m365_sandbox: Sandbox, open_http_proxy: ProxyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", open_http_proxy.url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = settings_for(m365_sandbox, "smtp_oauth2", proxy="env")
    mark = open_http_proxy.mark()
    await TokenSource(settings).get_token(settings.exchange_scope)
    assert open_http_proxy.tunnels(mark, http_port(m365_sandbox)) >= 1


# -- Microsoft Graph (httpx) -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "socks5h"])
async def test_graph_sends_through_the_proxy(m365_sandbox: Sandbox, request: pytest.FixtureRequest, kind: str) -> None:
    server: ProxyServer = request.getfixturevalue("http_proxy" if kind == "http" else "socks_proxy")
    settings = settings_for(m365_sandbox, "graph", proxy=server.url(None if kind == "http" else kind))
    mark = server.mark()
    message = OutgoingMessage.create(to="bob@contoso.com", subject="Graph via proxy", text="Tunnelled.")
    await GraphTransport(settings).send(message, resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.transport == "graph"
    assert server.tunnels(mark, http_port(m365_sandbox)) >= 2  # the token request and the Graph request


async def test_graph_through_an_unreachable_proxy_names_the_proxy(m365_sandbox: Sandbox, free_port: int) -> None:
    settings = settings_for(m365_sandbox, "graph", proxy=f"socks5h://u:graph-px@127.0.0.1:{free_port}")
    message = OutgoingMessage.create(to="bob@contoso.com", subject="Nowhere", text="x")
    with pytest.raises(ServerUnreachableError) as caught:
        await GraphTransport(settings).send(message, resolve_identity(settings))
    assert caught.value.code == "unreachable"
    assert "graph-px" not in str(caught.value)


# -- EWS on Exchange Server (httpx) ----------------------------------------------------------------------------


async def test_ews_sends_through_the_connections_proxy(m365_sandbox: Sandbox, http_proxy: ProxyServer) -> None:
    settings = settings_for(m365_sandbox, "ews", proxy=http_proxy.url())
    mark = http_proxy.mark()
    message = OutgoingMessage.create(to="bob@contoso.com", subject="EWS via proxy", text="Tunnelled.")
    await EwsTransport(settings).send(message, resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.transport == "ews"
    assert http_proxy.tunnels(mark, http_port(m365_sandbox)) >= 1


@pytest.mark.parametrize(("no_proxy", "tunnelled"), [("", True), ("localhost,127.0.0.1", False)])
async def test_proxy_env_takes_ews_through_https_proxy_unless_no_proxy_names_the_host(
    m365_sandbox: Sandbox, open_http_proxy: ProxyServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str,
    tunnelled: bool,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", open_http_proxy.url())
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = settings_for(m365_sandbox, "ews", proxy="env")
    mark = open_http_proxy.mark()
    message = OutgoingMessage.create(to="bob@contoso.com", subject="EWS via env", text="Tunnelled or not.")
    await EwsTransport(settings).send(message, resolve_identity(settings))
    assert len(m365_sandbox.messages()) == 1
    assert (open_http_proxy.tunnels(mark, http_port(m365_sandbox)) >= 1) is tunnelled


async def test_a_wrong_proxy_password_for_ews_is_a_407_naming_the_proxy(
    m365_sandbox: Sandbox, http_proxy: ProxyServer
) -> None:
    settings = settings_for(m365_sandbox, "ews", proxy=http_proxy.url(password="wrong-ews-px"))
    message = OutgoingMessage.create(to="bob@contoso.com", subject="Refused", text="x")
    with pytest.raises(AuthenticationError) as caught:
        await EwsTransport(settings).send(message, resolve_identity(settings))
    assert caught.value.code == "407"
    assert f"the proxy http://127.0.0.1:{http_proxy.port} did not open a tunnel to EWS" in str(caught.value)
    assert "wrong-ews-px" not in str(caught.value)
    assert m365_sandbox.messages() == []

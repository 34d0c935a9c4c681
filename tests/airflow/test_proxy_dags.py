"""Run the example DAG with ``airflow dags test`` through real proxies: tinyproxy (HTTP CONNECT with Basic auth)
and Dante (SOCKS5, names resolved at the proxy), over SMTP submission (STARTTLS, XOAUTH2) and over Graph.

Each proxy's own log counts the tunnels it opened to the sandbox: the SMTP sessions the sandbox served, and the
token and Graph requests, all went through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from proxy_servers import PROXY_PASSWORD, PROXY_USER, ProxyServer

pytestmark = pytest.mark.airflow

DAG = "example_m365mail_send"


@dataclass
class ProxiedRun:
    outcome: Any
    server: ProxyServer
    log: str
    smtp_tunnels: int
    http_tunnels: int


def run_through(dag_runner: Any, server: ProxyServer, proxy: str, *, connection: str = "smtp_oauth2",
                config: dict[str, str] | None = None) -> ProxiedRun:
    settings = dag_runner.sandbox.settings
    mark = server.mark()
    outcome = dag_runner.run(DAG, default_connection=connection, extra_changes={"m365mail_default": {"proxy": proxy}},
                             config=config)
    http_port, smtp_port = int(settings["http_base"].rpartition(":")[2]), settings["smtp"]["submission_port"]
    return ProxiedRun(outcome, server, server.log_since(mark), server.tunnels(mark, smtp_port),
                      server.tunnels(mark, http_port))


@pytest.fixture(scope="module")
def smtp_via_http_proxy(dag_runner: Any, http_proxy: ProxyServer) -> ProxiedRun:
    return run_through(dag_runner, http_proxy, http_proxy.url())


@pytest.fixture(scope="module")
def smtp_via_socks_proxy(dag_runner: Any, socks_proxy: ProxyServer) -> ProxiedRun:
    return run_through(dag_runner, socks_proxy, socks_proxy.url("socks5h"))


@pytest.fixture(scope="module")
def graph_via_http_proxy(dag_runner: Any, http_proxy: ProxyServer) -> ProxiedRun:
    return run_through(dag_runner, http_proxy, http_proxy.url(), connection="graph")


@pytest.fixture(scope="module")
def graph_via_socks_proxy(dag_runner: Any, socks_proxy: ProxyServer) -> ProxiedRun:
    return run_through(dag_runner, socks_proxy, socks_proxy.url("socks5h"), connection="graph")


@pytest.mark.parametrize(
    ("run_name", "transport"),
    [("smtp_via_http_proxy", "smtp_submission"), ("smtp_via_socks_proxy", "smtp_submission"),
     ("graph_via_http_proxy", "graph"), ("graph_via_socks_proxy", "graph")],
)
def test_the_dag_sends_through_the_proxy(
    request: pytest.FixtureRequest, dag_runner: Any, run_name: str, transport: str
) -> None:
    run: ProxiedRun = request.getfixturevalue(run_name)
    outcome = run.outcome
    assert outcome.process.returncode == 0, outcome.output[-3000:]
    assert set(outcome.task_states.values()) == {"success"}
    assert [m.transport for m in outcome.messages] == [transport, transport]
    if transport == "graph":
        assert outcome.stats.get("smtp_sessions", 0) == 0
        assert run.http_tunnels >= 2  # the token endpoint and Graph
    else:
        assert run.smtp_tunnels == outcome.stats["smtp_sessions"] >= 1  # every SMTP session came through the proxy
        assert run.http_tunnels >= 1  # the XOAUTH2 token request too
    dag_runner.assert_no_secrets(outcome.output, also=[PROXY_PASSWORD])


def test_the_proxy_log_shows_the_tunnel_from_its_outgoing_address(smtp_via_http_proxy: ProxiedRun) -> None:
    assert "Bound to 127.0.0.2" in smtp_via_http_proxy.log
    assert "Request (file descriptor" in smtp_via_http_proxy.log and "CONNECT 127.0.0.1:" in smtp_via_http_proxy.log


def test_a_wrong_proxy_password_fails_each_task_at_once_with_407_explained(
    dag_runner: Any, http_proxy: ProxyServer
) -> None:
    run = run_through(dag_runner, http_proxy, http_proxy.url(password="wrong-proxy-pw"))
    outcome = run.outcome
    assert outcome.process.returncode != 0
    states = {"send_report_as_team_mailbox": "failed", "notify_on_behalf_of_team": "upstream_failed"}
    assert outcome.task_states == states
    assert outcome.messages == []
    assert run.log.count("Request (file descriptor") == 1  # one CONNECT, refused; nothing retried
    log = outcome.task_log("send_report_as_team_mailbox")
    assert "AuthenticationError" in log and "[407]" in log
    assert "Put the proxy account in the URL" in log
    assert f"the proxy http://127.0.0.1:{http_proxy.port} " in log and PROXY_USER not in log
    dag_runner.assert_no_secrets(outcome.output, also=[PROXY_PASSWORD, "wrong-proxy-pw"])


def test_proxy_env_follows_https_proxy(dag_runner: Any, open_http_proxy: ProxyServer) -> None:
    run = run_through(dag_runner, open_http_proxy, "env", config={"HTTPS_PROXY": open_http_proxy.url()})
    assert run.outcome.process.returncode == 0, run.outcome.output[-3000:]
    assert len(run.outcome.messages) == 2
    assert run.smtp_tunnels == run.outcome.stats["smtp_sessions"] >= 1
    assert run.http_tunnels >= 1


def test_proxy_env_reaches_hosts_in_no_proxy_directly(dag_runner: Any, open_http_proxy: ProxyServer) -> None:
    config = {"HTTPS_PROXY": open_http_proxy.url(), "NO_PROXY": "localhost,127.0.0.1"}
    run = run_through(dag_runner, open_http_proxy, "env", config=config)
    assert run.outcome.process.returncode == 0, run.outcome.output[-3000:]
    assert len(run.outcome.messages) == 2
    assert run.smtp_tunnels == run.http_tunnels == 0

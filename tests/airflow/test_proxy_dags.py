"""Run a DAG with ``airflow dags test`` through real proxies, once per kind: tinyproxy (HTTP CONNECT with Basic
auth) and Dante (SOCKS5, names resolved at the proxy).

In each run SMTP submission (STARTTLS, XOAUTH2) and Graph go through the proxy, whose own log counts the tunnels
it opened to the sandbox; EWS follows ``proxy: env`` through another tinyproxy (HTTPS_PROXY), or goes direct when
NO_PROXY names its host; and a connection whose proxy login is refused fails its task at once, explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from proxy_servers import PROXY_PASSWORD, PROXY_USER, ProxyServer

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION

pytestmark = pytest.mark.airflow

TEST_DAGS = Path(__file__).parent / "dags"
DAG = "m365mail_proxy"
SENDING_TASKS = ("send_over_smtp", "send_over_graph", "send_over_ews")
WRONG_PASSWORD = "wrong-proxy-pw"


@dataclass
class ProxiedRun:
    kind: str
    outcome: Any
    proxy: ProxyServer  # what SMTP and Graph went through
    refusing: ProxyServer  # what refused the login of refused_by_the_proxy
    log: str  # the proxy's log during the run
    refusing_log: str
    smtp_tunnels: int
    http_tunnels: int
    env_tunnels: int  # the tunnels the HTTPS_PROXY of proxy: env opened (EWS)


def both_spellings(**variables: str) -> dict[str, str]:
    """Set a proxy variable in upper and lower case, so that neither of the host's own spellings wins."""
    return {spelled: value for name, value in variables.items() for spelled in (name, name.lower())}


@pytest.fixture(scope="module", params=["http", "socks5h"])
def proxied(request: pytest.FixtureRequest, dag_runner: Any, open_http_proxy: ProxyServer) -> ProxiedRun:
    kind: str = request.param
    if kind == "http":
        proxy = refusing = request.getfixturevalue("http_proxy")
        url, refused_url, no_proxy = proxy.url(), proxy.url(password=WRONG_PASSWORD), "mail.contoso.com"
    else:
        proxy, refusing = request.getfixturevalue("socks_proxy"), request.getfixturevalue("socks_proxy_with_login")
        url, refused_url, no_proxy = proxy.url(kind), refusing.url(kind), "localhost,127.0.0.1"
    settings = dag_runner.sandbox.settings
    marks = proxy.mark(), refusing.mark(), open_http_proxy.mark()
    outcome = dag_runner.run(
        DAG, dags_folder=TEST_DAGS,
        extra_changes={"m365mail_smtp_oauth2": {"proxy": url}, "m365mail_graph": {"proxy": url},
                       "m365mail_ews": {"proxy": "env"}, "m365mail_smtp_ssl": {"proxy": refused_url}},
        config=both_spellings(HTTPS_PROXY=open_http_proxy.url(), NO_PROXY=no_proxy),
    )
    http_port, smtp_port = int(settings["http_base"].rpartition(":")[2]), settings["smtp"]["submission_port"]
    return ProxiedRun(kind, outcome, proxy, refusing, proxy.log_since(marks[0]), refusing.log_since(marks[1]),
                      proxy.tunnels(marks[0], smtp_port), proxy.tunnels(marks[0], http_port),
                      open_http_proxy.tunnels(marks[2], http_port))


def test_smtp_and_graph_send_through_the_proxy(proxied: ProxiedRun) -> None:
    outcome = proxied.outcome
    assert {task: outcome.task_states[task] for task in SENDING_TASKS} == dict.fromkeys(SENDING_TASKS, "success"), \
        outcome.output[-3000:]
    assert sorted(m.transport for m in outcome.messages) == ["ews", "graph", "smtp_submission"]
    assert proxied.smtp_tunnels == outcome.stats["smtp_sessions"] >= 1  # every SMTP session came through the proxy
    assert proxied.http_tunnels >= 2  # the token requests (XOAUTH2 and Graph's) and Graph itself
    if proxied.kind == "http":
        assert "Bound to 127.0.0.2" in proxied.log and "CONNECT 127.0.0.1:" in proxied.log


def test_proxy_env_follows_https_proxy_unless_no_proxy_names_the_host(proxied: ProxiedRun) -> None:
    assert [m.subject for m in proxied.outcome.messages if m.transport == "ews"] == ["Proxied ews"]
    if proxied.kind == "http":  # NO_PROXY names another host: EWS went through HTTPS_PROXY
        assert proxied.env_tunnels >= 1
    else:  # NO_PROXY names 127.0.0.1: EWS went straight to the server
        assert proxied.env_tunnels == 0


@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 1),
    reason="Airflow 3.0's dags test output keeps a failed task's error out of the lines read as that task's log",
)
def test_a_refused_proxy_login_fails_the_task_at_once_explained(dag_runner: Any, proxied: ProxiedRun) -> None:
    outcome = proxied.outcome
    assert outcome.process.returncode != 0
    assert outcome.task_states["refused_by_the_proxy"] == "failed"
    assert outcome.try_numbers["refused_by_the_proxy"] == 1
    assert "Never sent" not in [m.subject for m in outcome.messages]
    log = outcome.task_log("refused_by_the_proxy")
    code = "407" if proxied.kind == "http" else "socks-auth"
    assert "AuthenticationError" in log and f"[{code}]" in log and "Put the proxy account in the URL" in log
    assert f"the proxy {proxied.kind}://127.0.0.1:{proxied.refusing.port} " in log and PROXY_USER not in log
    ssl_port = dag_runner.sandbox.settings["smtp"]["ssl_port"]
    if proxied.kind == "http":  # one CONNECT, refused; nothing retried
        assert proxied.refusing_log.count(f"CONNECT 127.0.0.1:{ssl_port} ") == 1
    dag_runner.assert_no_secrets(outcome.output, also=[PROXY_PASSWORD, WRONG_PASSWORD])

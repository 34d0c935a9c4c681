"""`m365mail login --browser`: headless Chromium fills in the sandbox's sign-in page, the redirect comes back to the
command's loopback port (authorization code with PKCE), the tokens land in the connection's token cache, and a
send over the connection then authenticates as the signed-in mailbox."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from headless_chromium import launched_chromium
from running_process import running

from airflow_provider_m365mail.sandbox.server import Sandbox

SIGNED_IN, PASSWORD = "alice@contoso.com", "Alice-Passw0rd!"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


def test_browser_sign_in_with_pkce_fills_the_token_cache_and_a_send_then_goes_out_as_that_mailbox(
        m365_sandbox: Sandbox, chromium: Any, tmp_path: Path) -> None:
    connection = dict(m365_sandbox.settings["airflow_connections"]["smtp_delegated"])
    connection["extra"] = {**connection["extra"], "token_cache_path": str(tmp_path / "alice.json")}
    command = [sys.executable, "-m", "airflow_provider_m365mail.cli.main", "login", "--browser", "--json",
               "--conn-json", json.dumps(connection)]
    with running(command) as process:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["event"] == "authorize" and "code_challenge_method=S256" in first["authorization_uri"]

        context = chromium.new_context(ignore_https_errors=True)  # the sandbox's throwaway CA is not Chromium's
        try:
            page = context.new_page()
            page.goto(first["authorization_uri"])
            assert page.input_value("input[name=username]") == SIGNED_IN  # the login hint
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("http://127.0.0.1:*/**")
            assert "You may close this window" in page.content()
        finally:
            context.close()
        rest, errors = process.communicate(timeout=60)
        assert process.returncode == 0, rest + errors
    last = json.loads(rest.splitlines()[-1])
    assert (last["event"], last["username"]) == ("signed_in", SIGNED_IN)

    cache = json.loads((tmp_path / "alice.json").read_text())
    assert [a["username"] for a in cache["Account"].values()] == [SIGNED_IN]
    assert len(cache["RefreshToken"]) == 1
    secrets = [e["secret"] for kind in ("RefreshToken", "AccessToken") for e in cache[kind].values()]
    assert not [s for s in secrets if s in rest + errors]  # no token printed

    sent = subprocess.run([*command[:3], "send-test", "--conn-json", json.dumps(connection), "--to",
                           "bob@contoso.com"], capture_output=True, text=True, timeout=60, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    [message] = [m for m in m365_sandbox.messages() if m.subject.startswith("[m365mail send-test]")]
    assert (message.principal, message.envelope_from) == (SIGNED_IN, SIGNED_IN)  # as the signed-in mailbox

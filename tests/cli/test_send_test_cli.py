"""``m365mail send-test`` delivers one marked message and shows the server's reply and a transcript without secrets."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_m365mail.cli.main import main
from airflow_provider_m365mail.cli.send_test import TEST_HEADER, TEST_SUBJECT
from airflow_provider_m365mail.sandbox.server import Sandbox

UseConnection = Callable[..., dict[str, Any]]  # the use_connection fixture
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def send_test(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["send-test", "--conn-id", "m365mail_cli", "--to", "bob@contoso.com", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_no_secret(output: str, secrets: list[str]) -> None:
    encoded = [base64.b64encode(s.encode()).decode() for s in secrets]
    assert not [s for s in [*secrets, *encoded] if s in output], "a credential appears in the output"
    assert not JWT.search(output), "an access token appears in the output"


def test_over_smtp_oauth2_it_delivers_one_marked_message_and_prints_the_250_reply(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox, secrets: list[str]
) -> None:
    use_connection("smtp_oauth2")

    code, output = send_test(capsys)

    assert code == 0, output
    (stored,) = m365_sandbox.messages()
    assert (stored.subject, stored.envelope_to) == (TEST_SUBJECT, ("bob@contoso.com",))
    assert m365_sandbox.parsed(stored.id)[TEST_HEADER] == "send-test"
    assert re.search(r"^Server reply: 250 2\.0\.0 OK", output, re.MULTILINE)
    assert f"Message-ID:   {stored.message_id}" in output
    transcript = [line.strip() for line in output.splitlines() if line.startswith("  ")]
    assert transcript[0].startswith("S: 220 ")
    assert "C: STARTTLS" in transcript
    assert "C: AUTH XOAUTH2 ***" in transcript
    assert "S: 235 2.7.0 Authentication successful" in transcript
    assert "C: MAIL FROM:<airflow@contoso.com> size=" in "\n".join(transcript)
    assert any(line.startswith("C: DATA <message, ") for line in transcript)
    assert TEST_SUBJECT not in "\n".join(transcript)  # the content stays out of the transcript
    assert_no_secret(output, secrets)


def test_over_smtp_basic_the_password_is_hidden_in_every_form(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox, secrets: list[str]
) -> None:
    use_connection("smtp_basic")

    code, output = send_test(capsys, "--from", "reports@contoso.com")

    assert code == 0, output
    assert re.search(r"^  C: AUTH (PLAIN|LOGIN) \*\*\*$", output, re.MULTILINE)
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_from == "reports@contoso.com"
    user, password = "airflow@contoso.com", m365_sandbox.settings["basic_user"]["password"]
    assert_no_secret(output, [*secrets, f"\0{user}\0{password}"])


def test_over_graph_it_prints_the_202_reply(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox, secrets: list[str]
) -> None:
    use_connection("graph")

    code, output = send_test(capsys)

    assert code == 0, output
    assert "over graph (https://" in output
    assert re.search(r"^Server reply: 202 Accepted$", output, re.MULTILINE)
    (stored,) = m365_sandbox.messages()
    assert (stored.subject, stored.transport) == (TEST_SUBJECT, "graph")
    assert_no_secret(output, secrets)


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
def test_a_refusal_exits_1_with_the_code_and_its_troubleshooting_entry(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox, secrets: list[str]
) -> None:
    use_connection("smtp_oauth2")

    code, output = send_test(capsys)

    assert code == 1
    assert "  S: 535 5.7.139 Authentication unsuccessful" in output
    assert re.search(r"^FAILED: .*535 5\.7\.139.*Set-CASMailbox", output, re.MULTILINE)
    assert "To know more, run `m365mail explain smtp-5-7-139` (or read https://" in output
    assert m365_sandbox.messages() == []
    assert_no_secret(output, secrets)


def test_an_unknown_connection_exits_1_saying_so(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["send-test", "--conn-id", "m365mail_nowhere", "--to", "bob@contoso.com"])

    output = capsys.readouterr().out
    assert code == 1
    assert output.startswith("FAILED: cannot read the connection: ") and "m365mail_nowhere" in output


def test_an_invalid_setting_exits_1_naming_the_field(
    use_connection: UseConnection, capsys: pytest.CaptureFixture[str], m365_sandbox: Sandbox
) -> None:
    use_connection("smtp_basic", security="tls13")

    code, output = send_test(capsys)

    assert code == 1
    assert output.startswith("FAILED: invalid connection: extra.security")
    assert m365_sandbox.messages() == []


def test_a_missing_recipient_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send-test", "--conn-id", "m365mail_cli"])
    assert exited.value.code == 2
    assert "--to" in capsys.readouterr().err

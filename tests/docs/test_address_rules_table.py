"""The address table in the connection page is what the validator answers, in every field that takes addresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_m365mail.core.errors import ConfigurationError, MessageValidationError
from airflow_provider_m365mail.core.message.address_syntax import AddressSyntaxError, check_addr_spec
from airflow_provider_m365mail.core.message.addresses import parse_address, parse_sender_pattern
from docs_gen.address_rules import EXAMPLES, update

PAGE = Path(__file__).parents[2] / "docs" / "connection.md"


def test_the_committed_table_is_what_the_validator_answers() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert update(page) == page, "run: python -m docs_gen.address_rules docs/connection.md"


@pytest.mark.parametrize("address", EXAMPLES)
def test_message_fields_and_allowed_senders_agree_with_the_table(address: str) -> None:
    try:
        sent = check_addr_spec(address)
    except AddressSyntaxError:
        with pytest.raises(MessageValidationError):
            parse_address(address, field="to")
        with pytest.raises(ConfigurationError):
            parse_sender_pattern(address, field="extra.allowed_senders", error=ConfigurationError)
        return
    assert parse_address(f"Someone <{address}>", field="to").email == sent
    local = parse_sender_pattern(address, field="extra.allowed_senders").rpartition("@")[0]
    assert local == sent.rpartition("@")[0].lower()

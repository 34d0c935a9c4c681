"""The connection reference page lists every field the connection form has, exactly as the form describes it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_m365mail.connection_fields import EXTRA_FIELDS
from airflow_provider_m365mail.core.settings import EXTRA_KEYS
from airflow_provider_m365mail.get_provider_info import get_provider_info
from docs_gen.connection_reference import BEGIN, END, render, update

PAGE = Path(__file__).parents[2] / "docs" / "connection.md"


def documented_keys() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_the_committed_page_is_what_the_generator_writes() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert update(page) == page, "run: python -m docs_gen.connection_reference docs/connection.md"


def test_every_conn_field_and_extra_key_has_a_row() -> None:
    [conn_type] = get_provider_info()["connection-types"]
    keys = documented_keys()
    assert set(conn_type["conn-fields"]) <= keys
    assert set(EXTRA_KEYS) <= keys
    assert {"host", "port", "login", "password"} <= keys


def test_each_row_carries_the_forms_description_and_default() -> None:
    block = render()
    for field in EXTRA_FIELDS:
        [row] = [line for line in block.splitlines() if line.startswith(f"| `{field.name}` |")]
        assert field.label in row
        assert field.description.replace("|", "\\|") in row
        if field.default is not None and not isinstance(field.default, bool):
            assert f"`{field.default}`" in row


def test_update_refuses_a_page_without_markers() -> None:
    with pytest.raises(ValueError, match="connection-fields:begin"):
        update("# no markers here\n")
    assert update(f"intro\n{BEGIN}\nstale\n{END}\noutro").startswith("intro\n" + BEGIN)

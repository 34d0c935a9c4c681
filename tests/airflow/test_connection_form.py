"""The connection form Airflow's UI draws for ``m365mail``: the same fields and controls on every Airflow 3.x.

The React UI draws the form from the hook metadata the API server serves (``/ui/connections/hook_meta``, built by
``HookMetaService.hook_meta_data()``). Airflow 3.2+ build it from the provider info's declarative ``conn-fields``;
Airflow 3.0 and 3.1 call the hook's legacy ``get_connection_form_widgets()`` and ``get_ui_field_behaviour()`` with
wtforms and Flask-AppBuilder swapped for stand-ins that record a JSON schema per field. These tests read that
metadata from Airflow itself and pick each field's control the way the UI's form does, so on 3.0/3.1 (the compat
stages of scripts/test.sh) they check the legacy widgets and on 3.3 the declarative fields, against one expectation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any

import pytest

from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION
from airflow_provider_m365mail.connection_fields import (
    CONN_TYPE,
    EXTRA_FIELDS,
    ConnField,
    conn_fields,
    ui_field_behaviour,
)

pytestmark = pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 1) and find_spec("flask_appbuilder") is None,
    reason="Airflow 3.0 adds a provider's connection form fields only when Flask-AppBuilder and wtforms are "
    "installed (the fab provider); 3.1 stands in for them when they are not",
)

# Airflow before 3.2 builds the form from the hook's wtforms widgets, which have no field class for a float.
LEGACY_WIDGETS = AIRFLOW_VERSION < (3, 2)

# Built in a fresh interpreter, as the API server builds it: in the test process ProvidersManager may already have
# read the hooks without the stand-ins (and so without the legacy widgets, wtforms not being installed).
_HOOK_META = f"""
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(ours,) = [hook for hook in HookMetaService.hook_meta_data() if hook.connection_type == {CONN_TYPE!r}]
print(json.dumps(ours.model_dump(mode="json")))
"""


@pytest.fixture(scope="module")
def hook_meta() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _HOOK_META], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    meta: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])  # Airflow 3.0 logs to stdout before it
    return meta


def ui_control(param: Mapping[str, Any]) -> str:
    """Name the control the UI's FlexibleForm (FieldSelector) draws for a field's schema, for the types we use."""
    schema = param["schema"]
    (kind,) = [t for t in schema["type"] if t != "null"]
    if kind == "boolean":
        return "switch"
    if isinstance(schema.get("enum"), list):
        return "dropdown"
    if kind in ("integer", "number"):
        return "number"
    return "text"


def expected_control(field: ConnField) -> str:
    if field.type == "boolean":
        return "switch"
    if field.enum:
        return "dropdown"
    if field.type == "integer" or (field.type == "number" and not LEGACY_WIDGETS):
        return "number"
    return "text"


def test_the_form_offers_every_extra_in_order_with_its_label_and_help(hook_meta: dict[str, Any]) -> None:
    assert hook_meta["hook_name"] == "Microsoft 365 Mail"
    extras = hook_meta["extra_fields"]
    assert list(extras) == [field.name for field in EXTRA_FIELDS]
    for field in EXTRA_FIELDS:
        assert extras[field.name]["schema"]["title"] == field.label, field.name
        assert extras[field.name]["description"] == field.description, field.name


def test_secrets_are_password_fields_and_nothing_else_is(hook_meta: dict[str, Any]) -> None:
    extras = hook_meta["extra_fields"]
    passwords = {name for name, param in extras.items() if param["schema"].get("format") == "password"}
    assert passwords == {"client_secret", "certificate_private_key", "refresh_token", "proxy", "acs_access_key"}


def test_choices_are_dropdowns_offering_the_declared_choices(hook_meta: dict[str, Any]) -> None:
    extras = hook_meta["extra_fields"]
    dropdowns = {name for name, param in extras.items() if ui_control(param) == "dropdown"}
    assert dropdowns == {"transport", "smtp_mode", "security", "auth_type", "cloud"}
    declared = conn_fields()
    for name in dropdowns:
        assert extras[name]["schema"]["enum"] == declared[name]["schema"]["enum"], name
    assert extras["smtp_mode"]["schema"]["enum"] == ["submission", "direct_send", "relay", "hve", "acs", None]


def test_each_field_gets_the_control_and_default_its_type_asks_for(hook_meta: dict[str, Any]) -> None:
    extras = hook_meta["extra_fields"]
    for field in EXTRA_FIELDS:
        param = extras[field.name]
        assert ui_control(param) == expected_control(field), field.name
        # A float default reaches a legacy text field as text; the core parses either.
        default = str(field.default) if LEGACY_WIDGETS and field.type == "number" else field.default
        assert param["value"] == default, field.name
    assert extras["max_messages_per_minute"]["value"] == 30
    assert extras["save_to_sent_items"]["value"] is True


def test_standard_fields_are_hidden_relabelled_and_explained_as_declared(hook_meta: dict[str, Any]) -> None:
    declared = ui_field_behaviour()
    standard = hook_meta["standard_fields"]
    assert declared["hidden-fields"] == ["schema"]
    assert standard["url_schema"]["hidden"] is True  # the UI's name for the "schema" field
    for name in ("host", "port", "login", "password"):
        assert standard[name]["hidden"] is False, name
        assert standard[name]["title"] == declared["relabeling"].get(name), name
        assert standard[name]["placeholder"] == declared["placeholders"][name], name
    assert standard["host"]["title"] == "Server or Graph endpoint"


@pytest.mark.skipif(
    find_spec("wtforms") is None or find_spec("flask_appbuilder") is None,
    reason="renders the legacy widgets with the real wtforms and Flask-AppBuilder, which come with the fab provider "
    "(installed in the Airflow 3.0 stage); Airflow 3.2+ never call the legacy widgets",
)
def test_legacy_widgets_render_as_real_wtforms_fields_and_validate_choices() -> None:
    from flask import Flask
    from flask_babel import Babel
    from werkzeug.datastructures import MultiDict
    from wtforms import Form

    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        form_class = type("ConnectionForm", (Form,), M365MailHook.get_connection_form_widgets())
        form = form_class()
        rendered = {field.name: str(field) for field in form}
        assert list(rendered) == [field.name for field in EXTRA_FIELDS]
        for field in EXTRA_FIELDS:
            assert form[field.name].label.text == field.label, field.name
            input_type = "password" if field.secret else "checkbox" if field.type == "boolean" else "text"
            assert f'type="{input_type}"' in rendered[field.name], field.name
        assert 'value="500"' in rendered["max_recipients_per_message"]

        # Airflow 3.0/3.1 accept no select field: a choice is a text input whose validator holds the choices.
        refused = form_class(formdata=MultiDict({"smtp_mode": "pigeon", "security": "ssl"}))
        assert not refused.validate()
        assert set(refused.errors) == {"smtp_mode"}
        assert form_class(formdata=MultiDict({"smtp_mode": "relay", "alternate_port": "25"})).validate()

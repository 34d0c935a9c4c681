"""The provider info registers the m365mail connection type, and Airflow 3.3 draws its form declaratively."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from airflow.providers_manager import ProvidersManager

from airflow_provider_m365mail import connection_fields
from airflow_provider_m365mail.airflow_compat import AIRFLOW_VERSION
from airflow_provider_m365mail.core.settings import EXTRA_KEYS
from airflow_provider_m365mail.get_provider_info import get_provider_info
from airflow_provider_m365mail.hooks.m365mail import M365MailHook
from airflow_provider_m365mail.sandbox.airflow_run import LocalAirflow

SECRET_EXTRAS = {"client_secret", "certificate_private_key", "refresh_token", "proxy", "acs_access_key"}


def _schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(files("airflow").joinpath(name).read_text(encoding="utf-8"))
    return loaded


def _our_connection_type() -> dict[str, object]:
    (conn_type,) = get_provider_info()["connection-types"]
    assert isinstance(conn_type, dict)
    return conn_type


def test_provider_info_validates_against_airflows_schemas() -> None:
    info = get_provider_info()
    jsonschema.validate(info, _schema("provider_info.schema.json"))
    # provider.yaml's schema is the strict one for conn-fields and ui-field-behaviour.
    yaml_schema = _schema("provider.yaml.schema.json")
    conn_type_schema = yaml_schema["properties"]["connection-types"]["items"]  # type: ignore[index]
    jsonschema.validate(_our_connection_type(), conn_type_schema)
    assert info["package-name"] == "airflow-provider-m365mail"
    assert info["versions"] == ["0.1.0"]


def test_connection_type_names_the_hook_and_its_default_connection() -> None:
    conn_type = _our_connection_type()
    assert conn_type["connection-type"] == "m365mail" == M365MailHook.conn_type
    assert conn_type["hook-name"] == "Microsoft 365 Mail" == M365MailHook.hook_name
    assert conn_type["hook-class-name"] == f"{M365MailHook.__module__}.{M365MailHook.__qualname__}"
    assert M365MailHook.default_conn_name == "m365mail_default"


def test_sensor_and_trigger_modules_are_registered_under_the_integration() -> None:
    from airflow_provider_m365mail.sensors.send_as import SendAsPermissionSensor
    from airflow_provider_m365mail.triggers.send_as import SendAsPermissionTrigger

    info = get_provider_info()
    integrations = {i["integration-name"] for i in info["integrations"]}
    for section, cls in [("sensors", SendAsPermissionSensor), ("triggers", SendAsPermissionTrigger)]:
        (entry,) = info[section]
        assert entry["integration-name"] in integrations, section
        assert entry["python-modules"] == [cls.__module__], section
    listed = [t for t in ProvidersManager().trigger if t.package_name == "airflow-provider-m365mail"]
    assert [(t.trigger_class_name, t.integration_name) for t in listed] == [
        (SendAsPermissionTrigger.__module__, "Microsoft 365 Mail")
    ]


def test_form_offers_exactly_the_extras_the_core_accepts() -> None:
    assert list(connection_fields.conn_fields()) == list(EXTRA_KEYS)


def test_enumerated_extras_offer_the_core_values() -> None:
    from airflow_provider_m365mail.core.settings import AuthType, Cloud, Security, SmtpMode, TransportKind

    fields = connection_fields.conn_fields()
    for key, enum in [
        ("transport", TransportKind),
        ("smtp_mode", SmtpMode),
        ("security", Security),
        ("auth_type", AuthType),
        ("cloud", Cloud),
    ]:
        assert fields[key]["schema"]["enum"] == [*(member.value for member in enum), None], key


@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 2),
    reason="Airflow reads the declarative conn-fields from 3.2; before, the form comes from the hook's legacy methods",
)
def test_airflow_3_3_reads_the_declarative_form_masks_secrets_and_relabels() -> None:
    manager = ProvidersManager()
    widgets = {
        name.removeprefix("extra__m365mail__"): widget
        for name, widget in manager.connection_form_widgets.items()
        if name.startswith("extra__m365mail__")
    }
    assert set(widgets) == set(EXTRA_KEYS)
    assert {name for name, widget in widgets.items() if widget.is_sensitive} == SECRET_EXTRAS
    assert widgets["smtp_mode"].field["schema"]["title"] == "SMTP mode"
    assert "direct_send (port 25" in widgets["smtp_mode"].field["description"]
    behaviour = manager.field_behaviours["m365mail"]
    assert behaviour["hidden_fields"] == ["schema"]
    assert behaviour["relabeling"] == {
        "host": "Server or Graph endpoint",
        "login": "Authentication account or client ID",
        "password": "Password or client secret",
    }
    assert behaviour["placeholders"]["extra__m365mail__tenant_id"]


def test_airflow_3_3_does_not_call_the_legacy_form_methods() -> None:
    manager = ProvidersManager()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hook_info = manager.hooks["m365mail"]
    assert hook_info is not None
    assert hook_info.hook_class_name.endswith("M365MailHook")
    assert hook_info.connection_testable
    assert not [w for w in caught if "M365MailHook" in str(w.message)]


def test_legacy_form_behaviour_matches_the_declarative_one() -> None:
    declarative = connection_fields.ui_field_behaviour()
    legacy = M365MailHook.get_ui_field_behaviour()
    assert legacy == {key.replace("-", "_"): value for key, value in declarative.items()}


def test_every_secret_extra_has_a_name_airflow_hides() -> None:
    from airflow_provider_m365mail.airflow_compat import should_hide_value_for_key

    fields = connection_fields.conn_fields()
    for key in SECRET_EXTRAS:
        assert fields[key]["schema"]["format"] == "password"
    # The REST API and the UI mask an extra by its key alone: a secret whose name Airflow does not recognise comes
    # back in clear. Airflow 3.0 knows neither "proxy" nor "access_key" (3.1 added them); docs/connection.md says how
    # to add them there.
    shown_in_clear = sorted(key for key in SECRET_EXTRAS if not should_hide_value_for_key(key))
    assert shown_in_clear == (["acs_access_key", "proxy"] if AIRFLOW_VERSION < (3, 1) else [])


def test_notifier_and_email_backend_are_registered_by_their_import_paths() -> None:
    from airflow_provider_m365mail.email_backend import send_email
    from airflow_provider_m365mail.notifications.m365mail import M365EmailNotifier, send_m365_email_notification

    info = get_provider_info()
    assert info["notifications"] == [f"{M365EmailNotifier.__module__}.{M365EmailNotifier.__qualname__}"]
    assert info["email-backends"] == [f"{send_email.__module__}.{send_email.__qualname__}"]
    assert send_m365_email_notification is M365EmailNotifier
    # Airflow imports each class to check it; 3.3 then lists bare class names, despite its NotificationInfo hint.
    listed = {getattr(n, "notification_class_name", n) for n in ProvidersManager().notification}
    assert info["notifications"][0] in listed


def test_provider_info_imports_nothing_from_airflow() -> None:
    code = (
        "import sys; from airflow_provider_m365mail.get_provider_info import get_provider_info; get_provider_info();"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.airflow
def test_airflow_cli_lists_the_provider_hook_and_connection(airflow_home: Path) -> None:
    connection = {
        "conn_type": "m365mail",
        "host": "smtp.office365.com",
        "port": 587,
        "login": "airflow@contoso.com",
        "extra": {"auth_type": "oauth2_app", "tenant_id": "contoso.com", "client_id": "1234", "cloud": "global"},
    }
    # Airflow 3.0 logs to stdout, where the JSON goes: keep its info lines out.
    airflow = LocalAirflow(home=airflow_home, connections={"m365mail_default": connection},
                           config={"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"})

    providers = airflow.cli("providers", "list", "-o", "json")
    assert providers.returncode == 0, providers.stderr
    listed = {p["package_name"]: p for p in json.loads(providers.stdout)}
    assert listed["airflow-provider-m365mail"]["version"] == "0.1.0"

    hooks = airflow.cli("providers", "hooks", "-o", "json")
    assert hooks.returncode == 0, hooks.stderr
    (ours,) = [h for h in json.loads(hooks.stdout) if h["connection_type"] == "m365mail"]
    assert ours["class"] == "airflow_provider_m365mail.hooks.m365mail.M365MailHook"
    assert ours["package_name"] == "airflow-provider-m365mail"
    assert ours["hook_name"] == "Microsoft 365 Mail"
    assert ours["conn_id_attribute_name"] == "m365mail_conn_id"

    got = airflow.cli("connections", "get", "m365mail_default", "-o", "json")
    assert got.returncode == 0, got.stderr
    (shown,) = json.loads(got.stdout)
    assert shown["conn_type"] == "m365mail"
    assert shown["extra_dejson"] == connection["extra"]
    assert shown["get_uri"].startswith("m365mail://airflow%40contoso.com@smtp.office365.com:587/")


@pytest.mark.skipif(
    not hasattr(ProvidersManager, "cli_command_functions"), reason="providers add CLI commands from Airflow 3.2"
)
def test_airflow_discovers_the_m365mail_command_group() -> None:
    from airflow_provider_m365mail.cli.main import airflow_cli_commands

    assert airflow_cli_commands in ProvidersManager().cli_command_functions
    (group,) = airflow_cli_commands()
    assert group.name == "m365mail"
    commands = {command.name: command for command in group.subcommands}
    assert set(commands) == {"doctor", "send-test", "explain", "login", "consent"}
    assert [arg.flags for arg in commands["explain"].args] == [("code",)]
    assert {"--conn-id", "--device-code", "--browser", "--json"} <= {
        flag for arg in commands["login"].args for flag in arg.flags
    }
    assert {"--conn-id", "--conn-json", "--send-as", "--json"} <= {
        flag for arg in commands["doctor"].args for flag in arg.flags
    }

"""The provider contract Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from airflow_provider_m365mail.connection_fields import CONN_TYPE, conn_fields, ui_field_behaviour

PACKAGE_NAME = "airflow-provider-m365mail"
INTEGRATION = "Microsoft 365 Mail"
HOOK_CLASS = "airflow_provider_m365mail.hooks.m365mail.M365MailHook"
CLI_COMMANDS = "airflow_provider_m365mail.cli.main.airflow_cli_commands"
NOTIFIER_CLASS = "airflow_provider_m365mail.notifications.m365mail.M365EmailNotifier"
EMAIL_BACKEND = "airflow_provider_m365mail.email_backend.send_email"
MICROSOFT_GUIDE = (
    "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
    "how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365"
)


def _versions() -> list[str]:
    try:
        return [version(PACKAGE_NAME)]
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return []


def get_provider_info() -> dict[str, Any]:
    """Return the provider's description: its connection type (with the form) and every component it adds."""
    return {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION,
        "description": "Send email through Microsoft 365 / Exchange Online (SMTP AUTH with OAuth2 or basic auth, "
        "direct send, relay, Microsoft Graph) and any SMTP server.",
        "versions": _versions(),
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": MICROSOFT_GUIDE,
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_m365mail.hooks.m365mail"]},
        ],
        "operators": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_m365mail.operators.m365mail"]},
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_m365mail.sensors.send_as"]},
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_m365mail.triggers.send_as"]},
        ],
        "notifications": [NOTIFIER_CLASS],
        "email-backends": [EMAIL_BACKEND],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": "Microsoft 365 Mail",
                "conn-fields": conn_fields(),
                "ui-field-behaviour": ui_field_behaviour(),
            }
        ],
        "cli": [CLI_COMMANDS],
    }

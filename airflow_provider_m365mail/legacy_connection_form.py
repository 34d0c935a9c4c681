"""Draw the ``m365mail`` connection form on Airflow 3.0 and 3.1, which build it from wtforms fields.

Airflow 3.2+ reads the declarative form from the provider info (``connection_fields``); only the hook's
``get_connection_form_widgets()`` imports this module, on the releases before.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_m365mail.connection_fields import EXTRA_FIELDS


def legacy_form_widgets() -> dict[str, Any]:
    """Return what ``BaseHook.get_connection_form_widgets()`` returns on Airflow 3.0 and 3.1 (wtforms fields).

    Those releases accept only ``StringField``, ``IntegerField``, ``PasswordField`` and ``BooleanField`` (any other
    class drops the whole connection type from the UI), and their API server calls this with those classes and
    ``wtforms.validators.any_of`` swapped for stand-ins that record a JSON schema for the React form: a choice is a
    ``StringField`` with an ``any_of`` validator, which the form draws as a dropdown. Imported inside the function, as
    the stand-ins replace module attributes.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import NumberRange, Optional, any_of

    widgets: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        label = lazy_gettext(f.label)
        if f.secret:
            widgets[f.name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=f.description)
        elif f.type == "boolean":
            widgets[f.name] = BooleanField(label, default=f.default, description=f.description)
        elif f.type == "integer":
            validators = [Optional()] if f.minimum is None else [Optional(), NumberRange(min=f.minimum)]
            widgets[f.name] = IntegerField(
                label, widget=BS3TextFieldWidget(), default=f.default, validators=validators, description=f.description
            )
        else:  # strings, choices and numbers: a number has no field class of its own on these releases
            validators = [Optional(), any_of(f.json_schema()["enum"])] if f.enum else [Optional()]
            default = None if f.default is None else str(f.default)
            widgets[f.name] = StringField(
                label, widget=BS3TextFieldWidget(), default=default, validators=validators, description=f.description
            )
    return widgets

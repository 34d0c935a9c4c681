"""Write a refresh token into an Airflow connection kept in the metadata database, leaving its other fields alone.

``m365mail login --update-connection`` uses it. Airflow reads a connection from the first place that has it: a
secrets backend (``[secrets] backend``), then ``AIRFLOW_CONN_<ID>`` variables, then the metadata database.
Writing to the database only helps when the database is where Airflow finds the connection, so anything else
is refused, before the sign-in, saying where the connection comes from and what to do instead.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.configuration import ensure_secrets_loaded

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.secret import Secret

FIELD = "--update-connection"


def where_airflow_finds(conn_id: str) -> str | None:
    """Return the class name of the first secrets backend that holds ``conn_id`` (as Airflow looks it up), or
    None when none does."""
    for backend in ensure_secrets_loaded():
        if backend.get_connection(conn_id=conn_id) is not None:
            return type(backend).__name__
    return None


def require_metadata_connection(conn_id: str) -> None:
    """Raise ``ConfigurationError`` unless Airflow finds ``conn_id`` in the metadata database."""
    source = where_airflow_finds(conn_id)
    if source == "MetastoreBackend":
        return
    if source is None:
        raise ConfigurationError(FIELD, f"Airflow has no connection {conn_id}",
                                 hint=f"create it first (airflow connections add {conn_id} ...)")
    keep = ("sign in without --update-connection: the token cache (extra.token_cache_path) keeps the sign-in "
            "and its rotated refresh tokens")
    if source == "EnvironmentVariablesBackend":
        raise ConfigurationError(
            FIELD, f"the connection {conn_id} comes from the environment variable AIRFLOW_CONN_{conn_id.upper()}, "
            "which the metadata database cannot change", hint=f"{keep}, or unset the variable and keep the "
            "connection in the metadata database")
    raise ConfigurationError(
        FIELD, f"the connection {conn_id} comes from the secrets backend {source} ([secrets] backend), which "
        "this command does not write to", hint=f"{keep}, or store the refresh token in that backend yourself")


def store_refresh_token(conn_id: str, refresh_token: Secret) -> None:
    """Set ``extra.refresh_token`` of the metadata database's ``conn_id``, keeping every other field and extra."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        connection = session.scalar(select(Connection).where(Connection.conn_id == conn_id).limit(1))
        if connection is None:
            raise ConfigurationError(FIELD, f"the metadata database has no connection {conn_id}",
                                     hint=f"create it first (airflow connections add {conn_id} ...)")
        extra: dict[str, Any] = connection.extra_dejson
        connection.set_extra(json.dumps({**extra, "refresh_token": refresh_token.reveal()}))

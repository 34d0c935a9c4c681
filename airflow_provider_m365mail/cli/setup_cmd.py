"""``m365mail setup``: build a connection from questions or a file of answers, validate it, check it, write it.

Without ``--answers`` the command asks transport, mode, authentication, cloud, tenant, client, secret or
certificate, sender and server, each with a default that follows from the answers so far, and checks every answer
as it is typed (``setup_questions``); secrets are read without echo. With ``--answers FILE`` (YAML or JSON) the
answers are the connection's fields in the user's words: ``host``, ``port``, ``login``, ``password`` and any extra
(``transport``, ``smtp_mode``, ``auth_type``, ``tenant_id``, ``client_id``, ``client_secret`` or
``certificate_path``, ``from_email``, ``cloud``...). Whatever is left out takes the default ``MailSettings``
derives from the rest (the cloud's SMTP host, the port for the mode, login from the sender for app-only SMTP), and
the same rules refuse an incoherent answer, naming the field and the fix. ``--check`` (asked, when interactive)
then runs the doctor's checks on the result. The connection is written in Airflow's JSON form (the value of an
``AIRFLOW_CONN_<ID>`` variable), as a connection URI, or as an ``airflow connections add`` command, to ``--output``
(created with mode 0600: it holds the secret) or to standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.settings import MailSettings

FIELDS = ("host", "port", "login", "password")
FORMATS = ("json", "uri", "airflow-command")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe the flags of setup."""
    parser.add_argument("--answers", metavar="FILE",
                        help="YAML or JSON file of answers (connection fields and extras); without it the command "
                             "asks")
    parser.add_argument("--conn-id", default="m365mail_default", help="the connection id to write (default: "
                        "m365mail_default)")
    parser.add_argument("--format", choices=FORMATS, default="json",
                        help="json: the AIRFLOW_CONN_<ID> value; uri: the same as a connection URI (for secrets "
                             "backends that store URIs); airflow-command: an `airflow connections add` command line "
                             "(it writes the connection to the metadata database)")
    parser.add_argument("--output", metavar="PATH", help="write there (mode 0600) instead of standard output")
    parser.add_argument("--check", action="store_true", help="run the doctor's checks on the new connection")


def run(args: argparse.Namespace) -> int:
    """Validate the answers (asked, or read from --answers), optionally check the connection, and write it; return
    0 on success."""
    from airflow_provider_m365mail.core.errors import M365MailError

    try:
        if args.answers:
            connection = connection_from_answers(read_answers(Path(args.answers)))
            settings = settings_of(connection)
        else:
            from airflow_provider_m365mail.cli.setup_interview import interview

            connection, settings, args = interview(args)
    except (M365MailError, OSError, ValueError, EOFError, KeyboardInterrupt) as exc:
        print(f"FAILED: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    connection.update(host=settings.host or None, port=settings.port or None)
    if args.check:
        code = _check(settings)
        if code:
            return code
    write(connection, args)
    return 0


def settings_of(connection: dict[str, Any]) -> MailSettings:
    """Validate a connection in Airflow's JSON form (raises ``ConfigurationError`` naming the field and the fix)."""
    from airflow_provider_m365mail.core.settings import MailSettings

    return MailSettings.from_airflow_connection(**{k: connection.get(k) for k in (*FIELDS, "extra")})


def write(connection: dict[str, Any], args: argparse.Namespace) -> None:
    """Write the connection in ``args.format`` to ``args.output`` (mode 0600), or print it."""
    text = render(connection, args.conn_id, args.format)
    if args.output:
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        print(f"Wrote connection {args.conn_id} to {args.output}.", file=sys.stderr)
    else:
        print(text)


def read_answers(path: Path) -> dict[str, Any]:
    """Read the answers file (YAML when it ends in .yaml or .yml, else JSON) into a mapping."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the answers must be a mapping of field names to values")
    return data


def connection_from_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """Return the connection in Airflow's JSON form: the four fields at the top, every other answer an extra."""
    return {"conn_type": "m365mail", **{k: answers[k] for k in FIELDS if k in answers},
            "extra": {k: v for k, v in answers.items() if k not in FIELDS and v not in (None, "")}}


def render(connection: dict[str, Any], conn_id: str, form: str) -> str:
    """Return the connection as JSON, as a connection URI, or as an ``airflow connections add`` command."""
    document = json.dumps({k: v for k, v in connection.items() if v is not None})
    if form == "json":
        return document
    if form == "uri":
        return connection_uri(connection)
    return f"airflow connections add {shlex.quote(conn_id)} --conn-json {shlex.quote(document)}"


def connection_uri(connection: dict[str, Any]) -> str:
    """Return the connection as Airflow's URI form, the extras as one JSON ``__extra__`` parameter.

    Every part is percent-encoded, so a secret holding ``@``, ``:`` or ``/`` reads back unchanged; ``__extra__``
    keeps the extras' types (a list of allowed senders, a number), which flat query parameters would turn to text.
    """
    from urllib.parse import quote, urlencode

    login, password = connection.get("login"), connection.get("password")
    credentials = ""
    if login or password:
        credentials = quote(login or "", safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
    host = quote(connection.get("host") or "", safe="")
    port = f":{connection['port']}" if connection.get("port") else ""
    extra = connection.get("extra") or {}
    query = f"?{urlencode({'__extra__': json.dumps(extra)})}" if extra else ""
    return f"{connection['conn_type']}://{credentials}{host}{port}/{query}"


def _check(settings: MailSettings) -> int:
    from airflow_provider_m365mail.cli.doctor import render as render_diagnosis
    from airflow_provider_m365mail.core.doctor.diagnosis import diagnose
    from airflow_provider_m365mail.core.run_sync import run_sync

    diagnosis = run_sync(diagnose(lambda: settings))
    with contextlib.redirect_stdout(sys.stderr):  # standard output carries the connection
        render_diagnosis(diagnosis)
    return diagnosis.exit_code


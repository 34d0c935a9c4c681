"""Read the JSON schema docs/doctor.md publishes for ``m365mail doctor --json``, for the tests that validate it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

DOCS = Path(__file__).resolve().parents[1] / "docs"


def doctor_schema() -> dict[str, Any]:
    """Return the JSON schema docs/doctor.md publishes for ``--json`` (its json block holding "$schema")."""
    blocks = re.findall(r"```json\n(.*?)```", (DOCS / "doctor.md").read_text(encoding="utf-8"), re.DOTALL)
    (schema,) = [json.loads(block) for block in blocks if '"$schema"' in block]
    jsonschema.Draft202012Validator.check_schema(schema)
    loaded: dict[str, Any] = schema
    return loaded

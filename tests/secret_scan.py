"""The record a test keeps for the secret guard (``tests/conftest.py``): outputs to scan, secrets to look for."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SecretScan:
    """What the secret guard reads after a test besides its log records: texts Airflow handed back (REST read-backs,
    Test Connection messages, pages) and secrets the test used beyond the sandbox's own."""

    outputs: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def output(self, source: str, text: str) -> None:
        """Have ``text`` scanned as ``source`` (a route, a page) shows it."""
        self.outputs.append(f"[{source}] {text}")

    def secret(self, *values: str) -> None:
        """Count ``values`` as secrets too."""
        self.secrets.update(v for v in values if v)

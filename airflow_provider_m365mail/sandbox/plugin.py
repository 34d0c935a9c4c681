"""pytest plugin: the ``m365_sandbox`` fixture (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

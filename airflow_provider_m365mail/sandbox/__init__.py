"""A local Microsoft 365 emulator: SMTP, the identity platform token endpoint and Graph mail."""

from __future__ import annotations

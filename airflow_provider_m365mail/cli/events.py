"""Report an interactive command's steps as text, or as one JSON object per line with ``--json`` (for scripts).

``login`` and ``consent`` both print a URL to open, wait, then say how it ended; a failure is reported the same
way by both, naming the error (never a token) instead of printing a traceback.
"""

from __future__ import annotations

import json
import os
import webbrowser
from typing import Any


class Events:
    """Print events: ``{"event": ..., **fields}`` lines in JSON mode, else the human text."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def say(self, event: str, text: str, **fields: Any) -> None:
        """Print one event."""
        print(json.dumps({"event": event, **fields}) if self.as_json else text, flush=True)

    def offer_url(self, event: str, text: str, **fields: str) -> None:
        """Print a URL for someone to open in a browser, and open it when this host has a display.

        Without a display ``webbrowser`` would pick a console browser, which would take over the terminal.
        """
        self.say(event, text, **fields)
        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            for url in fields.values():
                webbrowser.open(url)

    def failed(self, exc: Exception) -> int:
        """Report why the command failed and return its exit code (1)."""
        from airflow_provider_m365mail.core.errors import M365MailError

        if isinstance(exc, M365MailError):
            self.say("failed", f"FAILED: {exc}", error=str(exc), code=exc.code)
        else:  # Airflow could not find or read the connection: say why, without a traceback
            self.say("failed", f"FAILED: cannot read the connection: {type(exc).__name__}: {exc}",
                     error=f"{type(exc).__name__}: {exc}")
        return 1

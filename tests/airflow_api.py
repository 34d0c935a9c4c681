"""A running Airflow api-server as the UI tests see it (started by ``tests/airflow_ui/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ADMIN = "admin"


@dataclass
class AirflowApiServer:
    """The running api-server: where it listens and how to sign in."""

    base_url: str
    password: str
    log: Path

    def token(self) -> str:
        """Return a JWT for the admin, as the UI's login and API clients get one."""
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=60) as client:
            answer = client.post("/auth/token", json={"username": ADMIN, "password": self.password})
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def sign_in(self, page: Any) -> None:
        """Sign ``page`` in through the simple auth manager's login page."""
        page.goto(f"{self.base_url}/")
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(self.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.base_url}/")


@dataclass
class AirflowUi:
    """A Chromium page signed in to the api-server's UI, and where its screenshots go."""

    page: Any
    server: AirflowApiServer
    screenshots: Path

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        """Save a screenshot of the page as ``<name>.png``; return its path."""
        path = self.screenshots / f"{name}.png"
        self.page.screenshot(path=path, full_page=full_page)
        return path

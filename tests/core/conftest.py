from __future__ import annotations

import pytest

from airflow_provider_m365mail.core.auth.tokens import clear_applications


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    """Start every test without MSAL applications: the sandbox outlives tests, its caches must not."""
    clear_applications()

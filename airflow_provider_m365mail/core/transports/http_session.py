"""One httpx client per transport session, for the transports that speak HTTP to a single endpoint (EWS, ACS).

The client is built on first use with the connection's CA bundle, proxy and timeout (never the environment's
proxy or CA variables) and closed when the outermost ``async with`` block ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.base import Session

if TYPE_CHECKING:
    import httpx


class HttpSession(Session):
    """A ``Session`` holding one ``httpx.AsyncClient`` for its connection's endpoint."""

    _client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the HTTP connection, if one is open."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http_client(self, settings: MailSettings, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        """Return the session's client, building it on first use (``auth`` signs every request, as NTLM does)."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                auth=auth, verify=make_ssl_context(settings), proxy=settings.proxy.reveal() if settings.proxy else None,
                timeout=httpx.Timeout(settings.timeout), trust_env=False,
            )
        return self._client

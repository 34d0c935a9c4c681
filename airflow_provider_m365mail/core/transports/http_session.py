"""One httpx client per transport session, for the transports that speak HTTP to a single endpoint (EWS, ACS).

The client is built on first use with the connection's CA bundle, timeout and proxy (``extra.proxy``, or with
``proxy: env`` the environment's proxy variables, as ``core.auth.proxies`` chooses for the endpoint's host; never
the environment's CA variables) and closed when the outermost ``async with`` block ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.auth.proxies import proxy_for, socks_support_missing
from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.base import Session

if TYPE_CHECKING:
    import httpx


class HttpSession(Session):
    """A ``Session`` holding one ``httpx.AsyncClient`` for its connection's endpoint."""

    _client: httpx.AsyncClient | None = None
    _proxy: str | None = None  # the proxy the client goes through, for naming it in errors

    async def close(self) -> None:
        """Close the HTTP connection, if one is open."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http_client(
        self, settings: MailSettings, host: str, service: str, auth: httpx.Auth | None = None
    ) -> httpx.AsyncClient:
        """Return the session's client for ``host``, building it on first use (``auth`` signs every request, as
        NTLM does); ``service`` names it when a SOCKS proxy lacks its optional package."""
        import httpx

        if self._client is None:
            self._proxy = proxy_for(settings, host)
            try:
                self._client = httpx.AsyncClient(
                    auth=auth, verify=make_ssl_context(settings), proxy=self._proxy,
                    timeout=httpx.Timeout(settings.timeout), trust_env=False,
                )
            except ImportError:  # socks5 proxies need httpx's optional socksio
                raise socks_support_missing(service) from None
        return self._client

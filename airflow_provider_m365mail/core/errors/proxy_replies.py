"""The replies of the proxies a connection tunnels through (HTTP CONNECT and SOCKS5), what they mean and fixes.

``classify_proxy_failure`` matches on ``code``: "unreachable" (the proxy itself), the CONNECT's HTTP status, or
"socks-auth" and "socks-0x0N" for SOCKS5's authentication and reply codes.
"""

from __future__ import annotations

from airflow_provider_m365mail.core.errors.known_reply import AUTH, PERMANENT, TRANSIENT, UNREACHABLE, proxy_reply

_CHECK_PROXY = "Check extra.proxy (or HTTPS_PROXY / ALL_PROXY with proxy env): scheme, host and port"
PROXY_REPLIES = (
    proxy_reply("unreachable", "Could not connect to proxy proxy.contoso.com:3128 [Connection refused]",
                "The proxy itself could not be reached (nothing listens, or a firewall drops the port)",
                _CHECK_PROXY + "; ask the network team which proxy this host must use", UNREACHABLE),
    proxy_reply("407", "HTTP/1.1 407 Proxy Authentication Required",
                "The proxy wants credentials, or refused the ones given",
                "Put the proxy account in the URL, http://user:password@proxy:port (percent-encode @ and : in the "
                "password); the provider does not retry this", AUTH),
    proxy_reply("403", "HTTP/1.1 403 Forbidden",
                "The proxy refused to open a tunnel to this host and port (its CONNECT rules forbid it)",
                "Ask the proxy's administrators to allow CONNECT to the mail host and port (587, 465 or 25; 443 for "
                "Graph and the token endpoint), or add the host to NO_PROXY if it is reachable directly", PERMANENT),
    proxy_reply("socks-auth", "Username and password authentication failure",
                "The SOCKS5 proxy refused the user name and password, or wants credentials none were given for",
                "Put the proxy account in the URL, socks5://user:password@proxy:1080; the provider does not retry "
                "this", AUTH),
    proxy_reply("socks-0x01", "General SOCKS server failure",
                "The SOCKS5 proxy failed to open the connection for an unstated reason",
                "Retried; if it persists, check the proxy's own log for the destination host and port", TRANSIENT),
    proxy_reply("socks-0x02", "Connection not allowed by ruleset",
                "The SOCKS5 proxy's rules forbid a connection to this host and port",
                "Ask the proxy's administrators to allow the mail host and port", PERMANENT),
    proxy_reply("socks-0x03", "Network unreachable",
                "The SOCKS5 proxy has no route to the destination network",
                "Check the host and port; the proxy must be able to reach them", UNREACHABLE),
    proxy_reply("socks-0x04", "Host unreachable",
                "The SOCKS5 proxy could not reach the destination host (or, with socks5h, resolve its name)",
                "Check the host name and that the proxy can resolve and reach it", UNREACHABLE),
    proxy_reply("socks-0x05", "Connection refused",
                "The destination refused the connection the SOCKS5 proxy made",
                "Check the port; the server may be down", UNREACHABLE),
)

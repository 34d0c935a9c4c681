"""Microsoft's cloud instances and each one's service hosts (authority, Graph, SMTP, Exchange resource)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType


class Cloud(str, Enum):
    """Microsoft cloud instance; it decides authority, Graph root, SMTP host and token scopes together."""

    GLOBAL = "global"
    USGOV = "usgov"
    USGOV_DOD = "usgov_dod"
    CHINA = "china"


@dataclass(frozen=True)
class CloudEndpoints:
    """A cloud's service hosts. ``graph_endpoint`` is the service root, without the ``/v1.0`` version."""

    authority_host: str
    graph_endpoint: str
    smtp_host: str
    exchange_resource: str


CLOUDS: Mapping[Cloud, CloudEndpoints] = MappingProxyType(
    {
        Cloud.GLOBAL: CloudEndpoints(
            "login.microsoftonline.com", "https://graph.microsoft.com", "smtp.office365.com",
            "https://outlook.office365.com",
        ),
        Cloud.USGOV: CloudEndpoints(
            "login.microsoftonline.us", "https://graph.microsoft.us", "smtp.office365.us",
            "https://outlook.office365.us",
        ),
        Cloud.USGOV_DOD: CloudEndpoints(
            "login.microsoftonline.us", "https://dod-graph.microsoft.us", "outlook-dod.office365.us",
            "https://outlook-dod.office365.us",
        ),
        Cloud.CHINA: CloudEndpoints(
            "login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn",
            "smtp.partner.outlook.cn", "https://partner.outlook.cn",
        ),
    }
)

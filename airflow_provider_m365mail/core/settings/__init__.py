"""Settings: a connection read once into a validated, immutable ``MailSettings``.

``model`` holds ``MailSettings``; ``choices`` the closed sets of options; ``clouds`` each Microsoft cloud's hosts;
``extra_reader`` reads the connection's extras; ``rules`` resolves defaults and refuses incoherent combinations;
``hosts`` checks host names, endpoints and proxy URLs; ``entra_ids`` tenant ids and certificate thumbprints.
May import ``core.errors`` and ``core.message.addresses``.
"""

from __future__ import annotations

from airflow_provider_m365mail.core.settings.choices import AuthType, Security, SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.clouds import CLOUDS, Cloud, CloudEndpoints
from airflow_provider_m365mail.core.settings.model import EXTRA_KEYS, MailSettings

__all__ = [
    "CLOUDS",
    "EXTRA_KEYS",
    "AuthType",
    "Cloud",
    "CloudEndpoints",
    "MailSettings",
    "Security",
    "SmtpMode",
    "TransportKind",
]

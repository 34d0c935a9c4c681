"""Build the TLS context for SMTP: TLS 1.2 or newer, certificates verified, optional client certificate.

Exchange Online refuses TLS 1.0/1.1 (421 4.7.66), and a relay connector may identify the sender by its TLS
client certificate (CN/SAN = an accepted domain). Verification is never switched off; a private or test CA is
trusted through ``ca_bundle`` instead.
"""

from __future__ import annotations

import ssl

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import MailSettings


def make_ssl_context(settings: MailSettings) -> ssl.SSLContext:
    """Return a verifying client context (TLS 1.2+) trusting ``ca_bundle`` or the system store."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            "extra.ca_bundle", f"cannot load CA bundle {settings.ca_bundle}: {exc}", hint="give a PEM file of CAs"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.client_certificate_path:
        try:
            context.load_cert_chain(settings.client_certificate_path, settings.client_key_path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                "extra.client_certificate_path",
                f"cannot load the client certificate: {exc}",
                hint="give a PEM certificate (with its key inside, or in extra.client_key_path, unencrypted)",
            ) from None
    return context

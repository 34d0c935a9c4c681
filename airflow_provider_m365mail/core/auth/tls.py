"""Build the TLS context for SMTP and Graph: TLS 1.2 or newer, certificates verified, optional client certificate.

Exchange Online refuses TLS 1.0/1.1 (421 4.7.66), and a relay connector may identify the sender by its TLS
client certificate (CN/SAN = an accepted domain). Verification is never switched off; a private or test CA is
trusted through ``ca_bundle`` instead.

Contexts are shared per process: with OpenSSL 3, loading the system trust store takes tens of milliseconds, which
a fresh context per connection would pay on every send. A context is rebuilt when one of its files changes (path,
size or modification time), so a rotated CA bundle or relay certificate is picked up without a restart.
"""

from __future__ import annotations

import functools
import os
import ssl

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import MailSettings

FileVersion = tuple[str, int, int] | None  # (path, size, mtime in ns), or None for no file


def make_ssl_context(settings: MailSettings) -> ssl.SSLContext:
    """Return a verifying client context (TLS 1.2+) trusting ``ca_bundle`` or the system store."""
    return _context(
        _version(settings.ca_bundle),
        _version(settings.client_certificate_path),
        _version(settings.client_key_path),
    )


def _version(path: str | None) -> FileVersion:
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return (path, -1, -1)  # loading it below reports the error, naming the field
    return (path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _context(ca_bundle: FileVersion, certificate: FileVersion, key: FileVersion) -> ssl.SSLContext:
    cafile = ca_bundle[0] if ca_bundle else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            "extra.ca_bundle", f"cannot load CA bundle {cafile}: {exc}", hint="give a PEM file of CAs"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if certificate:
        try:
            context.load_cert_chain(certificate[0], key[0] if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                "extra.client_certificate_path",
                f"cannot load the client certificate: {exc}",
                hint="give a PEM certificate (with its key inside, or in extra.client_key_path, unencrypted)",
            ) from None
    return context

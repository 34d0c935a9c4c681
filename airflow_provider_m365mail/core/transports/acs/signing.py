"""Sign an ACS request with the resource's access key (HMAC-SHA256), as the Communication Services SDKs do.

The string to sign is ``METHOD\\n<path and query>\\n<x-ms-date>;<host>;<x-ms-content-sha256>``; the signature is
the base64 HMAC-SHA256 of it under the base64-decoded key. Pure: the caller passes the time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from airflow_provider_m365mail.core.errors import ConfigurationError


def hmac_headers(method: str, url: str, body: bytes, access_key: str, now: datetime) -> dict[str, str]:
    """Return the ``x-ms-date``, ``x-ms-content-sha256`` and ``Authorization`` headers for one request."""
    try:
        key = base64.b64decode(access_key, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("extra.acs_access_key", "the access key is not base64",
                                 hint="copy the Key (not the connection string) from the resource's Keys") from None
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    date = format_datetime(now, usegmt=True)
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    to_sign = f"{method.upper()}\n{path_and_query}\n{date};{parts.netloc};{content_hash}"
    signature = base64.b64encode(hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }

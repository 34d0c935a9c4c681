"""Keep the sandbox's CA and server certificate in its state folder, so that a restart keeps what clients trust.

Clients trust the sandbox through ``state_dir/ca.pem``; an Airflow worker or a test holding it while the sandbox
restarts on the same folder must still connect afterwards (a new CA at every start failed such sends with a
permanent certificate error). So the CA (``ca.pem``, ``ca-key.pem``) and the server's key and certificate chain
(``server.pem``) are written once and reused while they are readable, match, are valid for at least another day
and name the host. Otherwise they are made anew. The keys are written owner-only; they belong to a throwaway CA
whose server certificate names loopback addresses only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_PEM = "server.pem"  # private key + certificate chain
MIN_REMAINING = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Certificates:
    """The CA clients trust and the server certificate it signed, as files in the state folder."""

    ca: trustme.CA
    ca_file: Path
    server_pem: Path

    def configure_server(self, context: ssl.SSLContext) -> None:
        """Make ``context`` present the server certificate."""
        context.load_cert_chain(str(self.server_pem))


def load_or_create(state_dir: Path, host: str, *, now: datetime.datetime | None = None) -> Certificates:
    """Return the folder's certificates, making whichever is missing or no longer usable."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    ca_file, key_file, server_pem = state_dir / CA_CERT, state_dir / CA_KEY, state_dir / SERVER_PEM
    ca = _usable_ca(ca_file, key_file, moment)
    if ca is None:
        ca = trustme.CA(organization_name="m365mail sandbox")
        _write(key_file, ca.private_key_pem.bytes(), private=True)
        _write(ca_file, ca.cert_pem.bytes())
        server_pem.unlink(missing_ok=True)
    if not _usable_server(server_pem, ca_file, host, moment):
        names = dict.fromkeys(("127.0.0.1", "localhost", host))
        leaf = ca.issue_cert(*names)
        _write(server_pem, leaf.private_key_and_cert_chain_pem.bytes(), private=True)
    return Certificates(ca, ca_file, server_pem)


def _usable_ca(ca_file: Path, key_file: Path, moment: datetime.datetime) -> trustme.CA | None:
    try:
        cert_pem, key_pem = ca_file.read_bytes(), key_file.read_bytes()
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = load_pem_private_key(key_pem, password=None)
    except (OSError, ValueError, TypeError):
        return None
    own_key = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if own_key != cert.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo):
        return None
    return trustme.CA.from_pem(cert_pem, key_pem) if _valid(cert, moment) else None


def _usable_server(server_pem: Path, ca_file: Path, host: str, moment: datetime.datetime) -> bool:
    try:
        leaf = x509.load_pem_x509_certificate(server_pem.read_bytes())
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_file.read_bytes()))
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(server_pem))  # key matches
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, ssl.SSLError, x509.ExtensionNotFound, InvalidSignature):
        return False
    try:
        named = ipaddress.ip_address(host) in names.get_values_for_type(x509.IPAddress)
    except ValueError:
        named = host in names.get_values_for_type(x509.DNSName)
    return named and _valid(leaf, moment)


def _valid(cert: x509.Certificate, moment: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= moment and cert.not_valid_after_utc - moment >= MIN_REMAINING


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write atomically (readers never see half a file), owner-only when ``private``."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.replace(temporary, path)

"""The sandbox keeps its CA and server certificate across restarts on one state folder, renewing only what is
unusable, so that a client holding ``ca.pem`` keeps trusting it."""

from __future__ import annotations

import datetime
import socket
import ssl
import stat
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from airflow_provider_m365mail.sandbox.certificates import CA_CERT, CA_KEY, SERVER_PEM, load_or_create
from airflow_provider_m365mail.sandbox.server import Sandbox


def server_certificate(sandbox: Sandbox, context: ssl.SSLContext) -> bytes:
    """Connect to the sandbox's HTTPS port verifying with ``context``; return the certificate it presented."""
    port = int(sandbox.settings["http_base"].rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        presented = tls.getpeercert(binary_form=True)
    assert presented is not None
    return presented


def test_a_restart_on_the_same_state_folder_keeps_the_ca_and_the_server_certificate(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as first:
        trusted_before_restart = first.client_context()  # what a client in the middle of a send holds
        presented_before = server_certificate(first, trusted_before_restart)
        ca_before = first.ca_file.read_bytes()

    with Sandbox(tmp_path) as second:
        presented_after = server_certificate(second, trusted_before_restart)
        assert second.ca_file.read_bytes() == ca_before
    assert presented_after == presented_before
    for private in (CA_KEY, SERVER_PEM):
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600


def test_an_expired_server_certificate_is_issued_anew_by_the_kept_ca(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as first:
        trusted = first.client_context()
    ca = trustme.CA.from_pem((tmp_path / CA_CERT).read_bytes(), (tmp_path / CA_KEY).read_bytes())
    expired = ca.issue_cert("127.0.0.1", "localhost", not_before=datetime.datetime(2020, 1, 1),
                            not_after=datetime.datetime(2021, 1, 1))
    (tmp_path / SERVER_PEM).write_bytes(expired.private_key_and_cert_chain_pem.bytes())

    with Sandbox(tmp_path) as second:
        presented = x509.load_der_x509_certificate(server_certificate(second, trusted))
    assert presented.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc)


@pytest.mark.parametrize("damage", ["ca key missing", "ca key of another ca", "server file junk"])
def test_unusable_files_are_replaced_and_the_server_always_matches_the_ca(tmp_path: Path, damage: str) -> None:
    first = load_or_create(tmp_path, "127.0.0.1")
    if damage == "ca key missing":
        (tmp_path / CA_KEY).unlink()
    elif damage == "ca key of another ca":
        (tmp_path / CA_KEY).write_bytes(trustme.CA().private_key_pem.bytes())
    else:
        (tmp_path / SERVER_PEM).write_bytes(b"not a certificate")

    second = load_or_create(tmp_path, "127.0.0.1")

    ca_kept = damage == "server file junk"
    assert (second.ca.cert_pem.bytes() == first.ca.cert_pem.bytes()) is ca_kept
    leaf = x509.load_pem_x509_certificate(second.server_pem.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(second.ca_file.read_bytes()))


def test_a_ca_about_to_expire_and_another_host_are_renewed(tmp_path: Path) -> None:
    first = load_or_create(tmp_path, "127.0.0.1")
    ca_expiry = x509.load_pem_x509_certificate(first.ca.cert_pem.bytes()).not_valid_after_utc

    same = load_or_create(tmp_path, "127.0.0.1")
    other_host = load_or_create(tmp_path, "::1")
    near_expiry = load_or_create(tmp_path, "::1", now=ca_expiry - datetime.timedelta(hours=1))

    assert same.server_pem.read_bytes() != b""
    assert other_host.ca.cert_pem.bytes() == first.ca.cert_pem.bytes()
    assert near_expiry.ca.cert_pem.bytes() != first.ca.cert_pem.bytes()

"""A real Postfix with Dovecot SASL on loopback, configured from scratch in a temporary folder.

Postfix listens on three ports: submission with STARTTLS (TLS required before AUTH), submission with implicit TLS,
and a STARTTLS port with SMTPUTF8 switched off. Dovecot authenticates for it: PLAIN/LOGIN from a password file,
XOAUTH2 by validating the bearer JWT locally against a public key (``introspection_mode = local``), the way a
resource server trusts an identity provider's signing key. ``smtpd_sender_login_maps`` with
``reject_sender_login_mismatch`` enforces Send As at MAIL FROM; mail for the hosted domains lands in Maildirs.
"""

from __future__ import annotations

import email
import email.policy
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import trustme

POSTFIX_MASTER = Path("/usr/lib/postfix/sbin/master")
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
HOSTNAME = "mail.contoso.test"
# Internal Postfix services a submission-only server needs (Debian's master.cf, unchrooted).
_SERVICES = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


# Queue folder, owned by postfix (else root), group postdrop (else the owner's), mode: as Debian's postfix-files.
_QUEUE_FOLDERS = (
    ("pid", False, False, 0o755), ("active", True, False, 0o700), ("bounce", True, False, 0o700),
    ("corrupt", True, False, 0o700), ("defer", True, False, 0o700), ("deferred", True, False, 0o700),
    ("flush", True, False, 0o700), ("hold", True, False, 0o700), ("incoming", True, False, 0o700),
    ("private", True, False, 0o700), ("saved", True, False, 0o700), ("trace", True, False, 0o700),
    ("maildrop", True, True, 0o730), ("public", True, True, 0o710),
)


def missing_packages() -> list[str]:
    """Return the Debian packages (postfix, dovecot-core) whose programs are not installed."""
    missing = [] if POSTFIX_MASTER.exists() and shutil.which("postfix") else ["postfix"]
    return missing + ([] if Path(DOVECOT).exists() else ["dovecot-core"])


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class MailAccount:
    """A mailbox that can sign in (``password``) and the other addresses it may send as (Send As)."""

    address: str
    password: str | None = None
    send_as: tuple[str, ...] = ()


@dataclass
class MailServer:
    """Postfix + Dovecot for ``domains`` and ``accounts``; ``jwt_keys`` maps (azp, kid) to a PEM public key.

    ``discard``: accept mail as usual, then drop it instead of writing Maildirs (benchmarks measure the server's
    SMTP side, not the disk).
    """

    domains: Sequence[str]
    accounts: Sequence[MailAccount]
    jwt_keys: Mapping[tuple[str, str], bytes] = field(default_factory=dict)
    discard: bool = False
    root: Path = field(init=False)
    ports: dict[str, int] = field(init=False, default_factory=dict)
    ca: trustme.CA = field(init=False)
    _processes: list[subprocess.Popen[bytes]] = field(init=False, default_factory=list)

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    def start(self) -> MailServer:
        """Write the configuration, start Dovecot then Postfix, and wait until every port answers."""
        # Postfix's and Dovecot's unprivileged processes must traverse it: not under pytest's 0700 tmp folder.
        self.root = Path(tempfile.mkdtemp(prefix="m365mail-postfix-"))
        self.root.chmod(0o755)
        self.ca = trustme.CA(organization_name="m365mail postfix tests")
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.ports = dict(zip(("starttls", "ssl", "no_smtputf8"), _free_ports(3), strict=True))
        self._write_dovecot()
        self._write_postfix()
        try:
            self._processes.append(self._spawn([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")]))
            self._wait_for_file(self.root / "dovecot" / "auth-postfix")
            self._make_queue()
            self._processes.append(self._spawn([str(POSTFIX_MASTER), "-c", str(self.root / "postfix"), "-d"]))
            for port in self.ports.values():
                self._wait_for_port(port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers (SIGTERM, then SIGKILL) and remove the folder."""
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- reading what was delivered ----------------------------------------------------------------------------

    def maildir(self, address: str) -> Path:
        """Return the Maildir of ``address`` (local part and domain as configured)."""
        local, _, domain = address.rpartition("@")
        return self.root / "mail" / domain / local

    def delivered(self, address: str) -> list[EmailMessage]:
        """Return the messages in ``address``'s Maildir (new/), oldest first."""
        folder = self.maildir(address) / "new"
        files = sorted(folder.iterdir(), key=lambda f: f.stat().st_mtime_ns) if folder.is_dir() else []
        return [self._parse(f.read_bytes()) for f in files]

    def clear_mail(self) -> None:
        """Delete every delivered message."""
        for folder in (self.root / "mail").glob("*/*/new"):
            for file in folder.iterdir():
                file.unlink()

    def wait_for_delivery(self, address: str, count: int = 1, *, attempts: int = 600) -> list[EmailMessage]:
        """Return ``address``'s messages once ``count`` have arrived (Postfix delivers after it answers 250)."""
        for _ in range(attempts):
            messages = self.delivered(address)
            if len(messages) >= count:
                return messages
            time.sleep(0.02)
        raise AssertionError(f"{address}: {len(self.delivered(address))} of {count} messages delivered; "
                             f"log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        """Return Postfix's and Dovecot's logs."""
        return "".join(
            path.read_text(errors="replace") for path in (self.root / "postfix.log", self.root / "dovecot.log")
            if path.exists()
        )

    @staticmethod
    def _parse(raw: bytes) -> EmailMessage:
        # Messages with UTF-8 headers (SMTPUTF8) are stored as UTF-8: decode them as such, not as surrogates.
        message = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    # -- configuration -------------------------------------------------------------------------------------

    def _write_dovecot(self) -> None:
        folder = self.root / "dovecot"
        keys = self.root / "jwt-keys"
        for path in (folder, keys, self.root / "dovecot-state"):
            path.mkdir(mode=0o755)
        users = [f"{a.address}:{{PLAIN}}{a.password}::::::" for a in self.accounts if a.password]
        (self.root / "users").write_text("\n".join(users) + "\n")
        for (azp, kid), pem in self.jwt_keys.items():
            key_file = keys / azp / "RS256" / kid
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(pem)
        (self.root / "oauth2.conf").write_text(
            "introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={keys}/\n"
            "username_attribute = upn\n"
        )
        nobody = pwd.getpwnam("nobody")
        (self.root / "dovecot.conf").write_text(f"""\
base_dir = {folder}/
state_dir = {self.root}/dovecot-state
log_path = {self.root}/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
default_internal_user = dovecot
default_login_user = dovenull
auth_mechanisms = plain login xoauth2
auth_username_format = %Lu
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {self.root}/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {self.root}/oauth2.conf
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home=/nonexistent
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
""")

    def _write_postfix(self) -> None:
        config = self.root / "postfix"
        config.mkdir(mode=0o755)
        mail, queue, data = self.root / "mail", self.root / "queue", self.root / "data"
        for path in (mail, queue, data):
            path.mkdir(mode=0o755)
        nobody, postfix = pwd.getpwnam("nobody"), pwd.getpwnam("postfix")
        os.chown(mail, nobody.pw_uid, nobody.pw_gid)
        os.chown(data, postfix.pw_uid, postfix.pw_gid)
        key, cert = config / "server.key", config / "server.pem"
        leaf = self.ca.issue_cert(HOSTNAME, "127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(key))
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        (config / "vmailbox").write_text(
            "".join(f"{a.address} {a.address.rpartition('@')[2]}/{a.address.rpartition('@')[0]}/\n"
                    for a in self.accounts)
        )
        owners = [f"{a.address} {a.address}" for a in self.accounts if a.password]
        owners += [f"{other} {a.address}" for a in self.accounts for other in a.send_as]
        (config / "senders").write_text("\n".join(owners) + "\n")
        (config / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.root}/queue
data_directory = {self.root}/data
maillog_file = {self.root}/postfix.log
maillog_file_prefixes = {self.root}
mail_owner = postfix
setgid_group = postdrop
myhostname = {HOSTNAME}
mydomain = contoso.test
myorigin = contoso.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
default_transport = error:this test server delivers only to its own domains
relay_transport = error:this test server delivers only to its own domains
smtputf8_enable = yes
virtual_mailbox_domains = {", ".join(self.domains)}
virtual_mailbox_base = {mail}
virtual_mailbox_maps = texthash:{config}/vmailbox
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.root}/dovecot/auth-postfix
smtpd_sender_login_maps = texthash:{config}/senders
smtpd_delay_reject = no
smtpd_sender_restrictions = reject_sender_login_mismatch
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = reject_unlisted_recipient
smtpd_client_restrictions = permit_sasl_authenticated
queue_run_delay = 1s
""" + ("virtual_transport = discard:benchmark\n" if self.discard else ""))
        (config / "master.cf").write_text(
            f"127.0.0.1:{self.ports['starttls']} inet n - n - - smtpd\n"
            f"127.0.0.1:{self.ports['ssl']} inet n - n - - smtpd\n"
            "  -o smtpd_tls_wrappermode=yes\n"
            f"127.0.0.1:{self.ports['no_smtputf8']} inet n - n - - smtpd\n"
            "  -o smtputf8_enable=no\n"
            + _SERVICES
        )

    def _make_queue(self) -> None:
        """Create the queue's folders as ``postfix check`` would (it takes seconds: it checks every installed file)."""
        queue = self.root / "queue"
        postfix, postdrop = pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postdrop").gr_gid
        for name, owner, group, mode in _QUEUE_FOLDERS:
            folder = queue / name
            folder.mkdir()
            os.chown(folder, postfix if owner else 0, postdrop if group else (postfix if owner else 0))
            folder.chmod(mode)

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{Path(argv[0]).name}.out").open("wb")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def _wait_for_file(self, path: Path, attempts: int = 500) -> None:
        for _ in range(attempts):
            if path.exists():
                return
            self._check_alive()
            time.sleep(0.02)
        raise RuntimeError(f"{path} did not appear; log:\n{self.log()}")

    def _wait_for_port(self, port: int, attempts: int = 500) -> None:
        for _ in range(attempts):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                self._check_alive()
                time.sleep(0.02)
        raise RuntimeError(f"Postfix does not listen on {port}; log:\n{self.log()}")

    def _check_alive(self) -> None:
        for process in self._processes:
            if process.poll() is not None:
                out = (self.root / f"{Path(str(process.args[0])).name}.out").read_text(errors="replace")  # type: ignore[index]
                raise RuntimeError(f"{process.args} exited {process.returncode}: {out}\n{self.log()}")

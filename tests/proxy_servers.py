"""Real proxies for the tests: tinyproxy (HTTP CONNECT) and Dante (SOCKS5), each with its own config and log.

Each listens on an ephemeral loopback port and opens its outgoing connections from 127.0.0.2, so a server that
sees a client at 127.0.0.2 was reached through a proxy, and the proxy's log names every tunnel it opened.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

OUTGOING_ADDRESS = "127.0.0.2"
PROXY_USER, PROXY_PASSWORD = "airflow-proxy", "px-Secret-7"
_STARTUP_S = 15.0


def free_port() -> int:
    """Return a loopback TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class ProxyServer:
    """One running proxy: its URL (credentials included when it has any), process and log."""

    name: str
    scheme: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    credentials: tuple[str, str] | None = None

    def url(self, scheme: str | None = None, *, password: str | None = None) -> str:
        """Return the proxy URL, with the proxy's credentials (or ``password`` instead of its own)."""
        auth = ""
        if self.credentials is not None:
            user, secret = self.credentials
            auth = f"{user}:{password if password is not None else secret}@"
        return f"{scheme or self.scheme}://{auth}127.0.0.1:{self.port}"

    def mark(self) -> int:
        """Return the log's current length: ``log_since(mark)`` then shows only what came after."""
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, mark: int) -> str:
        """Return what the proxy logged after ``mark``."""
        with self.log.open("rb") as handle:
            handle.seek(mark)
            return handle.read().decode("utf-8", "replace")

    def tunnels(self, mark: int, port: int) -> int:
        """Count the tunnels to the loopback ``port`` the proxy opened after ``mark``, according to its own log."""
        text = self.log_since(mark)
        if self.scheme == "http":
            return len(re.findall(rf"opensock: opening connection to [\w.:]+:{port}\b", text))
        # Dante logs each session it opens: "tcp/connect [: <client> <proxy> -> 127.0.0.2.<n> <server>.<port>".
        pattern = rf"tcp/connect \[: .* -> {re.escape(OUTGOING_ADDRESS)}\.\d+ [\d.]+\.{port}$"
        return len(re.findall(pattern, text, re.MULTILINE))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def missing(program: str) -> str | None:
    """Return why a proxy cannot run here (its Debian package is not installed), or None."""
    package = {"tinyproxy": "tinyproxy", "danted": "dante-server"}[program]
    if shutil.which(program) or Path(f"/usr/sbin/{program}").exists():
        return None
    return f"{program} is not installed (apt-get install {package}; .ci/apt-packages lists it)"


def start_tinyproxy(
    folder: Path, name: str, *, credentials: tuple[str, str] | None, allowed_ports: list[int]
) -> ProxyServer:
    """Start tinyproxy in the foreground; CONNECT only to ``allowed_ports``, with Basic auth when given."""
    port, log = free_port(), folder / f"{name}.log"
    lines = [
        f"Port {port}", "Listen 127.0.0.1", f"Bind {OUTGOING_ADDRESS}", "Timeout 60", f'LogFile "{log}"',
        "LogLevel Info", "MaxClients 50", "Allow 127.0.0.1",
        *(f"ConnectPort {p}" for p in allowed_ports),
    ]
    if credentials is not None:
        lines.append(f"BasicAuth {credentials[0]} {credentials[1]}")
    config = folder / f"{name}.conf"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    process = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    return _ready(ProxyServer(name, "http", port, log, process, credentials))


def start_dante(folder: Path, name: str, *, method: str) -> ProxyServer:
    """Start Dante in the foreground with SOCKS method ``none`` or ``username`` (checked against system users)."""
    port, log = free_port(), folder / f"{name}.log"
    privileges = "user.privileged: root\nuser.unprivileged: nobody\n" if _is_root() else ""
    config = folder / f"{name}.conf"
    config.write_text(
        f"logoutput: {log}\n"
        f"internal: 127.0.0.1 port = {port}\n"
        f"external: {OUTGOING_ADDRESS}\n"
        f"clientmethod: none\nsocksmethod: {method}\n{privileges}"
        "client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: error\n}\n"
        "socks pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: connect disconnect error\n}\n",
        encoding="utf-8",
    )
    danted = shutil.which("danted") or "/usr/sbin/danted"
    process = subprocess.Popen([danted, "-f", str(config), "-N", "1", "-p", str(folder / f"{name}.pid")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    credentials = (PROXY_USER, PROXY_PASSWORD) if method == "username" else None
    return _ready(ProxyServer(name, "socks5", port, log, process, credentials))


def _is_root() -> bool:
    return os.geteuid() == 0


def _ready(server: ProxyServer) -> ProxyServer:
    """Wait until the proxy accepts connections; raise with its log if it exits or never does."""
    deadline = time.monotonic() + _STARTUP_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    text = server.log.read_text(encoding="utf-8", errors="replace") if server.log.exists() else "(no log)"
    raise RuntimeError(f"{server.name} did not start on port {server.port}:\n{text[-2000:]}")

"""Debian's Prosody on loopback, as an independent XMPP server for tests (reusable by other areas).

:func:`running_prosody` writes a configuration into a fresh directory, registers the given users with
``prosodyctl``, starts ``prosody -F`` in the foreground (as the ``prosody`` user when we are root: it
refuses to run as root), waits until its listeners are up by reading its log (bounded, no polling sleeps)
and stops it on exit. It listens on 127.0.0.1 for direct TLS (RFC 6120, like Finesse's 5223) and for
HTTPS with ``mod_websocket`` (RFC 7395 at ``/xmpp-websocket``), with certificates from the test CA.
A ``pubsub.<domain>`` component lets admins create nodes and publish::

    with running_prosody(ca=ca, users={"alice": "pw"}, admins=("alice",)) as server:
        server.websocket_url  # wss://127.0.0.1:<port>/xmpp-websocket
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from tests.support.need import need_binary
from tests.support.timing import seconds

DOMAIN = "localhost"  # the trustme certificate of the test session names it
PROSODY_USER = "prosody"


@dataclass
class ProsodyServer:
    """A running Prosody: where to reach it and what it logged."""

    domain: str
    host: str
    c2s_tls_port: int
    https_port: int
    config_path: Path
    log_lines: deque[str] = field(default_factory=lambda: deque(maxlen=400))

    @property
    def pubsub_domain(self) -> str:
        return f"pubsub.{self.domain}"

    @property
    def websocket_url(self) -> str:
        return f"wss://{self.host}:{self.https_port}/xmpp-websocket"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(list(self.log_lines)[-lines:])


def _free_port() -> int:
    # Prosody cannot report a port it chose itself; a port just released is free in practice on loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lua_list(values: list[str]) -> str:
    return "{ " + ", ".join(_lua_string(value) for value in values) + " }"


def _config(
    *,
    directory: Path,
    domain: str,
    c2s_tls_port: int,
    https_port: int,
    authentication: str,
    disabled_mechanisms: tuple[str, ...],
    admins: list[str],
) -> str:
    certificate = _lua_string(str(directory / "cert.pem"))
    key = _lua_string(str(directory / "key.pem"))
    return f"""
-- Written by tests/xmpp/prosody.py for one test run.
pidfile = {_lua_string(str(directory / "prosody.pid"))}
data_path = {_lua_string(str(directory / "data"))}
certificates = {_lua_string(str(directory / "certs"))}
log = {{ {{ levels = {{ min = "info" }}, to = "console" }} }}
admins = {_lua_list(admins)}
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping", "presence", "http", "websocket" }}
modules_disabled = {{ "s2s", "offline", "c2s_timeout" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ }}
c2s_direct_tls_ports = {{ {c2s_tls_port} }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ {https_port} }}
https_interfaces = {{ "127.0.0.1" }}
https_ssl = {{ certificate = {certificate}, key = {key} }}
http_default_host = {_lua_string(domain)}
consider_websocket_secure = true
ssl = {{ certificate = {certificate}, key = {key} }}
c2s_direct_tls_ssl = {{ certificate = {certificate}, key = {key} }}
authentication = {_lua_string(authentication)}
disable_sasl_mechanisms = {_lua_list(list(disabled_mechanisms))}
storage = "internal"
-- With Nagle on, each event waits ~40 ms for the delayed ACK.
network_settings = {{ nagle = false }}
statistics = nil

VirtualHost {_lua_string(domain)}
    ssl = {{ certificate = {certificate}, key = {key} }}

Component {_lua_string("pubsub." + domain)} "pubsub"
    admins = {_lua_list(admins)}
    pubsub_max_items = 50
"""


def _as_prosody() -> list[str]:
    """Command prefix: Prosody refuses to run as root, so drop to its own user when we are root.

    ``setpriv`` rather than ``runuser``: it keeps our resource limits (runuser's PAM session resets the
    open-file limit to 1,024, which breaks Prosody above ~1,000 sessions).
    """
    if os.geteuid() != 0:
        return []
    user = f"--reuid={PROSODY_USER}"
    return [need_binary("setpriv"), user, f"--regid={PROSODY_USER}", "--init-groups", "--"]


def _hand_over(directory: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(PROSODY_USER)
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def register_user(server: ProsodyServer, username: str, password: str) -> None:
    """Create an account (works while Prosody runs: internal storage reads accounts on each login)."""
    subprocess.run(
        [
            *_as_prosody(),
            need_binary("prosodyctl"),
            "--config",
            str(server.config_path),
            "register",
            username,
            server.domain,
            password,
        ],
        check=True,
        capture_output=True,
        timeout=seconds(20),
    )


@dataclass
class _Startup:
    """What the log says about a start: ``ready`` is set once both listeners are up, or it failed."""

    ready: threading.Event = field(default_factory=threading.Event)
    port_taken: bool = False


def _drain(process: subprocess.Popen[str], server: ProsodyServer, startup: _Startup) -> None:
    """Read Prosody's console log until it exits, noting when its listeners are up."""
    wanted = {f":{server.c2s_tls_port}", f":{server.https_port}"}
    assert process.stdout is not None
    for line in process.stdout:
        server.log_lines.append(line.rstrip())
        if "Failed to open server port" in line:
            startup.port_taken = True  # another process took it since _free_port() released it
            startup.ready.set()
        if "Activated service" in line:
            wanted = {port for port in wanted if port not in line}
            if not wanted:
                startup.ready.set()
    startup.ready.set()  # exited: let the waiter look at the process


@dataclass(frozen=True)
class _Settings:
    authentication: str
    disabled_mechanisms: tuple[str, ...]
    admins: list[str]


def _write_config(server: ProsodyServer, settings: _Settings) -> None:
    """Pick fresh ports and write the configuration for them."""
    server.c2s_tls_port, server.https_port = _free_port(), _free_port()
    server.config_path.write_text(
        _config(
            directory=server.config_path.parent,
            domain=server.domain,
            c2s_tls_port=server.c2s_tls_port,
            https_port=server.https_port,
            authentication=settings.authentication,
            disabled_mechanisms=settings.disabled_mechanisms,
            admins=settings.admins,
        )
    )
    _hand_over(server.config_path.parent)


def _launch(binary: str, server: ProsodyServer) -> tuple[subprocess.Popen[str], threading.Thread, _Startup]:
    process = subprocess.Popen(
        [*_as_prosody(), binary, "-F", "--config", str(server.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    startup = _Startup()
    drainer = threading.Thread(target=_drain, args=(process, server, startup), daemon=True)
    drainer.start()
    startup.ready.wait(seconds(20))
    return process, drainer, startup


@contextlib.contextmanager
def running_prosody(
    *,
    ca: trustme.CA,
    users: Mapping[str, str],
    admins: tuple[str, ...] = (),
    authentication: str = "internal_plain",
    disabled_mechanisms: tuple[str, ...] = ("DIGEST-MD5",),
    domain: str = DOMAIN,
) -> Iterator[ProsodyServer]:
    """A Prosody with ``users`` (name → password) registered, stopped on exit.

    ``authentication = "internal_hashed"`` with ``disabled_mechanisms=("PLAIN", ...)`` gives a server that
    offers only SCRAM.
    """
    binary = need_binary("prosody")
    need_binary("prosodyctl")
    # Not under pytest's tmp_path: its parent is private to root and Prosody runs as its own user.
    directory = Path(tempfile.mkdtemp(prefix="fingress-prosody-"))
    directory.chmod(0o755)
    try:
        (directory / "data").mkdir()
        (directory / "certs").mkdir()
        leaf = ca.issue_cert(domain, f"pubsub.{domain}", "127.0.0.1")
        leaf.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
        server = ProsodyServer(
            domain=domain,
            host="127.0.0.1",
            c2s_tls_port=0,
            https_port=0,
            config_path=directory / "prosody.cfg.lua",
        )
        settings = _Settings(authentication, disabled_mechanisms, [f"{admin}@{domain}" for admin in admins])
        _write_config(server, settings)
        for username, password in users.items():
            register_user(server, username, password)
        for _attempt in range(3):
            process, drainer, startup = _launch(binary, server)
            if not startup.port_taken:
                break
            _stop(process)
            drainer.join(seconds(5))
            _write_config(server, settings)  # fresh ports; the accounts stay in the data directory
        try:
            if not startup.ready.is_set() or startup.port_taken or process.poll() is not None:
                raise RuntimeError(f"Prosody did not start:\n{server.log_tail()}")
            yield server
        finally:
            _stop(process)
            drainer.join(seconds(5))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        # SIGTERM makes Prosody close every stream and exit.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(seconds(10))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(seconds(10))

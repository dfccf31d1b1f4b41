"""The connector's configuration: typed, immutable, validated when it is loaded.

A TOML file (``config/connector.toml``) is read once by :func:`load_config`, the one home of the file's
schema (``fingress connector`` and ``fingress check`` only call it); any problem becomes one
:class:`~edge.tunnel.errors.ConfigError` naming the file and every bad key path. Unknown keys are errors.
Relative paths (``tunnel.ca_file``, ``tunnel.cert_file``, ``tunnel.key_file``, ``finesse.*.ca_file``)
resolve against the file's folder. The connector holds no Finesse secret in its configuration: agent
passwords arrive at sign-in (``password`` mode) and tokens with each request (``bearer`` mode). The
``tunnel`` table is the tunnel client's :class:`~connector.tunnel.config.TunnelClientConfig`: a file must
have it (a connector process without a tunnel serves nobody); a document validated in code
(:func:`parse_config`: tests, benchmarks) may leave it out.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connector.tunnel.config import TunnelClientConfig
from edge.tunnel.errors import ConfigError

SideName = Literal["A", "B"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FinesseSide(_Frozen):
    """Where one Finesse node is: its REST base URL and its XMPP notification service."""

    rest_url: str = Field(description="https://finesse-a.example:8445 (the /finesse/api prefix is added)")
    xmpp_transport: Literal["ws", "tls"] = "ws"
    # ws: wss://host:8445/ws/ ; tls: host:5223
    xmpp_address: str
    xmpp_domain: str
    ca_file: Path | None = None
    # Name to verify the certificates against when it differs from the host in the URLs.
    server_hostname: str | None = None

    @model_validator(mode="after")
    def _check_addresses(self) -> FinesseSide:
        rest = urlsplit(self.rest_url)
        if rest.scheme not in ("https", "http") or not rest.hostname:
            raise ValueError("rest_url: expected https://host[:port]")
        if self.xmpp_transport == "ws":
            xmpp = urlsplit(self.xmpp_address)
            if xmpp.scheme not in ("wss", "ws") or not xmpp.hostname:
                raise ValueError("xmpp_address: expected wss://host:port/ws/ for the ws transport")
        else:
            host, _, port = self.xmpp_address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("xmpp_address: expected host:port for the tls transport")
        return self


class FinesseConfig(_Frozen):
    """Both Finesse sides and how the connector talks to them."""

    side_a: FinesseSide
    side_b: FinesseSide | None = None
    # password: the agent's Finesse password from the sign-in body; bearer: the caller's forwarded token.
    auth_mode: Literal["password", "bearer"] = "password"
    action_timeout_s: float = Field(default=5.0, gt=0, le=60)
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)

    def side(self, name: SideName) -> FinesseSide | None:
        return self.side_a if name == "A" else self.side_b


class GracePolicy(_Frozen):
    """What happens when the agent's app has been gone longer than the grace."""

    action: Literal["not_ready", "logout", "keep"] = "not_ready"
    # The Finesse database id of the reason code to use (required for logout on most deployments).
    reason_code_id: str | None = None
    # For ``logout`` from a state other than NOT_READY (CCE signs out only from NOT_READY): the NOT_READY
    # reason code id of the step before.
    not_ready_reason_code_id: str | None = None

    @model_validator(mode="after")
    def _logout_needs_reason(self) -> GracePolicy:
        if self.action == "logout" and not self.reason_code_id:
            raise ValueError("reason_code_id: required when action is logout")
        return self


class SessionsConfig(_Frozen):
    disconnect_grace_s: float = Field(default=30.0, ge=0)
    grace_policy: GracePolicy = GracePolicy()
    event_buffer_size: int = Field(default=256, ge=1, le=100_000)
    max_sessions: int = Field(default=5_000, ge=1)


class XmppConfig(_Frozen):
    """Reconnect timing for each agent's notification session; all well inside Finesse's 60 s."""

    reconnect_base_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=10.0, gt=0)
    # Fraction of each delay added or removed at random so 2,000 agents do not reconnect in lock step.
    reconnect_jitter: float = Field(default=0.2, ge=0, le=1)
    alert_after_failures: int = Field(default=3, ge=1)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    ping_interval_s: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> XmppConfig:
        if self.reconnect_max_s < self.reconnect_base_s:
            raise ValueError("reconnect_max_s: must not be below reconnect_base_s")
        return self


class FailoverConfig(_Frozen):
    enabled: bool = True
    # Failed reconnects on the same side before the session moves to the other side.
    move_after_failures: int = Field(default=2, ge=1)
    # A forced logout this soon after a move, for an agent who did not sign out, is the old side's stale one.
    stale_logout_window_s: float = Field(default=300.0, ge=0)
    forced_logout_reason_codes: tuple[int, ...] = (255,)


class AdminConfig(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=9091, ge=0, lt=65536)


class ConnectorConfig(_Frozen):
    finesse: FinesseConfig
    sessions: SessionsConfig = SessionsConfig()
    xmpp: XmppConfig = XmppConfig()
    failover: FailoverConfig = FailoverConfig()
    admin: AdminConfig = AdminConfig()
    # The tunnel client's own table (connector/tunnel); None: no tunnel (tests, benchmarks).
    tunnel: TunnelClientConfig | None = None


def parse_config(data: dict[str, Any], *, source: str = "connector config") -> ConnectorConfig:
    """Validate a decoded document; every problem is reported with its key path."""
    try:
        return ConnectorConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError.from_locations(
            source, ((entry["loc"], entry["msg"]) for entry in error.errors())
        ) from error


_TUNNEL_REQUIRED = "required table: urls, connector_id, ca_file, cert_file, key_file"


def load_config(path: Path) -> ConnectorConfig:
    """Read and validate the connector file at ``path``: ``tunnel`` is required (never None in the
    result) and relative paths resolve against the file's folder. Raises ``ConfigError`` naming the file
    and every bad key path (an unreadable, non-UTF-8 or non-TOML file is one problem saying so)."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(source, [("", f"cannot read: not UTF-8 text (byte {error.start})")]) from error
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise ConfigError(source, [("", f"cannot read: {reason}")]) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [("", f"not valid TOML: {error}")]) from error
    problems: list[tuple[str, str]] = []
    config: ConnectorConfig | None = None
    try:
        config = parse_config(data, source=source)
    except ConfigError as error:
        problems += error.problems
    if "tunnel" not in data:
        problems.append(("tunnel", _TUNNEL_REQUIRED))
    if problems or config is None:
        raise ConfigError(source, problems)
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: ConnectorConfig, folder: Path) -> ConnectorConfig:
    def resolved(value: Path) -> Path:
        return value if value.is_absolute() else folder / value

    def side(value: FinesseSide) -> FinesseSide:
        if value.ca_file is None:
            return value
        return value.model_copy(update={"ca_file": resolved(value.ca_file)})

    finesse = config.finesse
    update: dict[str, object] = {
        "finesse": finesse.model_copy(
            update={
                "side_a": side(finesse.side_a),
                "side_b": side(finesse.side_b) if finesse.side_b is not None else None,
            }
        )
    }
    tunnel = config.tunnel
    if tunnel is not None:
        update["tunnel"] = tunnel.model_copy(
            update={name: resolved(getattr(tunnel, name)) for name in ("ca_file", "cert_file", "key_file")}
        )
    return config.model_copy(update=update)

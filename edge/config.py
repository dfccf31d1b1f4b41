"""The edge's static configuration: listeners, the policy file and server limits, from a TOML file.

Unlike the policy (:mod:`edge.policy`), this needs a restart to change. Relative paths are resolved
against the configuration file's folder. Errors name key paths, e.g.
``edge.toml: admin.port: Input should be less than or equal to 65535``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.tunnel.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listener(_Section):
    host: str = "0.0.0.0"  # noqa: S104 -- the public listener faces the DMZ on purpose
    port: int = Field(default=8443, ge=0, le=65535)


class AdminListener(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    # The admin surface reloads policy and exposes metrics: off loopback only when asked for explicitly.
    allow_non_loopback: bool = False

    @model_validator(mode="after")
    def _loopback(self) -> AdminListener:
        if not self.allow_non_loopback and not _is_loopback(self.host):
            raise ValueError("admin.host must be a loopback address unless allow_non_loopback = true")
        return self


class TunnelListener(_Section):
    """Where connectors dial in (served by edge/relay)."""

    host: str = "0.0.0.0"  # noqa: S104
    port: int = Field(default=8444, ge=0, le=65535)


class ServerLimits(_Section):
    # uvicorn refuses WebSocket messages above this before the app sees them.
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    graceful_shutdown_s: float = Field(default=10.0, ge=0, le=300)
    # Ceiling of the ticket store's memory; the policy's events.max_tickets may only lower it.
    max_tickets: int = Field(default=10_000, ge=1, le=1_000_000)


class EdgeConfig(_Section):
    policy_file: Path
    policy_poll_s: float = Field(default=2.0, gt=0, le=3600)
    public: Listener = Listener()
    admin: AdminListener = AdminListener()
    tunnel: TunnelListener = TunnelListener()
    server: ServerLimits = ServerLimits()


def load_config(path: Path) -> EdgeConfig:
    """Read and validate the edge configuration. Raises ``ConfigError``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path.name, [("", f"cannot read: {error.__class__.__name__}")]) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path.name, [("", f"not valid TOML: {error}")]) from error
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError.from_locations(
            path.name,
            ((problem["loc"], problem["msg"].removeprefix("Value error, ")) for problem in error.errors()),
        ) from None
    if not config.policy_file.is_absolute():
        config = config.model_copy(update={"policy_file": path.parent / config.policy_file})
    return config

"""The configuration files the demo writes into its data directory and then runs from, through the same
loaders as ``fingress edge`` and ``fingress connector`` (so what the demo runs is what they would run)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fingress.demo.ports import HOST, DemoPorts
from fingress.emulator.config import EmulatorConfig
from fingress.pki import DevPki, write_atomically

CONNECTOR_ID = "connector-1"
# Tunnel connections each connector keeps open to the edge (what the edge's connection gauge counts).
CONNECTIONS_PER_EDGE = 2
AUDIENCE = "fingress"
AGENT_CLAIM = "agent_id"
SCOPE = "finesse.agent"
# The emulator's sample NOT_READY reason "Break": what the connector applies when the presence grace ends.
GRACE_REASON_CODE_ID = "1"


def _s(value: str | Path) -> str:
    # JSON string syntax is valid TOML basic-string syntax for these values.
    return json.dumps(str(value))


def connector_ids(count: int) -> tuple[str, ...]:
    """The ids of ``count`` connectors: ``connector-1`` … ``connector-<count>``."""
    return tuple(f"connector-{index}" for index in range(1, count + 1))


@dataclass(frozen=True)
class DemoFiles:
    """The files written for a run. ``connectors`` holds one configuration per connector, in the order of
    the PKI's connectors."""

    edge: Path
    policy: Path
    connectors: tuple[Path, ...]

    @property
    def connector(self) -> Path:
        """The first connector's configuration (the only one unless several connectors run)."""
        return self.connectors[0]


def issuer_url(ports: DemoPorts) -> str:
    return f"https://{HOST}:{ports.idp}"


@dataclass(frozen=True)
class RateLimitPolicy:
    """The ``[rate_limits]`` section of the demo's policy (limits in the ``limits`` notation, "10/second").

    Benchmarks and tests run every simulated agent from 127.0.0.1, which the default per-address limit
    would throttle. The strategy is the edge's default, so benchmarks measure what is deployed."""

    per_ip: str
    per_agent: str
    sign_in: str
    strategy: str = "sliding-window-counter"

    def toml(self) -> str:
        return (
            "\n[rate_limits]\n"
            f"strategy = {_s(self.strategy)}\n"
            f"per_ip = {_s(self.per_ip)}\n"
            f"per_agent = {_s(self.per_agent)}\n"
            f"sign_in = {_s(self.sign_in)}\n"
        )


def write_demo_files(
    data_dir: Path,
    *,
    ports: DemoPorts,
    pki: DevPki,
    emulator: EmulatorConfig,
    disconnect_grace_s: float,
    rate_limits: RateLimitPolicy | None = None,
) -> DemoFiles:
    """Write ``edge.toml``, ``policy.toml`` and the connectors' files for this run (replacing older ones):
    ``connector.toml`` for a single connector, ``<connector id>.toml`` for each when ``pki`` holds several
    (each with its own identity, certificate and admin port, ``ports.connector_admins`` in the same order;
    the edge allows them all). ``rate_limits`` replaces the policy's default limits. Raises ``ValueError``
    when the PKI's connectors and the admin ports do not pair up."""
    if len(pki.connectors) != len(ports.connector_admins):
        raise ValueError(
            f"{len(pki.connectors)} connector certificates but {len(ports.connector_admins)} admin ports"
        )
    if len(pki.connectors) == 1:
        connector_files: tuple[Path, ...] = (data_dir / "connector.toml",)
    else:
        connector_files = tuple(data_dir / f"{one.connector_id}.toml" for one in pki.connectors)
    files = DemoFiles(
        edge=data_dir / "edge.toml", policy=data_dir / "policy.toml", connectors=connector_files
    )
    issuer = issuer_url(ports)
    policy = f"""# Written by `fingress demo` for this run; see config/policy.toml for every key.
[oauth]
issuer = {_s(issuer)}
audience = {_s(AUDIENCE)}
discovery_url = {_s(issuer + "/.well-known/openid-configuration")}
agent_id_claim = {_s(AGENT_CLAIM)}
required_scope = {_s(SCOPE)}
ca_file = {_s(pki.ca_file)}
jwks_min_refetch_interval_s = 1.0

[tls]
cert_file = {_s(pki.server_cert_file)}
key_file = {_s(pki.server_key_file)}
"""
    if rate_limits is not None:
        policy += rate_limits.toml()
    edge = f"""# Written by `fingress demo` for this run; see config/edge.toml for every key.
policy_file = {_s(files.policy.name)}

[public]
host = {_s(HOST)}
port = {ports.public}

[admin]
host = {_s(HOST)}
port = {ports.admin}

[tunnel]
host = {_s(HOST)}
port = {ports.tunnel}
cert_file = {_s(pki.server_cert_file)}
key_file = {_s(pki.server_key_file)}
client_ca_file = {_s(pki.ca_file)}
allowed_identities = [{", ".join(_s(one.connector_id) for one in pki.connectors)}]

[server]
graceful_shutdown_s = 2.0
"""
    sides = ""
    for name, https_port in (("a", ports.emulator_a), ("b", ports.emulator_b)):
        domain = emulator.sides.A.xmpp_domain if name == "a" else emulator.sides.B.xmpp_domain
        sides += f"""
[finesse.side_{name}]
rest_url = {_s(f"https://{HOST}:{https_port}")}
xmpp_transport = "ws"
xmpp_address = {_s(f"wss://{HOST}:{https_port}/ws/")}
xmpp_domain = {_s(domain)}
ca_file = {_s(pki.ca_file)}
"""
    texts = [(files.policy, policy), (files.edge, edge)]
    for path, credentials, admin_port in zip(
        files.connectors, pki.connectors, ports.connector_admins, strict=True
    ):
        connector = f"""# Written by `fingress demo` for this run; see config/connector.toml for every key.
[finesse]
auth_mode = "password"
{sides}
[sessions]
disconnect_grace_s = {float(disconnect_grace_s)}

[sessions.grace_policy]
action = "not_ready"
reason_code_id = {_s(GRACE_REASON_CODE_ID)}

[admin]
host = {_s(HOST)}
port = {admin_port}

[tunnel]
urls = [{_s(f"wss://{HOST}:{ports.tunnel}/tunnel")}]
connector_id = {_s(credentials.connector_id)}
connections_per_edge = {CONNECTIONS_PER_EDGE}
ca_file = {_s(pki.ca_file)}
cert_file = {_s(credentials.cert_file)}
key_file = {_s(credentials.key_file)}
backoff_max_s = 2.0
drain_timeout_s = 2.0
"""
        texts.append((path, connector))
    for path, text in texts:
        write_atomically(path, text.encode(), mode=0o644)
    return files

"""The files the demo (and the benchmark's spawned stack) writes: one connector by default, exactly as
before; several connectors each with their own identity, certificate and admin port, all allowed by the
edge. Read back through the same loaders ``fingress edge`` and ``fingress connector`` use."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from connector.config import load_config as load_connector_config
from connector.tunnel.config import TunnelClientConfig
from edge.config import load_config as load_edge_config
from fingress.demo.files import CONNECTOR_ID, connector_ids, write_demo_files
from fingress.demo.ports import HOST, DemoPorts, PortInUse
from fingress.demo.system import _sample_emulator_config
from fingress.pki import PkiError, connector_id_of, ensure_dev_pki


def test_one_connector_by_default(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki", connector_id=CONNECTOR_ID)
    files = write_demo_files(
        tmp_path,
        ports=DemoPorts.from_base(20000),
        pki=pki,
        emulator=_sample_emulator_config(120.0),
        disconnect_grace_s=30.0,
    )
    assert files.connectors == (tmp_path / "connector.toml",)
    assert files.connector == files.connectors[0]
    assert sorted(path.name for path in tmp_path.glob("*.toml")) == [
        "connector.toml",
        "edge.toml",
        "policy.toml",
    ]
    assert load_connector_config(files.connector).admin.port == 20008
    tunnel = tunnel_of(files.connector)
    assert tunnel.connector_id == CONNECTOR_ID
    assert connector_id_of(tunnel.cert_file) == CONNECTOR_ID
    edge = load_edge_config(files.edge)
    assert edge.tunnel is not None
    assert edge.tunnel.allowed_identities == (CONNECTOR_ID,)


def test_each_of_several_connectors_has_its_own_identity_certificate_and_admin_port(tmp_path: Path) -> None:
    ids = connector_ids(3)
    assert ids == ("connector-1", "connector-2", "connector-3")
    ports = DemoPorts.from_base(20000, connectors=3)
    pki = ensure_dev_pki(tmp_path / "pki", connector_ids=ids)
    files = write_demo_files(
        tmp_path, ports=ports, pki=pki, emulator=_sample_emulator_config(120.0), disconnect_grace_s=30.0
    )
    assert [path.name for path in files.connectors] == [f"{one}.toml" for one in ids]
    tunnels = [tunnel_of(path) for path in files.connectors]
    assert [tunnel.connector_id for tunnel in tunnels] == list(ids)
    assert [connector_id_of(tunnel.cert_file) for tunnel in tunnels] == list(ids)
    assert len({tunnel.key_file for tunnel in tunnels}) == 3
    admin_ports = [load_connector_config(path).admin.port for path in files.connectors]
    assert admin_ports == [20008, 20009, 20010]
    edge = load_edge_config(files.edge)
    assert edge.tunnel is not None
    assert edge.tunnel.allowed_identities == ids


def test_certificates_and_admin_ports_must_pair_up(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki", connector_ids=connector_ids(2))
    with pytest.raises(ValueError, match="2 connector certificates but 1 admin ports"):
        write_demo_files(
            tmp_path,
            ports=DemoPorts.from_base(20000),
            pki=pki,
            emulator=_sample_emulator_config(120.0),
            disconnect_grace_s=30.0,
        )


@pytest.mark.parametrize(
    ("connector_id", "ids"),
    [("c1", ["c2"]), (None, []), (None, ["c1", "c1"]), (None, ["c1", "bad id"])],
)
def test_connector_ids_are_checked_before_anything_is_issued(
    tmp_path: Path, connector_id: str | None, ids: list[str]
) -> None:
    with pytest.raises(PkiError) as raised:
        ensure_dev_pki(tmp_path / "pki", connector_id=connector_id, connector_ids=ids)
    assert raised.value.code == "pki_invalid_input"
    assert not (tmp_path / "pki").exists()


def test_extra_connector_admin_ports_follow_the_others() -> None:
    one, three = DemoPorts.from_base(20000), DemoPorts.from_base(20000, connectors=3)
    assert one.connector_admins == (20008,)
    assert one.named()[-1] == ("connector_admin", 20008)
    assert three.named()[:-2] == one.named()
    assert three.named()[-2:] == [("connector_admin_2", 20009), ("connector_admin_3", 20010)]
    with pytest.raises(ValueError, match="between 1 and 65525"):
        DemoPorts.from_base(65526, connectors=3)
    with pytest.raises(ValueError, match="at least 1"):
        DemoPorts.from_base(20000, connectors=0)


def test_a_taken_extra_admin_port_is_reported_by_name() -> None:
    rng = random.Random()
    for _ in range(20):
        base = rng.randrange(20000, 32000)  # below Linux's ephemeral range
        with socket.socket() as taken:
            try:
                DemoPorts.from_base(base).check_free()
                taken.bind((HOST, base + 9))
            except (PortInUse, OSError):
                continue  # something else has one of these: another run of ports
            taken.listen()
            with pytest.raises(PortInUse) as raised:
                DemoPorts.from_base(base, connectors=2).check_free()
        assert raised.value.name == "connector_admin_2"
        return
    raise AssertionError("no free run of ports found")


def tunnel_of(path: Path) -> TunnelClientConfig:
    tunnel = load_connector_config(path).tunnel
    assert tunnel is not None
    return tunnel

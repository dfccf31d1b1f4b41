"""Every deployment manifest and example configuration parses, and keeps the security properties the
firewall page promises (the connector accepts no inbound traffic, everything runs unprivileged)."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
YAML_FILES = sorted((ROOT / "deploy").rglob("*.yaml"))
TOML_FILES = sorted([*(ROOT / "deploy").rglob("*.toml"), *(ROOT / "config").rglob("*.toml")])


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubernetes_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")) for doc in load_all(path)]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_parses(path: Path) -> None:
    assert load_all(path)


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_toml_parses(path: Path) -> None:
    tomllib.loads(path.read_text())


def test_embedded_config_maps_parse_as_toml() -> None:
    config_maps = [obj for obj in kubernetes_objects() if obj["kind"] == "ConfigMap"]
    assert config_maps
    for config_map in config_maps:
        for name, text in config_map["data"].items():
            assert name.endswith(".toml")
            tomllib.loads(text)


def test_every_pod_runs_unprivileged_with_probes() -> None:
    deployments = [obj for obj in kubernetes_objects() if obj["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"fingress-edge", "fingress-connector"}
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_connector_is_egress_only() -> None:
    objects = kubernetes_objects()
    connector_namespace = "fingress-lan"
    assert not [
        o for o in objects if o["kind"] == "Service" and o["metadata"]["namespace"] == connector_namespace
    ]
    policy = next(o for o in objects if o["metadata"]["name"] == "fingress-connector-egress-only")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # The only ingress allowed is metrics scraping from the monitoring namespace, on the admin port.
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"port": 9091, "protocol": "TCP"}]
        assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
    egress_ports = {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}
    assert egress_ports == {53, 8444, 8445, 5223}


def test_edge_tunnel_port_is_reachable_only_from_the_lan() -> None:
    policy = next(
        o
        for o in kubernetes_objects()
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "fingress-edge"
    )
    tunnel_rules = [r for r in policy["spec"]["ingress"] if {"port": 8444, "protocol": "TCP"} in r["ports"]]
    assert len(tunnel_rules) == 1
    assert tunnel_rules[0]["from"] == [{"namespaceSelector": {"matchLabels": {"zone": "lan"}}}]


def test_compose_separates_dmz_and_lan() -> None:
    compose = load_all(ROOT / "deploy" / "compose.yaml")[0]
    services = compose["services"]
    assert set(services["edge"]["networks"]) == {"dmz", "traversal"}
    assert set(services["connector"]["networks"]) == {"lan", "traversal"}
    assert services["emulator"]["networks"] == ["lan"]
    assert "ports" not in services["connector"]
    assert compose["networks"]["lan"]["internal"] is True
    for service in services.values():
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]


@pytest.mark.parametrize("unit", ["fingress-edge.service", "fingress-connector.service"])
def test_systemd_units_are_hardened(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "deploy" / "systemd" / unit)
    service = parser["Service"]
    assert service["DynamicUser"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert service["NoNewPrivileges"] == "yes"
    assert "CapabilityBoundingSet" in service
    assert service["ExecStart"].startswith("/opt/fingress/bin/fingress ")

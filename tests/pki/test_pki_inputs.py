"""PKI inputs: hostile names only ever yield PkiError; failed writes leave nothing half-written."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingress import pki
from tests.pki.cli import run_certs


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> pki.CertificateAuthority:
    directory = tmp_path_factory.mktemp("ca")
    pki.init_ca(directory)
    return pki.CertificateAuthority.load(directory)


@settings(max_examples=100, deadline=None)
@given(
    dns_names=st.lists(st.text(max_size=30), max_size=3),
    ip_addresses=st.lists(st.one_of(st.text(max_size=20), st.ip_addresses().map(str)), max_size=3),
)
def test_server_names_are_validated(
    ca: pki.CertificateAuthority,
    tmp_path_factory: pytest.TempPathFactory,
    dns_names: list[str],
    ip_addresses: list[str],
) -> None:
    directory = tmp_path_factory.getbasetemp() / "leaves"
    try:
        pki.issue_server(
            ca, directory / "s.pem", directory / "s.key", dns_names=dns_names, ip_addresses=ip_addresses
        )
        outcome = "issued"
    except pki.PkiError as error:
        outcome = error.code
    assert outcome in {"issued", "pki_invalid_input"}


@settings(max_examples=100, deadline=None)
@given(connector_id=st.text(max_size=80))
def test_connector_ids_are_validated(
    ca: pki.CertificateAuthority, tmp_path_factory: pytest.TempPathFactory, connector_id: str
) -> None:
    directory = tmp_path_factory.getbasetemp() / "leaves"
    try:
        issued = pki.issue_connector(ca, directory / "c.pem", directory / "c.key", connector_id=connector_id)
        outcome = "issued"
    except pki.PkiError as error:
        outcome = error.code
    assert outcome in {"issued", "pki_invalid_input"}
    if outcome == "issued":
        assert pki.connector_id_of(issued.cert_file) == connector_id


def test_a_failed_write_leaves_no_temporary_file_and_the_old_content(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(IsADirectoryError):
        pki.write_atomically(tmp_path / "taken", b"data", mode=0o600)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]


def test_cli_reports_an_unwritable_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_certs("init", "--dir", str(tmp_path)) == 0
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    (tmp_path / "edge.pem").mkdir()
    assert run_certs("issue", "server", "--dir", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "pki_unwritable" in err
    assert "Traceback" not in err

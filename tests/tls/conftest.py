from __future__ import annotations

from pathlib import Path

import pytest

from fingress import pki


@pytest.fixture
def dev_pki(tmp_path: Path) -> pki.DevPki:
    """A fresh CA, edge server certificate (localhost, 127.0.0.1, ::1) and connector certificate."""
    return pki.ensure_dev_pki(tmp_path / "pki", connector_id="c1")


@pytest.fixture
def other_pki(tmp_path: Path) -> pki.DevPki:
    """A second, unrelated PKI: its certificates must be refused where ``dev_pki``'s are expected."""
    return pki.ensure_dev_pki(tmp_path / "other-pki", connector_id="c1")

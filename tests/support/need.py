"""Finding the real servers tests run against. Missing ones skip locally and fail in CI (CI=true)."""

from __future__ import annotations

import os
import platform
import shutil

import pytest

_SYSTEM_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin", "/sbin")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def need_binary(name: str) -> str:
    """Path of a server binary; without it a test skips locally and fails in CI."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SYSTEM_DIRS))
    if path is None:
        message = (
            f"{name} is not installed (make test installs it when run as root: tests/install-servers.sh)"
        )
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def need_glibc() -> None:
    """For tests of glibc-only behaviour (mallopt): skip locally elsewhere, fail in CI, which runs on the
    glibc systems fingress is deployed on."""
    if platform.libc_ver()[0] != "glibc":
        message = "this C library is not glibc"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

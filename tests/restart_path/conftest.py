"""Fixtures for the restart path: the identity provider the edge tests use (JWKS over real TLS)."""

from __future__ import annotations

from tests.edge.conftest import idp

__all__ = ["idp"]

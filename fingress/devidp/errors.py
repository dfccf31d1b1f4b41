"""The dev IdP's error."""

from __future__ import annotations

from edge.tunnel.errors import FingressError


class DevIdpError(FingressError):
    """The dev IdP cannot do what was asked. ``code`` is stable: ``devidp_missing`` (no provider in the data
    directory yet), ``devidp_corrupt`` (its files do not parse), ``devidp_invalid_input``,
    ``devidp_invalid_scope``."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")

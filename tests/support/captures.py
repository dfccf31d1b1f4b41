"""Where the real Finesse 12.5 captures live: ``shared/finesse-captures`` beside the repository (as on every
developer machine and in CI), or ``FINGRESS_FINESSE_CAPTURES``."""

from __future__ import annotations

import os
from pathlib import Path

_REPOSITORY = Path(__file__).resolve().parents[2]
CAPTURES_DIR = Path(
    os.environ.get("FINGRESS_FINESSE_CAPTURES", _REPOSITORY.parent / "shared" / "finesse-captures")
)

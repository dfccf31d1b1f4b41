"""The real Finesse 12.5 captures: ``shared/finesse-captures`` beside the repository (as on every developer
machine and in CI), or ``FINGRESS_FINESSE_CAPTURES``. Missing captures are a collection error, never a
silent skip: every test built on them would otherwise pass vacuously."""

from __future__ import annotations

import os
from pathlib import Path

_REPOSITORY = Path(__file__).resolve().parents[2]
CAPTURES_DIR = Path(
    os.environ.get("FINGRESS_FINESSE_CAPTURES", _REPOSITORY.parent / "shared" / "finesse-captures")
)
CAPTURE_FILES: tuple[Path, ...] = tuple(sorted(CAPTURES_DIR.glob("*.xml")))
if not CAPTURE_FILES:
    raise RuntimeError(f"no Finesse captures (*.xml) in {CAPTURES_DIR}; set FINGRESS_FINESSE_CAPTURES")

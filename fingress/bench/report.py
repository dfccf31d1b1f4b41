"""The readable table printed at the end of a run (``--json`` prints the same figures as JSON)."""

from __future__ import annotations

from typing import Any


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    else:
        rows.append((prefix, "-" if value is None else str(value)))


def render_table(results: dict[str, Any]) -> str:
    """Two columns, one figure per line, grouped by scenario (``events.latency.p99_ms  12.3``)."""
    rows: list[tuple[str, str]] = []
    _flatten("", results, rows)
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)

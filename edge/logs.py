"""Structured logging for the edge: one JSON object per line, secrets redacted on the way out.

The edge's modules log through ``structlog.get_logger`` with event names in snake_case past tense
(``request_handled``, ``audit``, ``policy_reloaded``). The process's composition root (the CLI) calls
:func:`configure_logging` once; :func:`redact_secrets` is the last line of defence behind the rule that
no code passes a secret to a logger in the first place.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
# Keys whose values are never written, whatever their type.
_SECRET_KEYS = re.compile(r"(authorization|password|passwd|secret|token|ticket|cookie|api[_-]?key)", re.I)
# A compact JWS anywhere in a string value.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def redact_secrets(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blanks secret-named keys and JWT-shaped substrings."""
    for key, value in list(event_dict.items()):
        if key != "event" and _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and "eyJ" in value:
            event_dict[key] = _JWT.sub(REDACTED, value)
    return event_dict


def configure_logging(
    *, level: int = logging.INFO, json_lines: bool = True, stream: TextIO | None = None
) -> None:
    """Configure structlog for the process: ISO timestamps, level, redaction, JSON (or console) lines."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )

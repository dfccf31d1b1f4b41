"""Log output for the long-running commands (``fingress edge|connector|demo``): structlog, as JSON lines for
machines or as readable console lines for people, on standard error (standard output carries the
commands' status lines).

Logging is process-wide by nature, so only a command's entry point calls :func:`configure_logging`, once.
:func:`redact_secrets` runs last before rendering, for structlog events and for what libraries log through
the standard library alike: it is the last line of defence behind the rule that no code hands a secret to a
logger in the first place.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO, get_args

import structlog

LogFormat = Literal["json", "console"]
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)
REDACTED = "[redacted]"

# Keys whose values are never written, whatever their type.
_SECRET_KEYS = re.compile(
    r"(authorization|password|passwd|secret|token|ticket|cookie|api[_-]?key|private)", re.I
)
# A compact JWS anywhere in a string value (a bearer token that slipped into a message).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def redact_secrets(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank the values of secret-named keys and JWT-shaped substrings."""
    for key, value in list(event_dict.items()):
        if key != "event" and _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and "eyJ" in value:
            event_dict[key] = _JWT.sub(REDACTED, value)
    return event_dict


def configure_logging(
    log_format: LogFormat, *, stream: TextIO | None = None, level: int = logging.INFO
) -> None:
    """Route structlog and the standard library's ``logging`` (uvicorn, websockets) to ``stream`` (standard
    error by default) as ``log_format``, with secrets redacted."""
    output = stream or sys.stderr
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact_secrets, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries' informational chatter (every connection opened) stays out; their warnings come through.
    root.setLevel(max(level, logging.WARNING))

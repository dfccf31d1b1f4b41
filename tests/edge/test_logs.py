"""The log redaction processor and the JSON line configuration."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from edge.logs import REDACTED, configure_logging, redact_secrets


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_secret_keys_and_jwts_are_redacted() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDAxIn0.c2lnbmF0dXJl"
    event = {
        "event": "request_handled",
        "authorization": "Bearer x",
        "finesse_password": "pw",
        "ticket": "t",
        "detail": f"token was {jwt} today",
        "agent_id": "1001",
        "status": 200,
    }
    out = redact_secrets(None, "info", dict(event))
    assert out["authorization"] == out["finesse_password"] == out["ticket"] == REDACTED
    assert out["detail"] == f"token was {REDACTED} today"
    assert (out["event"], out["agent_id"], out["status"]) == ("request_handled", "1001", 200)


def test_configured_lines_are_json_and_redacted(restore_structlog: None) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    structlog.get_logger("fingress.edge").info("audit", agent_id="1001", password="pw")
    line = json.loads(stream.getvalue())
    assert line["event"] == "audit"
    assert line["level"] == "info"
    assert line["password"] == REDACTED
    assert line["timestamp"].endswith("Z")

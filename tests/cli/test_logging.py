"""``--log-format``: JSON lines or console lines, secrets never rendered (structlog and standard logging)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from fingress.logging_setup import REDACTED, configure_logging, redact_secrets

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDAxIn0.c2lnbmF0dXJl"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_secret_keys_and_tokens_are_blanked() -> None:
    event = {
        "event": "signed_in",
        "agent_id": "1001",
        "finesse_password": "hunter2",
        "Authorization": "Bearer x",
        "ticket": "abc",
        "detail": f"bad token {JWT} seen",
    }
    out = redact_secrets(None, "info", dict(event))
    assert out["agent_id"] == "1001"
    assert out["finesse_password"] == out["Authorization"] == out["ticket"] == REDACTED
    assert out["detail"] == f"bad token {REDACTED} seen"


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_from_structlog_and_the_standard_library() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    structlog.get_logger("t").info("agent_signed_in", agent_id="1001", password="hunter2")
    logging.getLogger("uvicorn.error").warning("token %s rejected", JWT)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "agent_signed_in"
    assert lines[0]["password"] == REDACTED
    assert lines[1]["level"] == "warning"
    assert JWT not in stream.getvalue()
    assert "hunter2" not in stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_console_lines_are_for_people() -> None:
    stream = io.StringIO()
    configure_logging("console", stream=stream)
    structlog.get_logger("t").info("edge_started", port=8443, token=JWT)
    text = stream.getvalue()
    assert "edge_started" in text
    assert "port=8443" in text
    assert JWT not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)

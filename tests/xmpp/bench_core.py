"""Benchmark (not a test): the sans-I/O session's cost per Finesse notification, no sockets involved.

    .venv/bin/python -m tests.xmpp.bench_core

Feeds the captured notifications to an established session, one read per stanza over the RFC 6120
stream and one message per stanza over RFC 7395, and prints microseconds per notification.
"""

from __future__ import annotations

import time

from connector.xmpp.events import PubsubItemReceived
from connector.xmpp.session import ClientSession
from tests.xmpp import transcripts as t

ROUNDS = 20_000


def established_stream() -> ClientSession:
    session = t.stream_session()
    t.log_in(session)
    session.events_received()
    return session


def established_websocket() -> ClientSession:
    session = t.websocket_session()
    for message in t.WS_LOGIN:
        session.receive_data(message, 0.0)
    session.events_received()
    return session


def measure(name: str, session: ClientSession, stanzas: list[str | bytes]) -> None:
    started = time.perf_counter()
    items = 0
    for index in range(ROUNDS):
        session.receive_data(stanzas[index % len(stanzas)], 1.0)
        items += sum(isinstance(event, PubsubItemReceived) for event in session.events_received())
    elapsed = time.perf_counter() - started
    assert items == ROUNDS
    size = sum(len(stanza) for stanza in stanzas) / len(stanzas)
    per_item_us = elapsed / ROUNDS * 1e6
    print(f"{name}: {per_item_us:.1f} µs per notification (~{size:.0f} bytes), {ROUNDS / elapsed:.0f}/s")


def main() -> None:
    captures = [t.capture_stanza(name) for name in t.capture_names()]
    measure("RFC 6120 stream", established_stream(), [capture.encode() for capture in captures])
    framed = [capture.replace("<message ", "<message xmlns='jabber:client' ", 1) for capture in captures]
    measure("RFC 7395 messages", established_websocket(), list(framed))


if __name__ == "__main__":
    main()

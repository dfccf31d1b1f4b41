"""JSON on the event path (not a test): µs per encode/decode of a typical ~2 KB ``dialog.updated`` event,
at each step it takes through the tiers, with whatever implementation the code has now, and the stdlib
doing the same work alongside as the reference.

    .venv/bin/python benchmarks/frame_codec.py [--number 20000] [--repeat 7] [--non-ascii]

Steps: the connector's event frame (``EventLog.publish``, one encoding of the agent's view), the tunnel
``event`` frame around it (``encode_frame``), a ``batch`` of 32 such frames, the edge's ``decode_frame``
of one event frame and of the batch, and the edge's heartbeat frame. Each figure is the best of
``--repeat`` runs of ``--number`` calls (the machine is shared: the best run is the least disturbed).
``--non-ascii`` puts accented names and a non-Latin queue name in the event (the stdlib escapes them).
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connector.sessions.eventlog import EventLog
from edge.events.socket import heartbeat_text
from edge.tunnel import frames as f
from edge.tunnel.messages import AgentId

AGENT = AgentId("1001")
BATCH_EVENTS = 32


def dialog_updated(*, non_ascii: bool) -> dict[str, Any]:
    """What the connector's ``dialog_view`` makes of a call with call data: ~2 KB of JSON."""
    caller = "Zoë Łukasiewicz-Gómez" if non_ascii else "Zoe Lukasiewicz-Gomez"
    queue = "Служба поддержки" if non_ascii else "Customer_Support_Tier2"
    return {
        "dialog": {
            "id": "16777216",
            "from_address": "+41445551234",
            "to_address": "1001",
            "state": "ACTIVE",
            "dialed_number": "8005550100",
            "call_type": "ACD_IN",
            "dnis": "8005550100",
            "queue_name": queue,
            "wrap_up_reason": None,
            "call_variables": {
                f"callVariable{n}": f"value-{n}-{caller if n == 1 else 'x' * 40}" for n in range(1, 11)
            },
            "ecc_variables": {
                "customer_name": caller,
                "account_number": "CH93-0076-2011-6238-5295-7",
                "case_id": "CASE-2026-11-000184",
                "language": "de-CH",
                "priority": "gold",
                "last_contact": "2026-11-20T16:42:11Z",
                "last_agent": "1042",
                "ivr_path": "main>billing>disputes>agent",
                "callback_number": "+41445551234",
                "crm_url": "https://crm.example.com/cases/CASE-2026-11-000184",
            },
            "participants": [
                {
                    "media_address": "+41445551234",
                    "media_address_type": None,
                    "state": "ACTIVE",
                    "state_cause": None,
                    "start_time": "2026-11-21T10:00:00.123Z",
                },
                {
                    "media_address": "1001",
                    "media_address_type": "AGENT_DEVICE",
                    "state": "ACTIVE",
                    "state_cause": None,
                    "start_time": "2026-11-21T10:00:02.456Z",
                },
            ],
            "own_state": "ACTIVE",
            "actions": [
                "HOLD",
                "DROP",
                "TRANSFER_SST",
                "CONSULT_CALL",
                "UPDATE_CALL_DATA",
                "SEND_DTMF",
                "START_RECORDING",
            ],
        }
    }


def _stdlib_heartbeat(seq: int, at_s: float) -> str:
    at = datetime.fromtimestamp(at_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"seq": seq, "type": "heartbeat", "at": at, "data": {}})


def best_us(call: Callable[[], object], *, number: int, repeat: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--number", type=int, default=20_000, help="calls per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best is printed (default 7)")
    parser.add_argument("--non-ascii", action="store_true", help="accented and Cyrillic text in the event")
    args = parser.parse_args()
    data = dialog_updated(non_ascii=args.non_ascii)
    moment = datetime(2026, 11, 21, 10, 0, 0, 123000, UTC)
    log = EventLog(agent_id=AGENT, capacity=16, snapshot=dict, now=lambda: moment)

    event = log.publish("dialog.updated", data)
    frame = f.Event(7, event)
    encoded = f.encode_frame(frame)
    batch = f.encode_batch([encoded] * BATCH_EVENTS)
    at_s = moment.timestamp()
    stdlib_frame = {"seq": 1, "type": "dialog.updated", "at": "2026-11-21T10:00:00.123Z", "data": data}
    stdlib_text = json.dumps(stdlib_frame, separators=(",", ":"))
    stdlib_wire = {
        "type": "event",
        "sid": 7,
        "agent_id": AGENT,
        "seq": 1,
        "event_type": "x",
        "json": stdlib_text,
    }
    stdlib_encoded = json.dumps(stdlib_wire, separators=(",", ":"))
    stdlib_batch = '{"type":"batch","events":[' + ",".join([stdlib_encoded] * BATCH_EVENTS) + "]}"

    print(f"event JSON {len(event.json.encode())} B, tunnel frame {len(encoded)} B, batch {len(batch)} B")
    print(f"(stdlib: event JSON {len(stdlib_text)} B, tunnel frame {len(stdlib_encoded)} B)")
    rows: list[tuple[str, Callable[[], object], Callable[[], object], int]] = [
        (
            "connector: event frame (publish)",
            lambda: log.publish("dialog.updated", data),
            lambda: json.dumps(stdlib_frame, separators=(",", ":")),
            1,
        ),
        (
            "connector: tunnel event frame",
            lambda: f.encode_frame(frame),
            lambda: json.dumps(stdlib_wire, separators=(",", ":")),
            1,
        ),
        (
            f"connector: batch of {BATCH_EVENTS} (per event)",
            lambda: f.encode_batch([encoded] * BATCH_EVENTS),
            lambda: '{"type":"batch","events":[' + ",".join([stdlib_encoded] * BATCH_EVENTS) + "]}",
            BATCH_EVENTS,
        ),
        ("edge: decode event frame", lambda: f.decode_frame(encoded), lambda: json.loads(stdlib_encoded), 1),
        (
            f"edge: decode batch of {BATCH_EVENTS} (per event)",
            lambda: f.decode_frame(batch),
            lambda: json.loads(stdlib_batch),
            BATCH_EVENTS,
        ),
        ("edge: heartbeat frame", lambda: heartbeat_text(42, at_s), lambda: _stdlib_heartbeat(42, at_s), 1),
    ]
    print(f"{'step':<40} {'now µs':>9} {'stdlib µs':>10}")  # stdlib: the same work as the code did before
    for name, ours, stdlib, per in rows:
        number = max(1, args.number // per)
        ours_us = best_us(ours, number=number, repeat=args.repeat) / per
        stdlib_us = best_us(stdlib, number=number, repeat=args.repeat) / per
        print(f"{name:<40} {ours_us:>9.2f} {stdlib_us:>10.2f}")


if __name__ == "__main__":
    main()

"""Benchmark (not a test): µs per document of the connector's two XML parses, careful path vs fast path.

    PYTHONPATH=. .venv/bin/python benchmarks/xml_parse.py [--number 2000] [--repeat 7]

``parse_frame`` (one RFC 7395 WebSocket message: a pubsub event whose ``<notification>`` holds the escaped
Update) and ``parse_document`` (that Update once unescaped), each with ``fast_path=None`` (the careful
parser alone) and with its default fast path. Documents: the real capture ``login.xml`` (a user Update)
and a call-data change: a ~2 KB dialog Update with 10 call variables and two participants, in the shape of
Finesse 12.5's dialog notifications, also sent as a frame. Best of ``repeat`` runs, the two paths timed in
turns; on this shared 2-core machine figures still move by ±10 %: compare runs made back to back.
"""

from __future__ import annotations

import argparse
import functools
import timeit
from collections.abc import Callable
from xml.sax.saxutils import escape

from connector.finesse.xmltree import parse_document
from connector.xmpp.xmlstream import parse_frame
from tests.finesse.captures import notification_text
from tests.support.captures import CAPTURES_DIR

_PARTICIPANT = (
    "<Participant><actions><action>HOLD</action><action>DROP</action><action>UPDATE_CALL_DATA</action>"
    "</actions><mediaAddress>{address}</mediaAddress><mediaAddressType>AGENT_DEVICE</mediaAddressType>"
    "<startTime>2026-11-21T10:00:01.000Z</startTime><state>ACTIVE</state><stateCause></stateCause>"
    "<stateChangeTime>2026-11-21T10:00:01.000Z</stateChangeTime></Participant>"
)


def dialog_update(call_variables: int = 10) -> str:
    """A dialog notification's Update text, as Finesse 12.5 lays it out (elements, order, spelling)."""
    variables = "".join(
        f"<CallVariable><name>callVariable{i}</name><value>order {40 + i} &amp; co</value></CallVariable>"
        for i in range(1, call_variables + 1)
    )
    participants = _PARTICIPANT.format(address="1001001") + _PARTICIPANT.format(address="5551234")
    return (
        "<Update><data><dialogs><Dialog><associatedDialogUri></associatedDialogUri>"
        "<fromAddress>5551234</fromAddress><id>16817</id><mediaProperties><DNIS>1001001</DNIS>"
        f"<callType>ACD_IN</callType><dialedNumber>8000</dialedNumber><callvariables>{variables}"
        "</callvariables><queueName>Support</queueName><wrapUpReason></wrapUpReason></mediaProperties>"
        f"<mediaType>Voice</mediaType><participants>{participants}</participants><state>ACTIVE</state>"
        "<toAddress>1001001</toAddress><uri>/finesse/api/Dialog/16817</uri></Dialog></dialogs></data>"
        "<event>PUT</event><requestId></requestId><source>/finesse/api/User/1001/Dialogs</source></Update>"
    )


def captured_frame(name: str, update: str | None = None) -> bytes:
    """The capture's stanza as a WebSocket frame (jabber:client), optionally carrying another Update."""
    stanza = (CAPTURES_DIR / name).read_text(encoding="utf-8").split("-->", 1)[1].strip()
    stanza = stanza.replace("<message ", '<message xmlns="jabber:client" ', 1)
    if update is not None:
        head, _, rest = stanza.partition('<notification xmlns="urn:xmpp:push:0">')
        tail = rest.partition("</notification>")[2]
        stanza = f'{head}<notification xmlns="urn:xmpp:push:0">\n{escape(update)}\n</notification>{tail}'
    return stanza.encode()


def best_us_each(
    calls: tuple[Callable[[], object], Callable[[], object]], *, number: int, repeat: int
) -> tuple[float, float]:
    """Best µs per call of each, timed in turns so that both see the same moments of a busy machine."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for index, call in enumerate(calls):
            best[index] = min(best[index], timeit.timeit(call, number=number) / number * 1e6)
    return best[0], best[1]


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    arguments.add_argument("--number", type=int, default=2000, help="calls per timed run")
    arguments.add_argument("--repeat", type=int, default=7, help="timed runs; the best counts")
    options = arguments.parse_args()

    dialog = dialog_update()
    login = notification_text("login.xml")
    frames = {
        "login.xml": captured_frame("login.xml"),
        "dialog Update, 10 call variables": captured_frame("login.xml", dialog),
    }
    documents = {"login.xml": login, "dialog Update, 10 call variables": dialog}

    print(f"{'case':58s} {'careful':>9s} {'fast':>9s} {'saved':>7s}")
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = []
    for name, frame in frames.items():
        careful_frame = functools.partial(parse_frame, frame, fast_path=None)
        fast_frame = functools.partial(parse_frame, frame)
        cases.append((f"parse_frame({name}, {len(frame)} B)", careful_frame, fast_frame))
    for name, document in documents.items():
        careful_document = functools.partial(parse_document, document, fast_path=None)
        fast_document = functools.partial(parse_document, document)
        cases.append((f"parse_document({name}, {len(document.encode())} B)", careful_document, fast_document))
    for label, careful, fast in cases:
        careful_us, fast_us = best_us_each((careful, fast), number=options.number, repeat=options.repeat)
        saved = 1 - fast_us / careful_us
        print(f"{label:58s} {careful_us:7.1f}µs {fast_us:7.1f}µs {saved:7.0%}")


if __name__ == "__main__":
    main()

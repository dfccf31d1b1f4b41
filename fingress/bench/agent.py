"""One simulated agent: its token, its API calls through the edge and its own event socket.

The socket's reader feeds every frame to the agent's :class:`~fingress.bench.stats.SequenceCheck`; it
records two latencies: for a ``dialog.updated`` frame carrying :data:`STAMP_VARIABLE` (set by the emulator
to its wall clock when it published the notification) the time from publication to arrival, and for frames
caused by a control-API action the scenario marked with :meth:`SimulatedAgent.caused_by`, the time from
that action being sent to the frame arriving.

Like a real mobile app, the agent sends no WebSocket pings of its own (it answers the edge's), and after
a failed try it waits as :class:`RetryPolicy` says (backoff with jitter, after the answer's Retry-After).

The event socket is the connector's :class:`~connector.xmpp.websocket_pipe.WebSocketPipe` (small TLS
buffers, a receive fast path, no task or keepalive of its own), read by the agent's one reader task: at
2,000 agents the bench shares two cores with the tiers it measures, and ``websockets.connect``'s
Connection (its own reader, assembler and queues per socket) cost it several % of them.
"""

from __future__ import annotations

import asyncio
import math
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from websockets.frames import CloseCode
from websockets.uri import parse_uri

from connector.xmpp.tls_pipe import ReadInterrupted
from connector.xmpp.tls_sessions import TlsSessionCache
from connector.xmpp.websocket_pipe import WebSocketPipe, WebSocketRefused, WebSocketViolation
from fingress.bench.cluster import BenchAgent
from fingress.bench.stats import Latencies, SequenceCheck

Frame = dict[str, Any]
# The call variable the emulator sets to its clock (Unix ns) at publication (POST /emulator/calls/call-data).
STAMP_VARIABLE = "callVariable10"
Predicate = Callable[[Frame], bool]
# The event socket's bounds, as websockets.connect had them: handshake, message size, close handshake.
OPEN_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 1 << 20
CLOSE_TIMEOUT_S = 10.0


class AgentFailed(Exception):
    """A step of the simulated agent failed (the message says which and why; no secrets).
    ``retry_after_s`` is the answer's Retry-After, when it had one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long an app waits before its next try after a failed one: exponential backoff with full
    jitter (a random pause up to ``base_s`` · 2^attempt, at most ``cap_s``), after the answer's
    Retry-After when it had one (capped at ``max_retry_after_s``), so that thousands of apps neither
    hammer a tier that is coming back nor come back in lock step.

    Promise: ``floor ≤ delay_s(...) ≤ floor + cap_s``, where ``floor`` is the Retry-After (capped; 0 when
    there is none, or it is not a positive number)."""

    base_s: float = 0.25
    cap_s: float = 2.0
    max_retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s) or not math.isfinite(self.cap_s):
            raise ValueError("RetryPolicy needs 0 < base_s <= cap_s (finite)")
        if not (0 <= self.max_retry_after_s < math.inf):
            raise ValueError("RetryPolicy needs a finite max_retry_after_s >= 0")

    def delay_s(self, attempt: int, *, retry_after_s: float | None, rng: random.Random) -> float:
        """The pause before try ``attempt + 1`` (``attempt`` counts the failed tries before, from 0)."""
        floor_s = 0.0
        if retry_after_s is not None and retry_after_s > 0:  # NaN is not > 0
            floor_s = min(retry_after_s, self.max_retry_after_s)
        # 2.0 ** 64 is far past any cap: no float overflow however many tries failed.
        window_s = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt, 0), 64))
        return floor_s + rng.uniform(0.0, window_s)


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds: its delta-seconds form (RFC 9110 §10.2.3: digits only);
    None when absent or in another form (the edge sends only seconds); ``inf`` for an absurdly long
    one (:class:`RetryPolicy` caps it)."""
    if value is None:
        return None
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    # int() refuses strings of more than 4,300 digits; anything past a dozen is "forever" anyway.
    return float(int(text)) if len(text) <= 12 else math.inf


class SimulatedAgent:
    def __init__(
        self,
        *,
        spec: BenchAgent,
        token: str,
        api: httpx.AsyncClient,
        events_url: str,
        ssl_context: ssl.SSLContext,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.spec = spec
        self._headers = {"Authorization": f"Bearer {token}"}
        self._api = api
        self._events_url = events_url
        self._ssl = ssl_context
        # Each app keeps its own TLS session, as a phone's TLS stack does: reopening the event socket
        # resumes it rather than a full handshake.
        self._tls_sessions = TlsSessionCache(ssl_context, max_endpoints=1)
        self._clock = clock
        self.sequence = SequenceCheck()
        self.latencies = Latencies()
        self.published_to_arrival = Latencies()
        self.last_seq: int | None = None
        self.close_code: int | None = None
        self._socket: WebSocketPipe | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cause_sent_at: float | None = None
        self._waiters: list[tuple[Predicate, asyncio.Future[Frame]]] = []
        self._wrap_up_reason: str | None = None
        self.closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"SimulatedAgent(id={self.spec.id!r})"

    # --- API calls through the edge ------------------------------------------------------------------

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self._api.request(method, path, json=body, headers=self._headers)

    async def sign_in(self) -> None:
        answer = await self.call(
            "POST",
            "/api/v1/agent/session",
            {"extension": self.spec.extension, "finesse_password": self.spec.password},
        )
        if answer.status_code != 200:
            raise _refused(answer, f"agent {self.spec.id}: sign-in")

    async def set_state(self, state: str, **extra: Any) -> None:
        answer = await self.call("PUT", "/api/v1/agent/state", {"state": state, **extra})
        if answer.status_code not in (200, 202):
            raise _refused(answer, f"agent {self.spec.id}: {state}")

    async def act(self, dialog_id: str, action: str, **extra: Any) -> None:
        answer = await self.call("POST", f"/api/v1/dialogs/{dialog_id}/actions", {"action": action, **extra})
        if answer.status_code not in (200, 202):
            raise _refused(answer, f"agent {self.spec.id}: {action}")

    async def wrap_up_reason(self) -> str:
        """The first wrap-up reason Finesse offers this agent (read once, as an app caches its picker)."""
        if self._wrap_up_reason is None:
            answer = await self.call("GET", "/api/v1/wrap-up-reasons")
            reasons = answer.json().get("wrap_up_reasons") if answer.status_code == 200 else None
            if not reasons:
                raise AgentFailed(f"agent {self.spec.id}: no wrap-up reasons ({answer.status_code})")
            self._wrap_up_reason = str(reasons[0]["label"])
        return self._wrap_up_reason

    # --- the event socket ----------------------------------------------------------------------------

    async def open_events(self, *, resume: bool = False) -> None:
        """Open the event socket (``?since=`` the last seq seen when ``resume``); frames flow to the
        recorders until :meth:`close_events` or the edge closes it."""
        url = self._events_url
        if resume and self.last_seq is not None:
            url += f"?since={self.last_seq}"
        target = parse_uri(url)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                socket = await WebSocketPipe.connect(
                    url,
                    host=target.host,
                    port=target.port,
                    ssl_context=self._ssl,
                    server_hostname=target.host,
                    subprotocol=None,
                    max_message_bytes=MAX_MESSAGE_BYTES,
                    headers=self._headers,
                    tls_sessions=self._tls_sessions,
                )
        except WebSocketRefused as error:
            response = error.response
            if response is not None and response.status_code != 101:
                raise AgentFailed(
                    f"agent {self.spec.id}: event socket refused: {response.status_code}",
                    retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
                ) from None
            # Named as before: the handshake's own error (InvalidHeaderValue...), when there is one.
            cause = error.__cause__ or error
            raise AgentFailed(
                f"agent {self.spec.id}: event socket failed: {cause.__class__.__name__}"
            ) from None
        except (OSError, TimeoutError) as error:
            raise AgentFailed(
                f"agent {self.spec.id}: event socket failed: {error.__class__.__name__}"
            ) from None
        self._socket = socket
        self.closed.clear()
        self.close_code = None
        self._reader = asyncio.create_task(self._read(socket))

    async def close_events(self) -> None:
        """Close the event socket (close handshake, bounded) and wait for its reader to finish."""
        socket, reader = self._socket, self._reader
        self._socket = self._reader = None
        if socket is not None:
            socket.interrupt()  # the reader sees the socket is no longer ours, and closes it
        if reader is not None:
            await reader

    def caused_by(self, sent_at: float | None) -> None:
        """Frames arriving from now on were caused by an action sent at ``sent_at`` (``perf_counter``);
        None stops measuring."""
        self._cause_sent_at = sent_at

    def expect(self, predicate: Predicate) -> asyncio.Future[Frame]:
        """Start waiting for the next frame matching ``predicate`` (register before sending the action
        that causes it: the frame may arrive before the action's answer)."""
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        # A scenario that fails before it awaits the future (its action refused) must not leave asyncio
        # reporting "exception was never retrieved" when the socket closes later.
        future.add_done_callback(_retrieve)
        self._waiters.append((predicate, future))
        return future

    async def wait(self, future: asyncio.Future[Frame], *, timeout_s: float) -> Frame:
        """The frame ``future`` (from :meth:`expect`) resolves to. Raises ``AgentFailed`` on timeout or a
        closed socket."""
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise AgentFailed(
                f"agent {self.spec.id}: the awaited event did not come in {timeout_s} s"
            ) from None
        finally:
            self._waiters = [entry for entry in self._waiters if entry[1] is not future]
            if not future.done():
                future.cancel()

    async def wait_for(self, predicate: Predicate, *, timeout_s: float) -> Frame:
        """The next frame matching ``predicate`` (see :meth:`wait`)."""
        return await self.wait(self.expect(predicate), timeout_s=timeout_s)

    async def _read(self, socket: WebSocketPipe) -> None:
        try:
            while socket is self._socket:
                try:
                    # Between frames, wait on one future rather than inside the socket's layers: the
                    # simulated apps are thousands of idle readers sharing the benchmark's process.
                    if (waiter := socket.input_waiter()) is not None:
                        await waiter
                    message = await socket.receive()
                except ReadInterrupted:
                    continue  # close_events(): the loop's condition no longer holds
                if message is None:
                    break
                self._record(message)
        except (WebSocketViolation, OSError):
            pass  # the connection failed (ssl.SSLError is an OSError): it ends like any other
        finally:
            try:
                await socket.close(CLOSE_TIMEOUT_S, code=CloseCode.NORMAL_CLOSURE)  # as websockets' close()
            finally:  # even when cancelled meanwhile: the socket is gone either way
                self._closed(socket)

    def _closed(self, socket: WebSocketPipe) -> None:
        self.close_code = socket.close_code
        self.closed.set()
        for _, future in self._waiters:
            if not future.done() and socket is self._socket:
                future.set_exception(
                    AgentFailed(f"agent {self.spec.id}: event socket closed ({self.close_code})")
                )

    def _record(self, message: str | bytes) -> None:
        now, wall_ns = self._clock(), time.time_ns()
        frame: Frame = orjson.loads(message)
        frame_type, seq = frame.get("type", ""), frame.get("seq")
        if isinstance(seq, int):
            self.sequence.frame(frame_type, seq)
            if frame_type != "heartbeat":
                self.last_seq = seq
        if frame_type not in ("heartbeat", "snapshot") and self._cause_sent_at is not None:
            self.latencies.add(now - self._cause_sent_at)
        if frame_type == "dialog.updated":
            stamp = _stamp(frame)
            if stamp is not None:
                self.published_to_arrival.add((wall_ns - stamp) / 1e9)
        self._dispatch(frame)

    def _dispatch(self, frame: Frame) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(frame):
                future.set_result(frame)


def of_type(frame_type: str, **data: Any) -> Predicate:
    """A predicate: a frame of ``frame_type`` whose data has every given key at the given value."""

    def matches(frame: Frame) -> bool:
        if frame.get("type") != frame_type:
            return False
        payload = frame.get("data") or {}
        return all(payload.get(key) == value for key, value in data.items())

    return matches


def _retrieve(future: asyncio.Future[Frame]) -> None:
    if not future.cancelled():
        future.exception()


def _stamp(frame: Frame) -> int | None:
    variables = (frame.get("data") or {}).get("call_variables") or {}
    value = variables.get(STAMP_VARIABLE)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _refused(answer: httpx.Response, what: str) -> AgentFailed:
    """The failure for an answer with an unexpected status, carrying its Retry-After."""
    return AgentFailed(
        f"{what} answered {answer.status_code} {_code(answer)}",
        retry_after_s=parse_retry_after(answer.headers.get("Retry-After")),
    )


def _code(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""

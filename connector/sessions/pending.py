"""Confirmed results: matching Finesse's notifications to the requests that caused them.

Finesse answers an action with 202 and tells the outcome later, in a notification. A request registers an
:class:`Expectation` *before* it is sent (the notification can beat the 202), learns its ``requestId``
from the REST client, and waits (bounded) on the expectation's future. :meth:`PendingRequests.offer` sees
every notification of the agent and settles:

1. the expectation whose ``requestId`` Finesse echoed: resolved with the update when it is the expected
   object, rejected with :class:`FinesseRejected` when it is an asynchronous error;
2. failing that (Finesse echoes ``requestId`` only on a best-effort basis), the oldest open expectation
   the update fits: the expected object update, or an error about the same object within the window.

Updates whose ``requestId`` no expectation knows yet are remembered briefly, for a request whose 202
arrives after its notification.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from connector.finesse.ids import RequestId
from connector.finesse.models import ApiErrorList, FinesseApiError, Update

RECENT_UPDATES = 32


class FinesseRejected(Exception):
    """Finesse refused a request asynchronously (an ``apiErrors`` notification)."""

    def __init__(self, errors: tuple[FinesseApiError, ...], request_id: RequestId | None) -> None:
        self.errors = errors
        self.request_id = request_id
        first = errors[0].error_type if errors else "unknown"
        super().__init__(f"Finesse refused the request: {first}")


@dataclass(eq=False, slots=True)
class Expectation:
    """One request waiting for the notification that settles it."""

    # The Finesse object the request acts on, e.g. ``/finesse/api/User/1001`` or ``/finesse/api/Dialog/7``.
    source: str
    accepts: Callable[[Update], bool]
    future: asyncio.Future[Update]
    created_s: float
    request_id: RequestId | None = None
    settled: bool = field(default=False)


class PendingRequests:
    """The open expectations of one agent."""

    def __init__(self, *, error_window_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._open: list[Expectation] = []
        self._by_request_id: dict[RequestId, Expectation] = {}
        self._recent: deque[Update] = deque(maxlen=RECENT_UPDATES)
        self._error_window_s = error_window_s
        self._monotonic = monotonic

    def __len__(self) -> int:
        return len(self._open)

    def expect(self, *, source: str, accepts: Callable[[Update], bool]) -> Expectation:
        """Register before sending; bind the request id with :meth:`bind` once the 202 is in."""
        future: asyncio.Future[Update] = asyncio.get_running_loop().create_future()
        expectation = Expectation(source=source, accepts=accepts, future=future, created_s=self._monotonic())
        self._open.append(expectation)
        return expectation

    def bind(self, expectation: Expectation, request_id: RequestId) -> None:
        """Attach the request id Finesse will echo; settles at once if its notification already came."""
        if expectation.settled:
            return
        expectation.request_id = request_id
        self._by_request_id[request_id] = expectation
        for update in self._recent:
            if update.request_id == request_id and self._settle_by_id(expectation, update):
                return

    def discard(self, expectation: Expectation) -> None:
        """Stop waiting (answered, timed out or the request failed synchronously)."""
        if expectation in self._open:
            self._open.remove(expectation)
        if expectation.request_id is not None:
            self._by_request_id.pop(expectation.request_id, None)
        expectation.settled = True
        if not expectation.future.done():
            expectation.future.cancel()

    def offer(self, update: Update) -> Expectation | None:
        """Settle the expectation ``update`` answers, if any, and return it."""
        if update.request_id is not None:
            expectation = self._by_request_id.get(update.request_id)
            if expectation is None:
                self._recent.append(update)
            elif self._settle_by_id(expectation, update):
                return expectation
            else:
                return None
        return self._settle_by_fit(update)

    def fail_all(self, error: BaseException) -> None:
        """Reject every open expectation (the session is ending)."""
        for expectation in tuple(self._open):
            self._finish(expectation, error=error)

    def _settle_by_id(self, expectation: Expectation, update: Update) -> bool:
        if isinstance(update.data, ApiErrorList):
            self._finish(expectation, error=FinesseRejected(update.data.errors, update.request_id))
            return True
        if expectation.accepts(update):
            self._finish(expectation, update=update)
            return True
        return False

    def _settle_by_fit(self, update: Update) -> Expectation | None:
        now_s = self._monotonic()
        if isinstance(update.data, ApiErrorList):
            recent = [e for e in self._open if now_s - e.created_s <= self._error_window_s]
            # An error names the object it is about (often the User even for a dialog action): prefer an
            # expectation on that very object, else the oldest recent one.
            candidates = [e for e in recent if e.source == update.source] or recent
            if not candidates:
                return None
            chosen = candidates[0]
            self._finish(chosen, error=FinesseRejected(update.data.errors, chosen.request_id))
            return chosen
        for expectation in self._open:
            if expectation.accepts(update):
                self._finish(expectation, update=update)
                return expectation
        return None

    def _finish(
        self, expectation: Expectation, *, update: Update | None = None, error: BaseException | None = None
    ) -> None:
        if expectation in self._open:
            self._open.remove(expectation)
        if expectation.request_id is not None:
            self._by_request_id.pop(expectation.request_id, None)
        expectation.settled = True
        if expectation.future.done():
            return
        if error is not None:
            expectation.future.set_exception(error)
        elif update is not None:
            expectation.future.set_result(update)

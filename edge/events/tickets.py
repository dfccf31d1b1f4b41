"""One-time tickets for the event socket, for browsers, which cannot set headers on a WebSocket.

A ticket is a random 256-bit string bound to the principal that asked for it, valid for ``ttl_s`` and
for one redemption. The store outlives policy reloads and is bounded: expired tickets are purged on
every issue, and at capacity the oldest ticket is dropped.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from edge.tunnel.messages import Principal


class TicketStore:
    def __init__(self, *, max_tickets: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_tickets = max_tickets
        self._clock = clock
        # Insertion order is expiry order while the ttl is unchanged; after a policy change the purge may
        # stop early, which the capacity bound still covers.
        self._tickets: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def issue(self, principal: Principal, *, ttl_s: float, max_tickets: int | None = None) -> str:
        """A new ticket for ``principal``, valid for ``ttl_s``. ``max_tickets`` (the policy's cap at issue
        time) can only lower the store's own ceiling."""
        self._purge()
        cap = min(self._max_tickets, max_tickets) if max_tickets is not None else self._max_tickets
        while len(self._tickets) >= cap:
            self._tickets.popitem(last=False)
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = (principal, self._clock() + ttl_s)
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The principal the ticket was issued to, once; None when unknown, used or expired."""
        entry = self._tickets.pop(ticket, None)
        if entry is None:
            return None
        principal, expires_at = entry
        return principal if self._clock() < expires_at else None

    def _purge(self) -> None:
        now = self._clock()
        while self._tickets:
            _, (_, expires_at) = next(iter(self._tickets.items()))
            if expires_at > now:
                break
            self._tickets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tickets)

"""LinearAssignmentPool decides exactly as httpcore's pool does: the same connections closed, the same
ones kept (in order), the same request on the same connection, on random pool states (Hypothesis), with
httpcore's own method as the reference."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpcore
from hypothesis import given
from hypothesis import strategies as st

from connector.finesse.http_backend import LinearAssignmentPool

URLS = ("https://finesse-a:8445/finesse/api/User/1001", "https://finesse-b:8445/finesse/api/User/1001")
ORIGINS = tuple(httpcore.URL(url).origin for url in URLS)


@dataclass(eq=False)
class FakeConnection:
    """What the pool asks of a connection, answered from flags."""

    ident: int
    origin: httpcore.Origin
    closed: bool = False
    expired: bool = False
    idle: bool = False
    available: bool = False

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self.origin


@dataclass(eq=False)
class FakeRequest:
    """What the pool asks of a waiting request (``AsyncPoolRequest``'s interface)."""

    request: httpcore.Request
    queued: bool
    connection: FakeConnection | None = field(default=None)

    def is_queued(self) -> bool:
        return self.queued and self.connection is None

    def assign_to_connection(self, connection: FakeConnection) -> None:
        self.connection = connection


@dataclass(frozen=True)
class Wanted:
    origin: int
    queued: bool


connection_states: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    origin=st.sampled_from(range(len(ORIGINS))),
    closed=st.booleans(),
    expired=st.booleans(),
    idle=st.booleans(),
    available=st.booleans(),
)


def run(pool_class: type[httpcore.AsyncConnectionPool], state: dict[str, Any]) -> tuple[Any, ...]:
    """Build ``state`` into a pool of ``pool_class``, assign, and describe what it decided."""
    created = itertools.count(1000)

    class Pool(pool_class):  # type: ignore[valid-type, misc]
        def create_connection(self, origin: httpcore.Origin) -> Any:
            return FakeConnection(next(created), origin)

    pool = Pool(
        max_connections=state["max_connections"],
        max_keepalive_connections=state["max_keepalive_connections"],
    )
    connections = [
        FakeConnection(n, ORIGINS[flags["origin"]], **{k: v for k, v in flags.items() if k != "origin"})
        for n, flags in enumerate(state["connections"])
    ]
    requests = [
        FakeRequest(httpcore.Request("GET", URLS[want.origin]), want.queued) for want in state["requests"]
    ]
    pool._connections = list(connections)
    pool._requests = list(requests)
    closing = pool._assign_requests_to_connections()
    return (
        [c.ident for c in closing],
        [c.ident for c in pool._connections],
        [(r.connection.ident, r.connection.origin) if r.connection else None for r in requests],
    )


@st.composite
def pool_states(draw: st.DrawFn) -> dict[str, Any]:
    max_connections = draw(st.integers(min_value=1, max_value=12))
    return {
        "max_connections": max_connections,
        "max_keepalive_connections": draw(st.integers(min_value=0, max_value=max_connections)),
        "connections": draw(st.lists(connection_states, max_size=max_connections)),
        "requests": draw(
            st.lists(st.builds(Wanted, st.sampled_from(range(len(ORIGINS))), st.booleans()), max_size=12)
        ),
    }


@given(pool_states())
def test_the_linear_pool_decides_as_httpcore_does(state: dict[str, Any]) -> None:
    assert run(LinearAssignmentPool, state) == run(httpcore.AsyncConnectionPool, state)


def test_a_full_pool_of_busy_connections_leaves_the_request_queued_and_closes_nothing() -> None:
    state = {
        "max_connections": 2,
        "max_keepalive_connections": 2,
        "connections": [{"origin": 0, "closed": False, "expired": False, "idle": False, "available": False}]
        * 2,
        "requests": [Wanted(0, True)],
    }
    assert run(LinearAssignmentPool, state) == ([], [0, 1], [None])

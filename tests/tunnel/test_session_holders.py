"""Routing follows the connector that holds an agent's session (edge.relay.holders): over real tunnels
with two connectors, an agent signed in again through one connector while the other was away stays there
when the other comes back, an edge that has not seen the agent finds its session by asking the others, and
a connector that answers ``no_session`` is no longer preferred. Plus the memory on its own: what it keeps,
what it forgets, its bound."""

from __future__ import annotations

import asyncio

import pytest

from connector.tunnel.service import EventSink
from edge.api.routes import ROUTES
from edge.relay.holders import SessionHolders
from edge.relay.relay import SIGN_OUT, _rendezvous_weight
from edge.tunnel.errors import NotFound
from edge.tunnel.messages import Principal, TunnelRequest, TunnelResponse
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, principal, request
from tests.tunnel.fakes import EchoService

SIGN_IN = "/api/v1/agent/session"


class SessionService(EchoService):
    """A connector's sessions, reduced to which agents it holds: a sign-in (``POST /api/v1/session``)
    opens one; any other request, and an event stream, for an agent it does not hold is ``no_session``,
    as the real connector answers."""

    def __init__(self) -> None:
        super().__init__()
        self.held: set[str] = set()
        self.asked: list[str] = []

    async def handle(self, request: TunnelRequest) -> TunnelResponse:
        agent = "" if request.principal is None else request.principal.agent_id
        self.asked.append(request.path)
        if request.method == "POST" and request.path == SIGN_IN:
            self.held.add(agent)
        elif agent not in self.held:
            raise NotFound("no_session", "the agent is not signed in through fingress")
        elif request.method == "DELETE" and request.path == SIGN_IN:
            self.held.discard(agent)
        return await super().handle(request)

    async def attach(self, principal: Principal, since: int | None, sink: EventSink) -> None:
        if principal.agent_id not in self.held:
            raise NotFound("no_session", "the agent is not signed in through fingress")
        await super().attach(principal, since, sink)


def agent_hashed_to(connector_id: str, other: str) -> str:
    """An agent id that rendezvous hashing places on ``connector_id`` when both are up."""
    for number in range(1000, 2000):
        agent = str(number)
        if _rendezvous_weight(agent, connector_id) > _rendezvous_weight(agent, other):
            return agent
    raise AssertionError("no agent id hashes there")


async def sign_in(tunnel: Tunnel, agent: str) -> int:
    response = await tunnel.relay.request(request(SIGN_IN, agent=agent, method="POST"), timeout_s=seconds(5))
    return response.status


async def ask(tunnel: Tunnel, agent: str) -> int:
    return (await tunnel.relay.request(request(agent=agent), timeout_s=seconds(5))).status


async def start(tunnel: Tunnel, connector_id: str, service: SessionService, *, usable: int) -> None:
    """Start a connector with one connection; return once the relay counts ``usable`` connections."""
    client = tunnel.client(connector_id=connector_id, connections=1, service=service)
    await client.start()
    await client.wait_for_connections(1)
    await eventually(lambda: tunnel.relay.connections_usable == usable)


async def test_an_agent_stays_with_the_connector_that_took_it_in_when_its_hashed_one_comes_back(
    tunnel: Tunnel,
) -> None:
    agent = agent_hashed_to("c1", "c2")
    first, second = SessionService(), SessionService()
    async with asyncio.timeout(seconds(10)):
        await start(tunnel, "c1", first, usable=1)
        await start(tunnel, "c2", second, usable=2)
        # c1 goes away; the app signs in again and c2 takes the agent in.
        await tunnel.clients[0].abort()
        await eventually(lambda: tunnel.relay.connections_usable == 1)
        assert await sign_in(tunnel, agent) == 200
        assert second.held == {agent}
        # c1 is back, holding nothing (a restarted process): the agent's work still goes to c2.
        restarted = SessionService()
        await start(tunnel, "c1", restarted, usable=2)
        status = await ask(tunnel, agent)
        stream = await tunnel.relay.open_events(principal(agent), since=None)
        await stream.close()
    assert status == 200
    assert restarted.asked == []
    assert agent in second.sinks
    assert agent not in restarted.sinks


async def test_an_event_stream_attached_elsewhere_is_enough_to_keep_the_agent_there(tunnel: Tunnel) -> None:
    agent = agent_hashed_to("c1", "c2")
    first, second = SessionService(), SessionService()
    second.held.add(agent)  # c2 took the agent in while c1 was away (through another edge, say)
    async with asyncio.timeout(seconds(10)):
        await start(tunnel, "c2", second, usable=1)
        stream = await tunnel.relay.open_events(principal(agent), since=None)
        await start(tunnel, "c1", first, usable=2)
        status = await ask(tunnel, agent)
        await stream.close()
    assert status == 200
    assert first.asked == []


@pytest.mark.parametrize("refused_by", ["request", "event stream"])
async def test_a_connector_that_holds_no_session_for_the_agent_is_no_longer_preferred(
    tunnel: Tunnel, refused_by: str
) -> None:
    agent = agent_hashed_to("c1", "c2")
    first, second = SessionService(), SessionService()
    async with asyncio.timeout(seconds(10)):
        await start(tunnel, "c2", second, usable=1)
        assert await sign_in(tunnel, agent) == 200
        await start(tunnel, "c1", first, usable=2)
        # c2's session ends on its own (the grace signed the agent out): c2 says so, once.
        second.held.clear()
        refusal = (
            tunnel.relay.request(request(agent=agent), timeout_s=seconds(5))
            if refused_by == "request"
            else tunnel.relay.open_events(principal(agent), since=None)
        )
        with pytest.raises(NotFound) as refused:
            await refusal
        assert refused.value.code == "no_session"
        # The next sign-in goes where the hash says.
        assert await sign_in(tunnel, agent) == 200
    assert first.held == {agent}
    assert second.asked == [SIGN_IN, "/api/v1/echo"] if refused_by == "request" else [SIGN_IN]
    # Before answering no_session the edge asked the other connector too: it held none either.
    assert first.asked == ["/api/v1/echo", SIGN_IN] if refused_by == "request" else [SIGN_IN]


@pytest.mark.parametrize("work", ["request", "event stream"])
async def test_an_edge_that_has_not_seen_the_agent_finds_its_session_where_it_is(
    tunnel: Tunnel, work: str
) -> None:
    # The session moved to c2 while another edge served the agent (or before this edge restarted): the
    # hash names c1, which holds none; the edge asks c2 rather than send the app to sign in beside it.
    agent = agent_hashed_to("c1", "c2")
    first, second = SessionService(), SessionService()
    second.held.add(agent)
    async with asyncio.timeout(seconds(10)):
        await start(tunnel, "c1", first, usable=1)
        await start(tunnel, "c2", second, usable=2)
        if work == "request":
            assert await ask(tunnel, agent) == 200
        else:
            await (await tunnel.relay.open_events(principal(agent), since=None)).close()
        assert tunnel.relay.stats.session_searches == 1
        # Found once, remembered: the next request goes to c2 straight away.
        assert await ask(tunnel, agent) == 200
    assert first.asked == (["/api/v1/echo"] if work == "request" else [])
    assert first.sinks == {}
    assert tunnel.relay.stats.session_searches == 1


async def test_an_agent_that_signed_out_signs_in_next_where_the_hash_says(tunnel: Tunnel) -> None:
    agent = agent_hashed_to("c1", "c2")
    first, second = SessionService(), SessionService()
    async with asyncio.timeout(seconds(10)):
        await start(tunnel, "c2", second, usable=1)
        assert await sign_in(tunnel, agent) == 200
        await start(tunnel, "c1", first, usable=2)
        sign_out = request(SIGN_IN, agent=agent, method="DELETE")
        assert (await tunnel.relay.request(sign_out, timeout_s=seconds(5))).status == 200
        assert await sign_in(tunnel, agent) == 200  # the next shift
    assert first.held == {agent}
    assert second.held == set()


def test_the_relay_forgets_on_the_public_apis_sign_out_route() -> None:
    [route] = [spec for spec in ROUTES if spec.audit_action == "sign_out"]
    assert (route.method, route.path) == SIGN_OUT


def test_the_memory_keeps_the_last_connector_that_answered_and_forgets_only_on_its_own_refusal() -> None:
    holders = SessionHolders()
    assert holders.holder("1001") is None
    holders.answered("1001", "c1")
    holders.answered("1001", "c2")
    assert holders.holder("1001") == "c2"
    holders.holds_none("1001", "c1")  # an older connector's refusal says nothing about c2
    assert holders.holder("1001") == "c2"
    holders.holds_none("1001", "c2")
    assert holders.holder("1001") is None
    holders.answered("1002", "c1")
    holders.forget("1002")
    holders.forget("1003")  # never seen: nothing to forget
    assert holders.holder("1002") is None
    assert len(holders) == 0


def test_the_memory_is_bounded_and_forgets_the_entries_changed_longest_ago() -> None:
    holders = SessionHolders(max_agents=3)
    for agent in ("a", "b", "c"):
        holders.answered(agent, "c1")
    holders.answered("a", "c2")  # changed: now the newest
    holders.answered("b", "c1")  # unchanged: keeps its place
    holders.answered("d", "c1")
    assert len(holders) == 3
    assert [holders.holder(agent) for agent in ("a", "b", "c", "d")] == ["c2", None, "c1", "c1"]
    with pytest.raises(ValueError, match="max_agents"):
        SessionHolders(max_agents=0)

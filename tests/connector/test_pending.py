"""Confirmed results: correlation by requestId, by object and time, and notifications beating the 202."""

from __future__ import annotations

import asyncio

import pytest

from connector.finesse.ids import AgentId, RequestId
from connector.finesse.models import AgentState, ApiErrorList, FinesseApiError, Update, UpdateEvent, User
from connector.sessions.pending import FinesseRejected, PendingRequests

USER = "/finesse/api/User/1001"


def user_update(state: AgentState, request_id: str | None = None) -> Update:
    return Update(
        UpdateEvent.PUT,
        USER,
        User(login_id=AgentId("1001"), extension="1001", state=state),
        RequestId(request_id) if request_id else None,
    )


def error_update(request_id: str | None = None, source: str = USER) -> Update:
    errors = (FinesseApiError("Invalid State", "CF_INVALID_OBJECT_STATE", "22"),)
    return Update(
        UpdateEvent.PUT, source, ApiErrorList(errors), RequestId(request_id) if request_id else None
    )


def is_ready(update: Update) -> bool:
    return isinstance(update.data, User) and update.data.state is AgentState.READY


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


async def test_settled_by_request_id() -> None:
    pending = PendingRequests(error_window_s=5)
    expectation = pending.expect(source=USER, accepts=is_ready)
    pending.bind(expectation, RequestId("r1"))
    assert pending.offer(user_update(AgentState.READY, "r1")) is expectation
    assert (await expectation.future).data.state is AgentState.READY  # type: ignore[union-attr]
    assert len(pending) == 0


async def test_async_error_with_request_id_rejects() -> None:
    pending = PendingRequests(error_window_s=5)
    expectation = pending.expect(source=USER, accepts=is_ready)
    pending.bind(expectation, RequestId("r1"))
    pending.offer(error_update("r1"))
    with pytest.raises(FinesseRejected) as caught:
        await expectation.future
    assert caught.value.errors[0].error_type == "Invalid State"
    assert caught.value.request_id == "r1"


async def test_notification_before_the_202_is_remembered() -> None:
    pending = PendingRequests(error_window_s=5)
    expectation = pending.expect(source=USER, accepts=lambda update: False)
    # The notification carries the id before bind() knows it; nothing fits by object either.
    assert pending.offer(error_update("early")) is None or expectation.future.done()
    pending.bind(expectation, RequestId("early"))
    with pytest.raises(FinesseRejected):
        await asyncio.wait_for(expectation.future, 1)


async def test_without_request_id_the_oldest_fitting_expectation_settles() -> None:
    pending = PendingRequests(error_window_s=5)
    first = pending.expect(source=USER, accepts=is_ready)
    second = pending.expect(source=USER, accepts=is_ready)
    assert pending.offer(user_update(AgentState.NOT_READY)) is None
    assert pending.offer(user_update(AgentState.READY)) is first
    assert not second.future.done()


async def test_uncorrelated_error_goes_to_same_object_within_window() -> None:
    clock = Clock()
    pending = PendingRequests(error_window_s=5, monotonic=clock)
    dialog_action = pending.expect(source="/finesse/api/Dialog/7", accepts=lambda u: False)
    clock.now_s = 1
    state_change = pending.expect(source=USER, accepts=is_ready)
    assert pending.offer(error_update(source=USER)) is state_change
    clock.now_s = 100
    assert pending.offer(error_update(source="/finesse/api/Dialog/7")) is None  # too old to be its answer
    pending.discard(dialog_action)
    assert dialog_action.future.cancelled()


async def test_fail_all() -> None:
    pending = PendingRequests(error_window_s=5)
    expectation = pending.expect(source=USER, accepts=is_ready)
    pending.fail_all(RuntimeError("ended"))
    with pytest.raises(RuntimeError):
        await expectation.future

"""Events pushed into an event socket as they arrive, instead of pulled by a task of its own.

An :class:`EventConsumer` (the socket's relay) takes each event from the stream's own call, in order,
and says whether it can take the next at once; when it could not (the client reads too slowly), the
stream keeps what follows, bounded as ever, until the consumer calls ``resume``. A stream that can push
(the edge's :class:`~edge.relay.stream.RelayEventStream`) is a :class:`PushEventStream`; any other
``edge.upstream.EventStream`` is pushed by an :class:`IteratorPusher`, from a task of its own.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from edge.tunnel.errors import ApiError
from edge.tunnel.messages import AgentEvent
from edge.upstream import EventStream


class EventConsumer(Protocol):
    def take(self, event: AgentEvent) -> bool:
        """One event, the next in order. False: the consumer holds it but can take no more for now; the
        stream hands it nothing until :meth:`PushEventStream.resume`."""

    def stream_ended(self, error: BaseException | None = None) -> None:
        """The stream is over (after the last event it had), with ``error`` when it broke."""


@runtime_checkable
class PushEventStream(Protocol):
    def push_to(self, consumer: EventConsumer) -> None:
        """Hand ``consumer`` every event, those waiting first, as it arrives; then the end."""

    def resume(self) -> None:
        """The consumer takes events again after it said it could not."""


class IteratorPusher:
    """Pushes an ``EventStream`` that can only be iterated, from a task of its own. Iteration ending
    with an ``ApiError`` is the stream's end; any other exception is handed on as its error."""

    __slots__ = ("_resumed", "_stream", "_task")

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._resumed: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def push_to(self, consumer: EventConsumer) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(consumer))

    def resume(self) -> None:
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self, consumer: EventConsumer) -> None:
        try:
            async for event in self._stream:
                if not consumer.take(event):
                    self._resumed = asyncio.get_running_loop().create_future()
                    await self._resumed
                    self._resumed = None
                # Let go before waiting for the next one: a quiet socket keeps no copy of the last event
                # (the first is the agent's whole snapshot).
                del event
        except ApiError:
            pass
        except Exception as error:
            consumer.stream_ended(error)
            return
        consumer.stream_ended()

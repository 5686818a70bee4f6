"""At least once, an event's new case states reach the changelog only after its outputs are in Kafka.

A worker that dies is replaced by one that restores the cases from the changelog and reads the inputs again from
the last committed offset. If a state were on the changelog before the outputs it came with, the replayed input
would be a duplicate of what the restored case already holds, make no outputs, and the outputs that never arrived
would be lost. Kafka orders writes within a partition only, and outputs and changelog are different topics; so
each event's state records are sent once its outputs are acknowledged, and in the partition's order (a later
state of a booking never overtakes an earlier one). The outputs themselves go at once: a repeated output is
recognised by its id (`worker.outputs.RecentOutputs`); a lost one cannot be made again.

Before the worker commits its input offsets it drains what waits here (`drain`), so an offset is committed only
after its event's outputs and states are both written. A failed write stops everything behind it on the partition
and fails the drain, so no later state and no commit goes past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

#: send(topic, key, value, partition, timestamp_seconds, headers) -> a future done when Kafka has the record
Send = Callable[[str, bytes | None, bytes | None, int, float | None, Any], Awaitable[asyncio.Future]]
Output = tuple[str, bytes | None, bytes | None, float | None, Any]  # topic, key, value, timestamp (s), headers


class OrderedWrites:
    """Outputs at once; each event's states behind its outputs and behind the partition's earlier states."""

    def __init__(self, send: Send, changelog: str, on_state_sent: Callable[[int, asyncio.Future], None]) -> None:
        """Bind the producer's send, the changelog topic, and what to do when a state record is written."""
        self._send, self._changelog, self._on_state_sent = send, changelog, on_state_sent
        self._tails: dict[int, asyncio.Future] = {}

    async def write(self, partition: int, outputs: Iterable[Output], states: Iterable[tuple[bytes, bytes]]) -> None:
        """Send an event's outputs now, and its states once those (and the partition's earlier states) are in."""
        delivered = [await self._send(topic, key, value, partition, timestamp, headers)
                     for topic, key, value, timestamp, headers in outputs]
        states = list(states)
        tail = self._tails.get(partition)
        if not delivered and (tail is None or tail.done()):
            if tail is not None:
                tail.result()  # a failed earlier write: nothing more goes out on this partition
            await self._send_states(partition, states)
            return
        self._tails[partition] = asyncio.ensure_future(self._after(tail, delivered, partition, states))

    async def _after(self, tail: asyncio.Future | None, delivered: list[asyncio.Future], partition: int,
                     states: list[tuple[bytes, bytes]]) -> None:
        if tail is not None:
            await tail
        await asyncio.gather(*delivered)
        await self._send_states(partition, states)

    async def _send_states(self, partition: int, states: list[tuple[bytes, bytes]]) -> None:
        for key, value in states:
            sent = await self._send(self._changelog, key, value, partition, None, None)
            sent.add_done_callback(lambda done, p=partition: self._on_state_sent(p, done))

    def waiting(self) -> int:
        """Partitions with states still waiting for their outputs."""
        return sum(1 for tail in self._tails.values() if not tail.done())

    async def drain(self) -> None:
        """Wait until every waiting state is sent; raises the first failed write."""
        tails = list(self._tails.values())
        if tails:
            await asyncio.gather(*tails)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the record of partitions this worker no longer owns once their writes are done."""
        for p in partitions:
            tail = self._tails.get(p)
            if tail is not None and tail.done() and not tail.cancelled() and tail.exception() is None:
                del self._tails[p]

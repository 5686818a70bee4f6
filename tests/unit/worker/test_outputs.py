"""A replayed input's outputs are not sent twice (`worker.outputs`), even when the first copies are still in flight."""

from __future__ import annotations

import asyncio

from streams.wire.codec import HEADER_OUTPUT_ID, HEADER_SUPERSEDES, Encoded
from streams.worker.outputs import RecentOutputs
from streams.worker.state.writes import OrderedWrites


class Topic:
    """What a producer sent, and the records the broker has acknowledged: only those are on the topic's tail."""

    def __init__(self) -> None:
        self.in_flight: list[tuple[asyncio.Future, int, list]] = []
        self.landed: list[tuple[int, list]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.in_flight.append((future, partition, list(headers or ())))
        return future

    def acknowledge(self) -> None:
        for future, partition, headers in self.in_flight:
            self.landed.append((partition, headers))
            future.set_result(None)
        self.in_flight.clear()


class Tail(RecentOutputs):
    """The recent outputs read from the landed records of `Topic` instead of a broker."""

    def __init__(self, topic: Topic) -> None:
        super().__init__({}, ["outputs"])
        self.topic = topic

    def _tail(self, partition: int):
        return [headers for p, headers in self.topic.landed if p == partition]


def release(output_id: str, supersedes: str | None = None) -> Encoded:
    headers = [(HEADER_OUTPUT_ID, output_id.encode())]
    if supersedes:
        headers.append((HEADER_SUPERSEDES, supersedes.encode()))
    return Encoded("outputs", b"B1", b"release", headers)


async def send(writes: OrderedWrites, recent: RecentOutputs, partition: int, message: Encoded) -> bool:
    """What the case agent does with an output: skip it when it stands on the tail, else write it; True if sent."""
    if recent.already_sent(partition, message):
        return False
    await writes.write(partition, [(message.topic, message.key, message.value, None, message.headers)], [])
    return True


def test_a_partition_assigned_again_reads_its_tail_only_after_the_writes_in_flight_land():
    async def test():
        topic = Topic()
        writes = OrderedWrites(topic.send, "changelog", lambda p, done: None)
        recent = Tail(topic)
        await recent.load_after(writes.drain, 0)
        await send(writes, recent, 0, release("out-1"))
        assert topic.in_flight and not topic.landed
        recent.forget([0])  # the partition revoked (its group rebalanced) while out-1 is still on its way

        reading = asyncio.ensure_future(recent.load_after(writes.drain, 0))
        await asyncio.sleep(0.01)
        assert not reading.done(), "the tail was read before the write in flight landed"
        topic.acknowledge()
        assert await reading == 1
        # the input after the last commit is replayed: its output is on the tail now, and is not sent again
        assert not await send(writes, recent, 0, release("out-1"))
        assert len(topic.landed) == 1
    asyncio.run(test())


def test_an_output_withdrawn_by_a_correction_counts_as_not_standing():
    async def test():
        topic = Topic()
        writes = OrderedWrites(topic.send, "changelog", lambda p, done: None)
        recent = Tail(topic)
        await recent.load_after(writes.drain, 0)
        await send(writes, recent, 0, release("out-1"))
        await send(writes, recent, 0, release("fix-1", supersedes="out-1"))
        topic.acknowledge()
        recent.forget([0])
        assert await recent.load_after(writes.drain, 0) == 2
        assert not await send(writes, recent, 0, release("fix-1")), "the correction stands: not sent again"
        assert await send(writes, recent, 0, release("out-1")), "withdrawn, so it may follow again"
    asyncio.run(test())


def test_a_tail_read_meanwhile_is_not_read_again():
    async def test():
        topic = Topic()
        writes = OrderedWrites(topic.send, "changelog", lambda p, done: None)
        recent = Tail(topic)
        first = asyncio.ensure_future(recent.load_after(writes.drain, 0))
        second = asyncio.ensure_future(recent.load_after(writes.drain, 0))
        assert await first == 0 and await second is None
    asyncio.run(test())

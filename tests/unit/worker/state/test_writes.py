"""States reach the changelog only after their event's outputs, in each partition's order (`worker.state.writes`)."""

from __future__ import annotations

import asyncio

import pytest

from streams.worker.state.writes import OrderedWrites


class Producer:
    """Records what was sent, in order; each send's delivery is a future the test completes."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []
        self.deliveries: dict[bytes, asyncio.Future] = {}
        self.states_written: list[tuple[int, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> asyncio.Future:
        self.sent.append((topic, value, partition))
        future = asyncio.get_running_loop().create_future()
        self.deliveries[value] = future
        if topic == "changelog":
            future.set_result(value)  # the fake's metadata: what was written
        return future

    def on_state_sent(self, partition: int, delivered: asyncio.Future) -> None:
        self.states_written.append((partition, delivered.result()))

    def changelog(self) -> list[bytes]:
        return [value for topic, value, _ in self.sent if topic == "changelog"]


def _writes() -> tuple[Producer, OrderedWrites]:
    kafka = Producer()
    return kafka, OrderedWrites(kafka.send, "changelog", kafka.on_state_sent)


def output(value: bytes) -> tuple:
    return ("outputs", b"k", value, None, None)


def run(test):
    asyncio.run(test())


def test_a_state_waits_until_its_outputs_are_in_kafka():
    async def test():
        kafka, writes = _writes()
        await writes.write(0, [output(b"release")], [(b"B1", b"state-1")])
        await asyncio.sleep(0)
        assert kafka.changelog() == [] and writes.waiting() == 1
        kafka.deliveries[b"release"].set_result(None)
        await writes.drain()
        assert kafka.changelog() == [b"state-1"] and writes.waiting() == 0
    run(test)


def test_a_later_state_of_the_partition_never_overtakes_an_earlier_one():
    async def test():
        kafka, writes = _writes()
        await writes.write(0, [output(b"notify")], [(b"B1", b"B1-first")])
        await writes.write(0, [], [(b"B1", b"B1-second")])  # no outputs of its own, but behind the first
        await writes.write(0, [output(b"hold")], [(b"B1", b"B1-third")])
        kafka.deliveries[b"hold"].set_result(None)
        await asyncio.sleep(0.01)
        assert kafka.changelog() == [], "the third went before the first's outputs were in"
        kafka.deliveries[b"notify"].set_result(None)
        await writes.drain()
        assert kafka.changelog() == [b"B1-first", b"B1-second", b"B1-third"]
    run(test)


def test_other_partitions_are_not_held_up():
    async def test():
        kafka, writes = _writes()
        await writes.write(0, [output(b"slow")], [(b"B1", b"p0")])
        await writes.write(1, [], [(b"B2", b"p1")])
        assert kafka.changelog() == [b"p1"]
        assert [(p, v) for t, v, p in kafka.sent if t == "changelog"] == [(1, b"p1")]
        kafka.deliveries[b"slow"].set_result(None)
        await writes.drain()
        assert kafka.changelog() == [b"p1", b"p0"]
        assert sorted(kafka.states_written) == [(0, b"p0"), (1, b"p1")]
    run(test)


def test_a_failed_output_stops_every_later_state_of_its_partition_and_fails_the_drain():
    async def test():
        kafka, writes = _writes()
        await writes.write(0, [output(b"lost")], [(b"B1", b"never")])
        kafka.deliveries[b"lost"].set_exception(ConnectionError("broker gone"))
        with pytest.raises(ConnectionError):
            await writes.drain()
        with pytest.raises(ConnectionError):
            await writes.write(0, [], [(b"B1", b"after")])
        assert kafka.changelog() == []
    run(test)


def test_the_drain_waits_for_every_partition():
    async def test():
        kafka, writes = _writes()
        for p in range(3):
            await writes.write(p, [output(f"o{p}".encode())], [(b"B", f"s{p}".encode())])
        drained = asyncio.ensure_future(writes.drain())
        for p in range(3):
            await asyncio.sleep(0.01)
            assert not drained.done()
            kafka.deliveries[f"o{p}".encode()].set_result(None)
        await drained
        assert sorted(kafka.changelog()) == [b"s0", b"s1", b"s2"]
    run(test)

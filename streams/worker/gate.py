"""The CLETS gate's step, independent of Faust: registry entries and queries in, decisions out.

Every worker reads the whole agency registry (a small compacted topic) into memory; queries are decided by the
pure gate (streams.core.clets) as the law stood at each query's own time. A message that cannot be read becomes a
dead letter with its reason and coordinates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from streams.core import admission, clets
from streams.core import events as ev
from streams.wire.codec import Codec, Coordinates, DeadLetter, Headers
from streams.worker.step import Result, dead_letter_result, letter_for

log = logging.getLogger(__name__)
#: the longest pause before the agency registry is read again after Kafka failed
REREAD_MAX_SECONDS = 30.0


class GateWork:
    """The agency registry this worker has read, and the gate's rows."""

    def __init__(self, rows: tuple[clets.Row, ...], codec: Codec, source: str) -> None:
        """Bind the gate's rows, the codec and the name written into dead letters."""
        self.rows, self.codec, self.source = rows, codec, source
        self.registry: dict[str, ev.AgencyAgreementRecorded] = {}

    def _decode(self, coordinates: Coordinates, key: bytes | None, value: bytes | None, headers: Headers,
                now: datetime) -> ev.Event | Result:
        try:
            admission.check_size(value)
            decoded = self.codec.decode(value, headers, coordinates, key)
            if isinstance(decoded, DeadLetter):
                return dead_letter_result(self.codec, self.source, decoded, now)
            admission.check_fields(decoded.record)
            return ev.from_record(decoded.type_name, decoded.record)
        except admission.Refused as refused:
            letter = letter_for(refused.code, refused.reason, coordinates, key, value, headers)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the message is kept and the gate goes on
            letter = letter_for("PROCESSING_FAILED", f"the message could not be read ({type(exc).__name__}: {exc})",
                                coordinates, key, value, headers)
        return dead_letter_result(self.codec, self.source, letter, now)

    def record_agency(self, coordinates: Coordinates, key: bytes | None, value: bytes | None, headers: Headers,
                      now: datetime) -> Result:
        """Take one registry entry (the latest entry of an agency replaces the one before)."""
        event = self._decode(coordinates, key, value, headers, now)
        if isinstance(event, Result):
            return event
        assert isinstance(event, ev.AgencyAgreementRecorded)
        self.registry[event.agency_id] = event
        return Result(event_type="AgencyAgreementRecorded")

    def knows(self, agency_id: str) -> bool:
        """True when the registry has an entry for the agency."""
        return agency_id in self.registry

    def handle_query(self, coordinates: Coordinates, key: bytes | None, value: bytes | None, headers: Headers,
                     now: datetime) -> tuple[Result, clets.CletsRuling | None]:
        """Decide one query (decided at `now`); the ruling is returned too, for the counters."""
        event = self._decode(coordinates, key, value, headers, now)
        if isinstance(event, Result):
            return event, None
        assert isinstance(event, ev.CletsQueryMade)
        try:
            ruling = clets.decide(self.rows, event, self.registry.get(event.agency_id))
            message = self.codec.encode("CletsDecision", ruling.to_record(now), False, event.occurred_at)
        except Exception as exc:  # noqa: BLE001 - the query is kept; no access is granted on it
            letter = letter_for("PROCESSING_FAILED", f"the query could not be decided ({type(exc).__name__}: "
                                f"{exc}); no access follows from it", coordinates, key, value, headers)
            return dead_letter_result(self.codec, self.source, letter, now), None
        return Result([message], event_type="CletsQueryMade"), ruling


class RegistryReader:
    """Reads the whole registry topic into a GateWork, from the beginning and then as it grows (no group).

    `ready` is set once everything the topic held at start has been read; `catch_up()` waits until what the
    topic holds now has been read (the gate calls it before refusing an agency it does not know).
    """

    def __init__(self, client_config: dict[str, Any], topic: str, partitions: int, gate: GateWork,
                 dead_letter: Callable[[Result], Awaitable[None]],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Bind the client settings, the topic and its partitions, the gate, where dead letters go, and the clock.

        `clock` is the worker's wall clock, which a dead letter is stamped with.
        """
        self.client_config, self.topic, self.partitions, self.clock = client_config, topic, partitions, clock
        self.gate, self.dead_letter = gate, dead_letter
        self.ready = asyncio.Event()
        self._ends: Any = None
        self._positions: dict[Any, int] = {}
        self._progress = asyncio.Condition()
        #: when the last catch-up began (monotonic clock), once it has been read up to the ends it asked for
        self._caught_up_at: float | None = None

    async def run(self) -> None:
        """Read for as long as the worker runs; a broker that does not answer is waited for, never a crash.

        Kafka failing mid-read (an outage, a leader moving) makes the reader start over from the beginning once the
        broker answers again, after a pause that doubles up to `REREAD_MAX_SECONDS`: reading a record again only
        records the same agreement again. What the registry held is kept meanwhile, so the gate goes on deciding.
        """
        from aiokafka.errors import KafkaError

        pause = 1.0
        while True:
            try:
                await self._read_all()
            except KafkaError as exc:
                log.warning("agency registry: Kafka failed (%r); reading it again in %.0f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, REREAD_MAX_SECONDS)

    async def _read_all(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    client_id="detainer-tracker-registry", **self.client_config)
        # The reader's fetch waits at the broker for new records, and a broker answers a connection's requests in
        # order: asked on that connection, the registry's end would wait out the poll (half a second) for every
        # query from an unknown agency. Its own client asks at once.
        ends = AIOKafkaConsumer(group_id=None, enable_auto_commit=False,
                                client_id="detainer-tracker-registry-ends", **self.client_config)
        try:
            await consumer.start()
            await ends.start()
            self._ends = ends
            if self.topic not in await consumer.topics():
                raise RuntimeError(f"the agency registry topic {self.topic} does not exist "
                                   "(run `detainer-tracker topics create`)")
            partitions = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            start_ends = await consumer.end_offsets(partitions)
            self._positions = {tp: 0 for tp in partitions}
            if not any(start_ends.values()):
                self.ready.set()
            while True:
                await self._read(consumer, partitions, start_ends)
        finally:
            self._ends = None
            for client in (ends, consumer):
                try:
                    await client.stop()
                except Exception:  # noqa: BLE001 - a client that never started, or a broker gone: nothing to close
                    log.debug("agency registry: stopping a client failed", exc_info=True)

    async def _read(self, consumer: Any, partitions: list[Any], start_ends: dict[Any, int]) -> None:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for r in records:
                result = self.gate.record_agency(Coordinates(r.topic, r.partition, r.offset, r.timestamp),
                                                 r.key, r.value, list(r.headers or []), self.clock())
                if result.dead_letter is not None:
                    await self.dead_letter(result)
        for tp in partitions:
            self._positions[tp] = await consumer.position(tp)
        if not self.ready.is_set() and all(self._positions[tp] >= end for tp, end in start_ends.items()):
            log.info("agency registry: %d agencies read from %s", len(self.gate.registry), self.topic)
            self.ready.set()
        async with self._progress:
            self._progress.notify_all()

    async def catch_up(self, timeout: float = 10.0, received: float | None = None) -> bool:
        """Wait until everything the registry topic holds now has been read; False when that took too long.

        `received` (monotonic clock) is when the query that asks arrived: a catch-up that began after it, and was
        read to its end, already holds every agency registered before the query, so the broker is not asked
        again (a burst of queries from an unknown agency costs one round trip, not one each).
        """
        await self.ready.wait()
        client = self._ends
        if client is None:
            return False
        if received is not None and self._caught_up_at is not None and self._caught_up_at >= received:
            return True
        began = time.monotonic()

        async def caught_up() -> None:
            ends = await client.end_offsets(list(self._positions))
            async with self._progress:
                await self._progress.wait_for(
                    lambda: all(self._positions.get(tp, 0) >= end for tp, end in ends.items()))

        try:
            await asyncio.wait_for(caught_up(), timeout)
        except TimeoutError:
            return False
        self._caught_up_at = max(began, self._caught_up_at or began)
        return True

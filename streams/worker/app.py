"""The Faust app of the case processor, built by `create_app(settings)`: importing this module connects to nothing.

One agent reads every co-partitioned case topic and the clock as raw bytes (so bad input becomes a dead letter
instead of a crash), keeps each booking's case and pending deadlines in a table on the same partitions, and
writes the outputs. A timer writes a wall-clock tick to every clock partition each tick interval (a second by
default), and one more to a partition of this worker as soon as one of its deadlines comes due. The agent is thin:
decode, load, core, send, store, all in `CaseWork`; no law here. A second agent is the CLETS gate: it
decides each query against the agency registry, which every worker reads whole (`GateWork`, `RegistryReader`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from faust.types import TP
from mode import CrashingSupervisor
from prometheus_client import CollectorRegistry, generate_latest

from streams import __version__
from streams.config import Settings
from streams.core import clets
from streams.core.law import rulebook
from streams.wire.codec import HEADER_OUTPUT_ID, HEADER_SUPERSEDES, Codec, Coordinates, Encoded
from streams.wire.schemas import SchemaRegistry
from streams.wire.topics import CASE_INPUTS, CASE_OUTPUTS, Topics, partition_of
from streams.worker.faust_compat import (
    CaseAssignor,
    IdempotentProducer,
    drain_before_flush,
    flush_before_commit,
    partition_items,
)
from streams.worker.gate import GateWork, RegistryReader
from streams.worker.metrics import Metrics
from streams.worker.progress import ProgressGuard
from streams.worker.scheduling import merged_for
from streams.worker.stalls import add_watchdog
from streams.worker.state.local import EXIT_INFRASTRUCTURE, disk_free, take_rebuilt
from streams.worker.state.restore import first_offsets, restore_changelog, rocksdb_writer
from streams.worker.state.writes import OrderedWrites
from streams.worker.step import CaseWork, Result

log = logging.getLogger(__name__)
PRODUCER_LINGER_SECONDS = 0.005
#: how often the worker looks for deadlines that have come due on its partitions
DUE_CHECK_SECONDS = 0.1
GAUGE_SECONDS = 2.0


#: the worker's wall clock: injected, so that nothing in the worker reads the time but through it
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class BytesTable(faust.Table):
    """A table whose keys and values are bytes we encode ourselves (booking ids; `CaseState` records).

    Faust derives a table's serializers from its key and value types and falls back to json, which cannot carry
    our values; here both are raw, for the store and the changelog alike.
    """

    #: set by create_app for a RocksDB store: restores newly assigned active partitions before Faust's recovery
    restore: Callable[[set, int], Awaitable[None]] | None = None
    #: when the last rebalance reached the table, where its recovery begins (monotonic clock)
    rebalance_began: float | None = None

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"

    async def on_rebalance(self, assigned: set, revoked: set, newly_assigned: set, generation_id: int = 0) -> None:
        """Faust's rebalance (the store opens the partitions), then the fast restore of what the store lacks."""
        self.rebalance_began = time.monotonic()
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        if self.restore is not None:
            await self.restore(newly_assigned, generation_id)


def _changelog_restorer(app: faust.App, table: BytesTable, settings: Settings) -> Any:
    """Restore the newly assigned active partitions of the cases table from its changelog (`state.restore`)."""
    changelog = table.changelog_topic.get_topic_name()

    async def restore(newly_assigned: set, generation_id: int) -> None:
        standbys = app.assignor.assigned_standbys()
        partitions = sorted(tp.partition for tp in newly_assigned if tp.topic == changelog and tp not in standbys)
        if partitions:
            await restore_changelog(settings.aiokafka_client_config(), changelog,
                                    first_offsets(table.data, changelog, partitions),
                                    rocksdb_writer(table.data, changelog),
                                    still_wanted=lambda: app.consumer_generation_id == generation_id)

    return restore


def create_app(settings: Settings, clock: Clock = wall_clock, registry: CollectorRegistry | None = None) -> faust.App:
    """The case-processor app for these settings: topics, the cases table, the agents, the timers (wiring only).

    `clock` is the one wall clock the worker reads (admission of future events, ticks, latency); `registry` the
    Prometheus registry its metrics go to (a fresh one by default).
    """
    topics = Topics(settings)
    codec = Codec(SchemaRegistry(settings.schemas_dir), topics)
    book = rulebook.load()
    work = CaseWork(book, codec, settings.source, settle=timedelta(seconds=settings.settle),
                    future_tolerance=timedelta(seconds=settings.future_tolerance), earliest=settings.earliest,
                    partitions=settings.partitions)
    names = [topics.name(t) for t in (*CASE_INPUTS, "clock")]
    scheduler, consumer = merged_for(tuple(names[:-1]), names[-1])
    app = _faust_app(settings, scheduler, type("CaseAssignor", (CaseAssignor,), {"case_topic": names[0]}))
    scheduler.app = app
    outputs = {t.name: app.topic(t.name, key_serializer="raw", value_serializer="raw")
               for t in topics if t.spec.id in (*CASE_OUTPUTS, "clets_decisions", "deadletter")}
    channel = app.topic(*names, key_serializer="raw", value_serializer="raw", allow_empty=True)
    app.transport.Consumer = consumer  # before the consumer is made, at the worker's start
    app.transport.Producer = IdempotentProducer  # and the producer, at the first send
    table = app.tables.add(BytesTable(app, name="cases", beacon=app.tables.beacon, default=None,
                                      partitions=settings.partitions, options={"driver": "rocksdict"}))
    if settings.store != "memory":
        table.restore = _changelog_restorer(app, table, settings)
    metrics = _metrics(codec, book, registry or CollectorRegistry())
    metrics.identify(__version__, book.digest)
    rebuilt = take_rebuilt(settings.data_dir)  # left by the worker command when it dropped the local tables
    if rebuilt is not None:
        metrics.rebuilt.labels(rebuilt).inc()
    guard = _progress_guard(app, settings, metrics, names)
    # the dead letters too: each has an id from its source coordinates, so one is not written twice after a crash
    recent = RecentOutputs(settings.kafka_client_config(), [topics.name(t) for t in (*CASE_OUTPUTS, "deadletter")])
    processor = CaseProcessor(app, settings, work, table, metrics, guard, recent, outputs,
                              add_watchdog(app, names, metrics), {t.name: t.spec.id for t in topics}, clock)
    processor.install(channel)
    _add_gate(app, settings, topics, codec, outputs, metrics, clock)
    if settings.ticker:
        _add_ticker(app, settings, topics["clock"].partitions, codec, work, clock)
    app.work, app.cases_table, app.metrics, app.progress_guard = work, table, metrics, guard  # type: ignore[attr-defined]
    return app


def _faust_app(settings: Settings, scheduler: type, assignor: type) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store="memory://" if settings.store == "memory" else "rocksdb://",
        datadir=str(settings.data_dir),
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        autodiscover=False,
        broker_commit_interval=settings.commit_interval,
        # At most 64 KiB per partition and fetch: the event-time merge drains a fetch partition by partition, so
        # a fetch must be seconds of work, or a partition waits for the others long enough to look stalled.
        consumer_max_fetch_size=64 * 1024,
        # Up to 5 ms for the producer to gather a partition's writes into one request: fewer, larger requests cost
        # the worker and the broker less per message (a tenth more events/s on a backlog) and add at most 5 ms.
        producer_linger=PRODUCER_LINGER_SECONDS,
        PartitionAssignor=assignor,
        ConsumerScheduler=scheduler,
        # A dead worker's partitions move after 10 s of silence: a release must not wait a minute for them.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        table_standby_replicas=1,
        broker_credentials=_credentials(settings),
    )


def _progress_guard(app: faust.App, settings: Settings, metrics: Metrics, names: list[str]) -> ProgressGuard:
    """The thread that stops a worker holding input it does not handle, started with the first assignment."""

    def observe(idle: float, unhandled: int) -> None:
        metrics.idle.set(idle)
        metrics.unhandled.set(unhandled)
        free = disk_free(settings.data_dir)
        if free is not None:
            metrics.disk_free.set(free)
        metrics.guard_checked.set_to_current_time()

    guard = ProgressGuard(settings.kafka_client_config(), settings.app_id, stop_uncommitted,
                          recovering=lambda: bool(app.rebalancing or getattr(app, "in_recovery", False)),
                          observe=observe)

    @app.on_partitions_assigned.connect
    async def guard_assigned(app_: Any, assigned: Any, **_: Any) -> None:
        guard.owns({(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in names})
        if not guard.is_alive():
            guard.start()

    return guard


class CaseProcessor:
    """The case-processor agent: each message through `CaseWork.handle`, its outputs and states written in order."""

    def __init__(self, app: faust.App, settings: Settings, work: CaseWork, table: BytesTable, metrics: Metrics,
                 guard: ProgressGuard, recent: RecentOutputs, outputs: dict[str, Any], stalls: Any,
                 topic_ids: dict[str, str], clock: Clock = wall_clock) -> None:
        """Bind what the agent uses; `install` adds it and its hooks to the app."""
        self.clock = clock
        self.app, self.settings, self.work, self.table, self.metrics = app, settings, work, table, metrics
        self.guard, self.recent, self.outputs, self.stalls, self.topic_ids = guard, recent, outputs, stalls, topic_ids
        self.changelog = table.changelog_topic.get_topic_name()
        # At least once, writes go straight to the producer, skipping Faust's buffer, its task per message and its
        # commit-time chase of that buffer; states follow their outputs (streams.worker.state.writes).
        self.writes = OrderedWrites(self._send_now, self.changelog, self._on_state_sent)

    def install(self, channel: Any) -> None:
        """The agent on the case topics and the clock, the gauges, the metrics page and the rebalance hooks."""
        app, work, metrics = self.app, self.work, self.metrics

        @app.agent(channel, name="case-processor", concurrency=1, supervisor_strategy=CrashingSupervisor)
        async def process(stream: Any) -> None:
            await self.process(stream)

        @app.timer(GAUGE_SECONDS, name="case-gauges")
        async def gauges() -> None:
            metrics.set_gauges(work.gauges())
            metrics.partitions.set(work.partitions_owned())

        @app.page("/metrics")
        async def metrics_page(web: Any, request: Any) -> Any:
            return web.bytes(generate_latest(metrics.registry), content_type="text/plain; version=0.0.4")

        @app.on_rebalance_complete.connect
        async def on_rebalanced(app_: Any, **_: Any) -> None:
            began, self.table.rebalance_began = self.table.rebalance_began, None
            if began is not None:
                metrics.recovery.set(time.monotonic() - began)

        @app.on_partitions_revoked.connect
        async def on_revoked(app_: Any, revoked: Any, **_: Any) -> None:
            partitions = {tp.partition for tp in revoked}
            work.forget(partitions)
            self.recent.forget(partitions)
            self.writes.forget(partitions)

    async def process(self, stream: Any) -> None:
        """The agent's body: every message decided, written, then measured; only Kafka or the disk stops it."""
        app, table, work = self.app, self.table, self.work
        if app.in_transaction:
            flush_before_commit(app.producer)
        else:
            drain_before_flush(app.producer, self.writes)
        async for event in stream.events():
            msg = event.message
            _ensure_loaded(work, table, msg.partition, self.settings.partitions)
            if not self.recent.loaded(msg.partition):
                # read before this partition's first output, and without yielding to the event loop mid-event
                found = self.recent.load(msg.partition)
                log.info("partition %d: %d output id(s) on the outputs' recent tail", msg.partition, found)
            where = Coordinates(msg.topic, msg.partition, msg.offset,
                                int(msg.timestamp * 1000) if msg.timestamp else None)
            # never raises: whatever is wrong with the message or its deciding makes a dead letter
            result = work.handle(table, where, event.key, event.value, event.headers, self.clock())
            try:
                if app.in_transaction:
                    for message in self._unsent(result, msg.partition):
                        self._send(message, msg.partition)
                    for key, state in result.writes.items():  # after the outputs: state never runs ahead of them
                        table[key] = state
                else:
                    await self._write_now(result, msg.partition)
            except Exception as exc:  # noqa: BLE001 - Kafka or the disk: only these stop the worker
                stop_uncommitted(f"partition {msg.partition} offset {msg.offset}: its writes failed: {exc!r}")
            self.stalls.progressed(msg.tp, msg.offset, time.monotonic())
            self.guard.handled()
            waited = time.monotonic() - msg.time_in if msg.time_in is not None else None
            try:
                self.metrics.case_step(result, self.topic_ids.get(msg.topic, "unknown"), self.clock(), waited)
                _count_lag(app, self.metrics, msg, self.topic_ids)
            except Exception:  # noqa: BLE001 - a metric never stops a decision
                log.exception("metrics of partition %d offset %d", msg.partition, msg.offset)

    def _unsent(self, result: Result, partition: int) -> list[Encoded]:
        # what is already on the outputs' recent tail (a replayed input's outputs) is not sent again
        fresh = [m for m in result.messages if not self.recent.already_sent(partition, m)]
        self.metrics.repeats_suppressed.inc(len(result.messages) - len(fresh))
        return fresh

    def _send(self, message: Encoded, partition: int) -> None:
        # Queued, not awaited: under exactly-once every write of one event (table changelog and outputs) is queued
        # in the same synchronous step, so a commit never falls between them (see faust_compat.flush_before_commit).
        self.outputs[message.topic].send_soon(key=message.key, value=message.value, partition=partition,
                                               headers=message.headers, timestamp=_seconds(message.timestamp_ms))

    @staticmethod
    def _on_failure(delivered: asyncio.Future) -> None:
        if delivered.cancelled() or delivered.exception() is None:
            return
        # an output or a state that Kafka did not take: stop, so that the input is read again from the last commit
        stop_uncommitted(f"a write was not delivered: {delivered.exception()!r}")

    def _on_state_sent(self, partition: int, delivered: asyncio.Future) -> None:
        # what Faust's table does at least once: the store remembers the changelog offset it holds, so a restart
        # on an intact data dir reads only the changelog after it (a failure is _on_failure's, via _send_now)
        if not delivered.cancelled() and delivered.exception() is None:
            self.table.data.set_persisted_offset(TP(self.changelog, partition), delivered.result().offset)

    async def _send_now(self, topic: str, key: bytes | None, value: bytes | None, partition: int,
                        timestamp: float | None, headers: Any) -> asyncio.Future:
        delivered = await self.app.producer.send(topic, key, value, partition, timestamp, headers)
        delivered.add_done_callback(self._on_failure)
        return delivered

    async def _write_now(self, result: Result, partition: int) -> None:
        sends = [(m.topic, m.key, m.value, _seconds(m.timestamp_ms), m.headers)
                 for m in self._unsent(result, partition)]
        for key, state in result.writes.items():
            self.table.data[key] = state  # the local store now; its changelog record once the outputs are in
        await self.writes.write(partition, sends, result.writes.items())


def _add_ticker(app: faust.App, settings: Settings, partitions: int, codec: Codec, work: CaseWork,
                clock: Clock) -> None:
    """Clock ticks to every partition each interval, and one more to a partition as soon as its deadline is due."""

    async def send_tick(p: int, now: datetime, kind: str) -> None:
        record = {"event_id": f"tick:{settings.source}:{p}:{int(now.timestamp() * 1000)}{kind}",
                  "occurred_at": now, "source": settings.source, "partition": p}
        message = codec.encode("ClockTicked", record, validate=False)
        await app.producer.send(message.topic, message.key, message.value, p, _seconds(message.timestamp_ms),
                                message.headers)

    @app.timer(settings.tick_interval, name="ticker")
    async def tick() -> None:
        now = clock()
        for p in range(partitions):
            await send_tick(p, now, "")

    ticked: dict[int, datetime] = {}

    @app.timer(DUE_CHECK_SECONDS, name="due-ticker")
    async def tick_when_due() -> None:
        # Between ticks a deadline would wait up to a whole interval: as soon as the wall clock passes the
        # earliest pending deadline of a partition this worker owns, one more tick goes to that partition.
        now = clock()
        for p, due in work.earliest_due().items():
            if due <= now and (p not in ticked or ticked[p] < due):
                ticked[p] = now
                await send_tick(p, now, ":due")


class RecentOutputs:
    """The outputs standing on the recent tail of the output topics, per partition this worker owns.

    Outputs are sent before the input's offset is committed, so a worker that crashed, or a partition that moved,
    replays the inputs after the last commit and makes their outputs again, with the same ids. Before it handles
    a partition's first message, the worker reads the last TAIL messages of each output topic's partition (the
    ids travel in the `dt-output-id` header, what a correction withdraws in `dt-supersedes`) and does not send
    what is already there: a consumer sees each output once. An id counts as sent as often as it was sent less
    as often as a correction withdrew it, so an output that a later correction makes follow again is sent again.
    """

    TAIL = 20_000

    def __init__(self, client_config: dict[str, Any], topics: list[str]) -> None:
        """Bind the kafka-python client settings and the output topics (partitioned like the inputs)."""
        self.client_config, self.topics = client_config, topics
        self._standing: dict[int, Counter[bytes]] = {}

    def loaded(self, partition: int) -> bool:
        """True when the partition's tail has been read."""
        return partition in self._standing

    def load(self, partition: int) -> int:
        """Read the tail of every output topic's partition; returns how many output ids were found."""
        from kafka import KafkaConsumer
        from kafka import TopicPartition as KafkaTP

        standing: Counter[bytes] = Counter()
        consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                                 client_id="detainer-tracker-recent-outputs", **self.client_config)
        try:
            tps = [KafkaTP(t, partition) for t in self.topics]
            consumer.assign(tps)
            ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - self.TAIL))
            while [tp for tp in tps if consumer.position(tp) < ends[tp]]:
                for records in consumer.poll(timeout_ms=500).values():
                    for r in records:
                        _count_sent(standing, r.headers or ())
        finally:
            consumer.close()
        self._standing[partition] = standing
        return len(standing)

    def already_sent(self, partition: int, message: Encoded) -> bool:
        """True when this output stands on its topic already; else it is counted as sent from now on."""
        standing = self._standing.setdefault(partition, Counter())
        ids = [v for k, v in message.headers if k == HEADER_OUTPUT_ID]
        if ids and standing.get(ids[0], 0) > 0:
            return True
        _count_sent(standing, message.headers, known_only=True)  # the tail's ids only: memory stays bounded
        return False

    def forget(self, partitions: Any) -> None:
        """Drop what is known of partitions this worker no longer owns."""
        for p in partitions:
            self._standing.pop(p, None)


def _count_sent(standing: Counter[bytes], headers: Any, known_only: bool = False) -> None:
    for k, v in headers:
        if k == HEADER_OUTPUT_ID and (v in standing or not known_only):
            standing[v] += 1
        elif k == HEADER_SUPERSEDES:
            for withdrawn in v.split(b","):
                if withdrawn in standing or not known_only:
                    standing[withdrawn] -= 1


def _credentials(settings: Settings) -> Any:
    if not settings.secured:
        return None
    if not settings.sasl:  # SSL: the client certificate is the principal
        return faust.SSLCredentials(settings.ssl_context)
    return faust.SASLCredentials(username=settings.sasl_username, password=settings.sasl_password,
                                 mechanism=settings.sasl_mechanism, ssl_context=settings.ssl_context)


def _metrics(codec: Codec, book: rulebook.RuleBook, registry: CollectorRegistry) -> Metrics:
    def symbols(type_name: str, field: str) -> list[str]:
        spec = next(f for f in codec.registry.latest(type_name).raw["fields"] if f["name"] == field)
        return list(spec["type"]["symbols"])

    reviews = [rule for rule in book.rules if rule.startswith("review.")]
    return Metrics(registry, symbols("DeadLetter", "reason_code"), reviews)


def _count_lag(app: faust.App, metrics: Metrics, msg: Any, topic_ids: dict[str, str]) -> None:
    """Messages behind the end of the partition the message came from (the high watermark the fetch saw)."""
    try:
        highwater = app.consumer.highwater(msg.tp)
    except (AttributeError, KeyError):
        return
    if highwater is not None:
        metrics.lag.labels(topic_ids.get(msg.topic, "unknown"), str(msg.partition)).set(
            max(highwater - msg.offset - 1, 0))


def _add_gate(app: faust.App, settings: Settings, topics: Topics, codec: Codec, outputs: dict[str, Any],
              metrics: Metrics, clock: Clock) -> None:
    """The CLETS gate: an agent over the query topic, the agency registry read whole by every worker."""
    gate = GateWork(clets.load_rows(), codec, settings.source)
    deadletter = outputs[topics["deadletter"].name]

    async def dead_letter(result: Result) -> None:
        metrics.gate_step(result, None)
        for message in result.messages:
            await deadletter.send(key=message.key, value=message.value, headers=message.headers)

    registry = topics["clets_agreements"]
    reader = RegistryReader(settings.aiokafka_client_config(), registry.name, registry.partitions, gate, dead_letter)
    topic_ids = {t.name: t.spec.id for t in topics}
    app.gate, app.registry_reader = gate, reader  # type: ignore[attr-defined]

    @app.task
    async def read_registry() -> None:
        await reader.run()

    queries = app.topic(topics["clets_queries"].name, key_serializer="raw", value_serializer="raw",
                        allow_empty=True)
    recent = RecentOutputs(settings.kafka_client_config(), [topics["clets_decisions"].name])

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: Any, revoked: Any, **_: Any) -> None:
        recent.forget({tp.partition for tp in revoked})


    @app.agent(queries, name="clets-gate", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def decide_queries(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            await reader.ready.wait()
            if not recent.loaded(msg.partition):
                recent.load(msg.partition)
            where = Coordinates(msg.topic, msg.partition, msg.offset,
                                int(msg.timestamp * 1000) if msg.timestamp else None)
            result, ruling = gate.handle_query(where, event.key, event.value, event.headers, clock())
            if ruling is not None and ruling.rule_id == clets.UNKNOWN_AGENCY and await reader.catch_up(
                    received=msg.time_in):
                # the agency may have been registered after this worker last read the registry
                result, ruling = gate.handle_query(where, event.key, event.value, event.headers, clock())
            try:
                for message in result.messages:
                    if recent.already_sent(msg.partition, message):
                        metrics.repeats_suppressed.inc()
                        continue
                    outputs[message.topic].send_soon(key=message.key, value=message.value,
                                                      partition=msg.partition, headers=message.headers,
                                                      timestamp=_seconds(message.timestamp_ms))
            except Exception as exc:  # noqa: BLE001 - Kafka: only it stops the worker
                stop_uncommitted(f"CLETS query at partition {msg.partition} offset {msg.offset}: {exc!r}")
            metrics.gate_step(result, ruling)
            _count_lag(app, metrics, msg, topic_ids)


def stop_uncommitted(why: str) -> None:
    """Exit at once, committing nothing more: the input whose writes failed is read again by the next start.

    A graceful stop would commit the offsets of what was handed to the agent, the failed input's among them, and
    the input would be lost without a trace; the offsets committed so far are all of inputs whose outputs and states
    are in Kafka (`OrderedWrites.drain` runs before every commit), so nothing is lost by not stopping gracefully.
    """
    log.critical("%s; the worker exits without committing (status %d) and resumes from its last commit when "
                 "restarted", why, EXIT_INFRASTRUCTURE)
    logging.shutdown()
    os._exit(EXIT_INFRASTRUCTURE)


def _seconds(timestamp_ms: int | None) -> float | None:
    # Faust takes record timestamps in seconds
    return timestamp_ms / 1000 if timestamp_ms is not None else None


def _ensure_loaded(work: CaseWork, table: Any, partition: int, partitions: int) -> None:
    """After a partition is assigned (and its table restored), rebuild its engine's queue from the table."""
    if work.has_partition(partition):
        return
    pending = work.load_partition(partition, _partition_items(table, partition, partitions))
    log.info("partition %d: %d pending deadline(s) loaded from the cases table", partition, pending)


def _partition_items(table: Any, partition: int, partitions: int) -> Any:
    """The cases of one partition: its own RocksDB (Faust keeps one per partition), else a filtered scan."""
    own = partition_items(table.data, partition)
    if own is not None:
        return ((k, v) for k, v in own if v is not None)
    return ((k, v) for k, v in table.items() if v is not None and partition_of(k, partitions) == partition)

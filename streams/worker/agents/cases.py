"""The case-processor agent: every message of the case topics and the clock through the step, written in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import TP
from mode import CrashingSupervisor
from prometheus_client import generate_latest

from streams.config import Settings
from streams.wire.codec import Coordinates, Encoded
from streams.worker.faust_compat import drain_before_flush, flush_before_commit
from streams.worker.metrics import Metrics
from streams.worker.outputs import RecentOutputs
from streams.worker.progress import ProgressGuard
from streams.worker.runtime import Clock, behind, count_lag, seconds, stop_uncommitted, wall_clock
from streams.worker.state.table import BytesTable, ensure_loaded
from streams.worker.state.writes import OrderedWrites
from streams.worker.step import CaseWork, Result

log = logging.getLogger(__name__)
GAUGE_SECONDS = 2.0


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
        #: with the ticker on, what sends a partition its tick at once when a message leaves a deadline due
        self.when_due: Callable[[int], Awaitable[None]] | None = None
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
            ensure_loaded(work, table, msg.partition, self.settings.partitions)
            if not self.recent.loaded(msg.partition):
                # read before this partition's first output, once this worker's writes in flight have landed
                try:
                    found = await self.recent.load_after(app.producer.flush, msg.partition)
                except Exception as exc:  # noqa: BLE001 - Kafka: only it stops the worker
                    stop_uncommitted(f"partition {msg.partition}: its writes in flight failed: {exc!r}")
                if found is not None:
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
            lag = behind(app, msg)
            if self.when_due is not None and not lag:  # a worker behind completes instants anyway
                try:
                    await self.when_due(msg.partition)
                except Exception as exc:  # noqa: BLE001 - Kafka: only this stops the worker
                    stop_uncommitted(f"partition {msg.partition}: its due tick failed: {exc!r}")
            self.stalls.progressed(msg.tp, msg.offset, time.monotonic())
            self.guard.handled()
            waited = time.monotonic() - msg.time_in if msg.time_in is not None else None
            try:
                self.metrics.case_step(result, self.topic_ids.get(msg.topic, "unknown"), self.clock(), waited)
                count_lag(self.metrics, msg, self.topic_ids, lag)
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
                                               headers=message.headers, timestamp=seconds(message.timestamp_ms))

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
        sends = [(m.topic, m.key, m.value, seconds(m.timestamp_ms), m.headers)
                 for m in self._unsent(result, partition)]
        for key, state in result.writes.items():
            self.table.data[key] = state  # the local store now; its changelog record once the outputs are in
        await self.writes.write(partition, sends, result.writes.items())

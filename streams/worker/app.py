"""The Faust app of the case processor, built by `create_app(settings, clock, registry)`; importing it connects nowhere.

One agent reads every co-partitioned case topic and the clock as raw bytes (so bad input becomes a dead letter
instead of a crash), keeps each booking's case and pending deadlines in a table on the same partitions, and
writes the outputs. A timer writes a wall-clock tick to every clock partition each tick interval (a second by
default), and one more to a partition of this worker as soon as one of its deadlines comes due. The agent is thin:
decode, load, core, send, store, all in `CaseWork`; no law here. A second agent is the CLETS gate: it
decides each query against the agency registry, which every worker reads whole (`GateWork`, `RegistryReader`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from streams import __version__
from streams.config import Settings
from streams.core.law import rulebook
from streams.wire.codec import Codec
from streams.wire.schemas import SchemaRegistry
from streams.wire.topics import CASE_INPUTS, CASE_OUTPUTS, WORKER_OUTPUTS, Topics
from streams.worker.agents.cases import CaseProcessor
from streams.worker.agents.gate import add_gate
from streams.worker.agents.ticker import add_ticker
from streams.worker.collector import schedule_collections
from streams.worker.faust_compat import CaseAssignor, IdempotentProducer
from streams.worker.metrics import Metrics
from streams.worker.outputs import RecentOutputs
from streams.worker.progress import ProgressGuard
from streams.worker.runtime import Clock, stop_uncommitted, wall_clock
from streams.worker.scheduling import merged_for
from streams.worker.stalls import add_watchdog
from streams.worker.state.local import disk_free, take_rebuilt
from streams.worker.state.table import BytesTable, changelog_restorer
from streams.worker.step import CaseWork

log = logging.getLogger(__name__)
PRODUCER_LINGER_SECONDS = 0.005

__all__ = ["Clock", "consumer_options", "create_app", "run", "wall_clock"]


def create_app(settings: Settings, clock: Clock, registry: CollectorRegistry) -> faust.App:
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
               for t in topics if t.spec.id in WORKER_OUTPUTS}
    channel = app.topic(*names, key_serializer="raw", value_serializer="raw", allow_empty=True)
    app.transport.Consumer = consumer  # before the consumer is made, at the worker's start
    app.transport.Producer = IdempotentProducer  # and the producer, at the first send
    table = app.tables.add(BytesTable(app, name="cases", beacon=app.tables.beacon, default=None,
                                      partitions=settings.partitions, options={"driver": "rocksdict"}))
    if settings.store != "memory":
        table.restore = changelog_restorer(app, table, settings)
    metrics = _metrics(codec, book, registry)
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
    add_gate(app, settings, topics, codec, outputs, metrics, clock)
    if settings.ticker:
        processor.when_due = add_ticker(app, settings, topics["clock"].partitions, codec, work, clock)
    schedule_collections(app)
    app.work, app.cases_table, app.metrics, app.progress_guard = work, table, metrics, guard  # type: ignore[attr-defined]
    return app


def run(settings: Settings, loglevel: str) -> None:
    """Run the worker until it is stopped: the app on the wall clock, its metrics in a registry of its own.

    Returns after a clean stop; raises SystemExit with the status of any other.
    """
    app = create_app(settings, wall_clock, CollectorRegistry())
    try:
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    except SystemExit as done:
        if done.code not in (None, 0):
            raise


def _faust_app(settings: Settings, scheduler: type, assignor: type) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store="memory://" if settings.store == "memory" else "rocksdb://",
        datadir=str(settings.data_dir),
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        autodiscover=False,
        PartitionAssignor=assignor,
        ConsumerScheduler=scheduler,
        table_standby_replicas=1,
        **consumer_options(settings.commit_interval),
        broker_credentials=_credentials(settings),
    )


def consumer_options(commit_interval: float) -> dict[str, Any]:
    """How the worker fetches, commits and produces (Faust settings); the do-nothing benchmark agent uses them too."""
    return {
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": commit_interval,
        # At most 64 KiB per partition and fetch: the event-time merge drains a fetch partition by partition, so
        # a fetch must be seconds of work, or a partition waits for the others long enough to look stalled.
        "consumer_max_fetch_size": 64 * 1024,
        # Up to 5 ms for the producer to gather a partition's writes into one request: fewer, larger requests cost
        # the worker and the broker less per message (a tenth more events/s on a backlog) and add at most 5 ms.
        "producer_linger": PRODUCER_LINGER_SECONDS,
        # A dead worker's partitions move after 10 s of silence: a release must not wait a minute for them.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 3.0,
    }


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

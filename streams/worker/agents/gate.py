"""The CLETS gate's agent: each query decided against the agency registry, which every worker reads whole."""

from __future__ import annotations

from typing import Any

import faust
from mode import CrashingSupervisor

from streams.config import Settings
from streams.core import clets
from streams.wire.codec import Codec, Coordinates
from streams.wire.topics import Topics
from streams.worker.gate import GateWork, RegistryReader
from streams.worker.metrics import Metrics
from streams.worker.outputs import RecentOutputs
from streams.worker.runtime import Clock, behind, count_lag, seconds, stop_uncommitted
from streams.worker.step import Result


def add_gate(app: faust.App, settings: Settings, topics: Topics, codec: Codec, outputs: dict[str, Any],
              metrics: Metrics, clock: Clock) -> None:
    """The CLETS gate: an agent over the query topic, the agency registry read whole by every worker."""
    gate = GateWork(clets.load_rows(), codec, settings.source)
    deadletter = outputs[topics["deadletter"].name]

    async def dead_letter(result: Result) -> None:
        metrics.gate_step(result, None)
        for message in result.messages:
            await deadletter.send(key=message.key, value=message.value, headers=message.headers)

    registry = topics["clets_agreements"]
    reader = RegistryReader(settings.aiokafka_client_config(), registry.name, registry.partitions, gate, dead_letter,
                            clock)
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
                try:
                    await recent.load_after(app.producer.flush, msg.partition)
                except Exception as exc:  # noqa: BLE001 - Kafka: only it stops the worker
                    stop_uncommitted(f"CLETS queries partition {msg.partition}: writes in flight failed: {exc!r}")
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
                                                      timestamp=seconds(message.timestamp_ms))
            except Exception as exc:  # noqa: BLE001 - Kafka: only it stops the worker
                stop_uncommitted(f"CLETS query at partition {msg.partition} offset {msg.offset}: {exc!r}")
            metrics.gate_step(result, ruling)
            count_lag(metrics, msg, topic_ids, behind(app, msg))

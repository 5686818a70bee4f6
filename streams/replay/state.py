"""One booking's state as the case processor holds it, read back from the cases table's changelog for audit.

The changelog (`<app id>-cases-changelog`, compacted, keyed by booking id) holds each booking's latest state as a
`CaseState` record (`streams.wire.state`); a booking's state is on the partition of its id. The newest value for
the booking is what a worker restoring that partition would hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.errors import KafkaUnavailable
from streams.wire.reach import check
from streams.wire.state import StateCodec
from streams.wire.topics import partition_of

#: how long a poll may come back empty before the read stops short of the end
EMPTY_POLLS = 20


def read_state(client_config: dict[str, Any], changelog: str, booking_id: str, states: StateCodec,
               progress: Callable[[int, int], None] | None = None) -> dict[str, Any] | None:
    """The booking's newest `CaseState` record on the changelog, resolved into the newest schema; None if absent."""
    check(client_config)
    key = booking_id.encode()
    try:
        consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, client_id="detainer-tracker-state",
                                 **client_config)
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: {exc}") from exc
    try:
        found = consumer.partitions_for_topic(changelog)
        if not found:
            raise KafkaUnavailable(f"topic {changelog} does not exist (is the worker group's id right?)")
        tp = TopicPartition(changelog, partition_of(key, len(found)))
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        start, end = consumer.position(tp), consumer.end_offsets([tp])[tp]
        latest, empty = None, 0
        while consumer.position(tp) < end and empty < EMPTY_POLLS:
            batch = consumer.poll(timeout_ms=500).get(tp, [])
            empty = 0 if batch else empty + 1
            for record in batch:
                if record.key == key:
                    latest = record.value
            if progress is not None:
                progress(consumer.position(tp) - start, end - start)
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot read {changelog}: {exc}") from exc
    finally:
        consumer.close()
    return None if latest is None else states.read(latest)

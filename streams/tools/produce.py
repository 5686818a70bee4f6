"""Sending events into Kafka: the Python API for jail integrations and `detainer-tracker produce FILE`.

Input is JSON lines (`streams.wire.jsonlines`): each line is checked on its own, and a bad line is reported with its
number and reason and never stops its good neighbours. Sends use an idempotent producer with acks=all, keyed by
the event's key field so every event of a booking lands on the booking's partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.core.admission import TimeWindow, check_size
from streams.errors import EventValidationError, KafkaUnavailable
from streams.wire.codec import Codec, Encoded
from streams.wire.jsonlines import BadLine, Line, read_jsonl
from streams.wire.reach import check


@dataclass
class ProduceReport:
    """What a produce run did: how many lines were sent and which were rejected."""

    sent: int = 0
    rejected: list[BadLine] = field(default_factory=list)
    #: lines sent otherwise than written, and how
    warnings: list[BadLine] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejected


#: how every event is sent: written once however often the client retries, and acknowledged by every replica
PRODUCER_SETTINGS: dict[str, Any] = {"acks": "all", "enable_idempotence": True, "linger_ms": 5,
                                     "max_in_flight_requests_per_connection": 5}


class EventProducer:
    """An idempotent, acks=all producer that encodes records with the codec and routes them to their topic."""

    def __init__(self, client_config: dict[str, Any], codec: Codec,
                 client_id: str = "detainer-tracker-producer") -> None:
        """Connect to Kafka; `client_config` is Settings.kafka_client_config() plus any extra producer settings."""
        self.codec = codec
        check(client_config)
        try:
            self._producer = KafkaProducer(client_id=client_id, **{**PRODUCER_SETTINGS, **client_config})
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: "
                                   f"{exc}") from exc

    def send(self, type_name: str, record: Mapping[str, Any], validate: bool = True) -> Any:
        """Encode and send one record; returns the kafka-python future of its delivery."""
        return self.send_encoded(self.codec.encode(type_name, record, validate=validate))

    def send_encoded(self, message: Encoded, partition: int | None = None) -> Any:
        """Send an already encoded message (optionally to a given partition)."""
        return self._producer.send(message.topic, key=message.key, value=message.value,
                                   headers=message.headers, partition=partition, timestamp_ms=message.timestamp_ms)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything sent so far is acknowledged."""
        self._producer.flush(timeout)

    def close(self) -> None:
        """Flush and close the connection."""
        self._producer.close()

    def __enter__(self) -> EventProducer:
        """Use as a context manager: closed (and flushed) on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()

    def produce_lines(self, lines: Iterable[str | bytes], window: TimeWindow | None = None) -> ProduceReport:
        """Send every valid line, report every invalid one (and any the broker refused) with its number."""
        report = ProduceReport()
        pending = [(item, self.send_encoded(message)) for item, message in encoded_lines(lines, self.codec, report,
                                                                                        window)]
        self.flush()
        for line, future in pending:
            try:
                future.get(timeout=30)
            except Exception as exc:  # the broker's refusal of one line must not hide the others
                report.rejected.append(BadLine(line.number, f"not delivered: {exc}"))
                continue
            report.sent += 1
            report.by_type[line.type_name] = report.by_type.get(line.type_name, 0) + 1
        report.rejected.sort(key=lambda b: b.number)
        return report


def encoded_lines(lines: Iterable[str | bytes], codec: Codec, report: ProduceReport,
                  window: TimeWindow | None = None) -> Iterator[tuple[Line, Encoded]]:
    """Every line that would be sent, encoded; each bad one (and each warning) goes into `report` with its number."""
    for item in read_jsonl(lines, codec, window):
        if isinstance(item, BadLine):
            report.rejected.append(item)
            continue
        try:
            message = codec.encode(item.type_name, item.record, validate=False)
            check_size(message.value)  # what the worker would dead-letter, and the broker may refuse
        except EventValidationError as exc:
            report.rejected.append(BadLine(item.number, str(exc)))
            continue
        report.warnings += [BadLine(item.number, w) for w in item.warnings]
        yield item, message


def check_lines(lines: Iterable[str | bytes], codec: Codec, window: TimeWindow | None = None) -> ProduceReport:
    """What `produce` would send and reject, sending nothing (`--dry-run`): `sent` counts the lines that would go."""
    report = ProduceReport()
    for item, _ in encoded_lines(lines, codec, report, window):
        report.sent += 1
        report.by_type[item.type_name] = report.by_type.get(item.type_name, 0) + 1
    report.rejected.sort(key=lambda b: b.number)
    return report


def produce_file(stream: Iterable[str | bytes], producer: EventProducer,
                 window: TimeWindow | None = None) -> ProduceReport:
    """Produce every line of an open JSON-lines file (text, or binary: each line decoded on its own)."""
    return producer.produce_lines(stream, window)

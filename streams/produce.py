"""Sending events into Kafka: the Python API for jail integrations and `detainer-tracker produce FILE`.

Input is JSON lines, one event a line, in the JSON form of its Avro schema plus a `type` field naming the event
type. Each line is checked on its own: a bad line is reported with its number and reason and never stops its
good neighbours. Sends use an idempotent producer with acks=all, keyed by the event's key field so every event
of a booking lands on the booking's partition.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.admission import Refused, TimeWindow, check_fields, check_jurisdiction
from streams.codec import Codec, Encoded
from streams.errors import DetainerTrackerError, EventValidationError, KafkaUnavailable
from streams.law import places
from streams.law.places import Places
from streams.reach import check
from streams.schemas import from_json


@dataclass(frozen=True)
class Line:
    """One JSON line that parsed into an event record."""

    number: int
    type_name: str
    record: dict[str, Any]
    #: what was taken otherwise than written (a state spelled out, mapped to its code)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BadLine:
    """One JSON line that cannot be sent, and why."""

    number: int
    reason: str

    def __str__(self) -> str:
        """'line 7: reason', as reported to the user."""
        return f"line {self.number}: {self.reason}"


def read_jsonl(lines: Iterable[str], codec: Codec, window: TimeWindow | None = None,
               known: Places | None = None) -> Iterator[Line | BadLine]:
    """Parse and validate JSON lines; yield a Line or a BadLine for each non-blank line.

    A booking record's state and county are checked against `known` (default: the shipped table): an unknown one
    is a bad line; a state spelled out ("CALIFORNIA") or a county in another case is written as the table writes
    it, with a warning.
    """
    known = known or places.load()
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            obj = parse_object(text)
            if obj.get("type") == "BookingRecorded" and "state" not in obj:
                raise Refused("INVALID_FIELD", "a booking record must say its 'state' (the two-letter USPS code): "
                                               "the jurisdiction is never assumed")
            line = line_of(number, obj, codec)
            if window is not None:
                window.check(line.record)
            check_fields(line.record)
            mapped = check_jurisdiction(line.type_name, line.record, known)
            if mapped is not None:
                said = f"state {line.record.get('state')!r}, county {line.record.get('county')!r}"
                line = Line(number, line.type_name, mapped,
                            (f"{said} taken as {mapped['state']}, {mapped['county']}",))
            yield line
        except EventValidationError as exc:
            yield BadLine(number, str(exc))


def parse_line(number: int, text: str, codec: Codec) -> Line:
    """Parse one JSON line into a validated record; raise EventValidationError saying what is wrong."""
    return line_of(number, parse_object(text), codec)


def parse_object(text: str) -> dict[str, Any]:
    """One JSON line's object; raise EventValidationError when it is not one."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventValidationError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise EventValidationError("a line must hold one JSON object")
    return obj


def line_of(number: int, obj: dict[str, Any], codec: Codec) -> Line:
    """The validated record of one event object as JSON gives it; raise EventValidationError saying what is wrong."""
    type_name = obj.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise EventValidationError("missing 'type' (the event type, e.g. \"BookingRecorded\")")
    if type_name not in codec.topics.event_types:
        raise EventValidationError(f"unknown event type {type_name!r}")
    record = from_json(codec.registry.latest(type_name), {k: v for k, v in obj.items() if k != "type"})
    codec.validate(type_name, record)
    return Line(number, type_name, record)


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


class EventProducer:
    """An idempotent, acks=all producer that encodes records with the codec and routes them to their topic."""

    def __init__(self, client_config: dict[str, Any], codec: Codec,
                 client_id: str = "detainer-tracker-producer") -> None:
        """Connect to Kafka; `client_config` is Settings.kafka_client_config() plus any extra producer settings."""
        self.codec = codec
        check(client_config)
        try:
            self._producer = KafkaProducer(client_id=client_id, acks="all", enable_idempotence=True, linger_ms=5,
                                           max_in_flight_requests_per_connection=5, **client_config)
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

    def produce_lines(self, lines: Iterable[str], window: TimeWindow | None = None) -> ProduceReport:
        """Send every valid line, report every invalid one (and any the broker refused) with its number."""
        report = ProduceReport()
        pending: list[tuple[Line, Any]] = []
        for item in read_jsonl(lines, self.codec, window):
            if isinstance(item, BadLine):
                report.rejected.append(item)
                continue
            report.warnings += [BadLine(item.number, w) for w in item.warnings]
            pending.append((item, self.send(item.type_name, item.record, validate=False)))
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


def produce_file(stream: TextIO, producer: EventProducer, window: TimeWindow | None = None) -> ProduceReport:
    """Produce every line of an open JSON-lines file whose instants lie in the window."""
    try:
        return producer.produce_lines(stream, window)
    except UnicodeDecodeError as exc:
        raise DetainerTrackerError(f"the file is not UTF-8 text: {exc}") from exc

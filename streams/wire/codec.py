"""Avro encoding and decoding of every event, with bad input kept as a dead letter instead of an exception.

On the wire a message is Avro binary (schemaless, fastavro) with headers: `dt-type`, the event type,
`dt-version`, the writer's schema version, and `dt-schema`, the writer schema's CRC-64-AVRO fingerprint. A reader
decodes with that writer schema and resolves into the newest schema of the type, so data written today stays
readable after the schemas evolve. Avro carries no type tag, so one type's bytes can decode as another's; the
fingerprint, checked when present, tells a payload from a mislabelled one.

`Codec.decode` never raises on bad input: it returns a `Decoded` event or a `DeadLetter` holding the raw
bytes, the reason and the source topic, partition and offset.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import fastavro
from fastavro.validation import ValidationError

from streams.errors import EventValidationError
from streams.wire.schemas import Schema, SchemaRegistry
from streams.wire.topics import Topics

HEADER_TYPE = "dt-type"
HEADER_VERSION = "dt-version"
HEADER_SCHEMA = "dt-schema"
HEADER_OUTPUT_ID = "dt-output-id"
#: what a dead letter keeps of the message it holds: its first bytes (the whole stays at its source coordinates)
DEAD_LETTER_KEEP = 64 * 1024
DEAD_LETTER_HEADERS, DEAD_LETTER_HEADER_KEEP, DEAD_LETTER_REASON_KEEP = 32, 1024, 2000
#: how many sets of message labels (type, version, fingerprint header, topic) the codec remembers as passed
PLANS_KEPT = 1024
#: on a correction: the output ids it withdraws, comma-separated, so a restarted worker reads them unparsed
HEADER_SUPERSEDES = "dt-supersedes"

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None


class Coordinates(NamedTuple):
    """Where a message was read from (a named tuple: one is made for every message read)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


class Decoded(NamedTuple):
    """A message that decoded and validated: its type, writer version and record (newest schema's shape)."""

    type_name: str
    version: int
    record: dict[str, Any]
    coordinates: Coordinates | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be used, with everything needed to find it again and see why."""

    reason_code: str
    reason: str
    coordinates: Coordinates
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)
    schema_tried: str | None = None

    booking_id: str | None = None

    def to_record(self, source: str, rejected_at: datetime) -> dict[str, Any]:
        """The record for the dead-letter topic; its event_id is derived from the source coordinates.

        However large or odd the message, the record stays small: the value, key, headers and reason are kept
        up to limits, with the whole value's size and SHA-256.
        """
        c = self.coordinates
        return {
            "event_id": dead_letter_id(c),
            "occurred_at": rejected_at,
            "source": source,
            "source_topic": c.topic,
            "source_partition": c.partition,
            "source_offset": c.offset,
            "source_timestamp": _instant_or_none(c.timestamp_ms),
            "key": self.key[:DEAD_LETTER_HEADER_KEEP] if self.key is not None else None,
            "value": self.value[:DEAD_LETTER_KEEP] if self.value is not None else None,
            "value_size": len(self.value) if self.value is not None else None,
            "value_sha256": hashlib.sha256(self.value).hexdigest() if self.value is not None else None,
            "headers": {str(k)[:200]: v[:DEAD_LETTER_HEADER_KEEP]
                        for k, v in list(self.headers.items())[:DEAD_LETTER_HEADERS]},
            "reason_code": self.reason_code,
            "reason": self.reason[:DEAD_LETTER_REASON_KEEP],
            "schema_tried": self.schema_tried,
            "booking_id": self.booking_id[:DEAD_LETTER_HEADER_KEEP] if self.booking_id else None,
        }


def dead_letter_id(coordinates: Coordinates) -> str:
    """A dead letter's id: one per source message, so a dead letter written again after a crash is recognised."""
    return f"deadletter:{coordinates.topic}:{coordinates.partition}:{coordinates.offset}"


def _instant_or_none(timestamp_ms: int | None) -> datetime | None:
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Encoded:
    """A message ready for a producer."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    #: the record's Kafka timestamp: the event time (an input's occurred_at, the stream instant an output was
    #: decided at), so that Kafka's own time index (offsets_for_times) finds records by when things happened
    timestamp_ms: int | None = None


class _Rejected(Exception):
    def __init__(self, code: str, reason: str, schema: Schema | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.schema = code, reason, schema


class Codec:
    """Encodes records of any registered event type and decodes raw messages; schemas are parsed once."""

    def __init__(self, registry: SchemaRegistry, topics: Topics) -> None:
        """Bind the schema registry and the topic registry; check every topic's types have schemas."""
        self.registry = registry
        self.topics = topics
        missing = [t for t in topics.event_types if t not in registry.types]
        if missing:
            raise EventValidationError(f"event types without a schema: {', '.join(missing)}")
        self._plans: dict[tuple[bytes | None, bytes | None, bytes | None, str], _Plan] = {}

    # --- writing ---------------------------------------------------------------------------------------

    def validate(self, type_name: str, record: Mapping[str, Any]) -> Schema:
        """Check a record against the newest schema of its type; raise EventValidationError saying what is wrong."""
        schema = self.registry.latest(type_name)
        missing = [f for f in schema.required_fields if record.get(f) is None]
        if missing:
            raise EventValidationError(f"{type_name}: missing required field(s) {', '.join(missing)}")
        unknown = sorted(set(record) - set(schema.field_names) - {"type"})
        if unknown:
            raise EventValidationError(f"{type_name}: unknown field(s) {', '.join(unknown)}")
        try:
            fastavro.validation.validate(dict(record), schema.parsed, raise_errors=True, strict=True)
        except ValidationError as exc:
            raise EventValidationError(f"{type_name}: {'; '.join(_plain(e, type_name) for e in exc.errors)}") from None
        return schema

    def encode(self, type_name: str, record: Mapping[str, Any], validate: bool = True,
               at: datetime | None = None) -> Encoded:
        """Encode a record with the newest schema of its type, addressed to its topic and keyed by its key.

        The record's timestamp is `at`, else the record's own `occurred_at` (inputs), else left to the producer.
        """
        schema = self.validate(type_name, record) if validate else self.registry.latest(type_name)
        topic = self.topics.for_event(type_name)
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, schema.parsed, {k: v for k, v in record.items() if k != "type"})
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise EventValidationError(f"{type_name}: cannot encode: {exc}") from exc
        key_field = topic.spec.key_field
        key = str(record[key_field]).encode() if key_field else None
        headers = [(HEADER_TYPE, type_name.encode()), (HEADER_VERSION, str(schema.version).encode()),
                   (HEADER_SCHEMA, schema.fingerprint.encode())]
        # outputs and dead letters: consumers (and a restarted worker) tell repeats apart unread
        output_id = record.get("output_id") or (record.get("event_id") if type_name == "DeadLetter" else None)
        if output_id:
            headers.append((HEADER_OUTPUT_ID, str(output_id).encode()))
        if record.get("supersedes"):
            headers.append((HEADER_SUPERSEDES, ",".join(record["supersedes"]).encode()))
        stamp = at or record.get("occurred_at")
        return Encoded(topic.name, key, buf.getvalue(), headers,
                       int(stamp.timestamp() * 1000) if isinstance(stamp, datetime) else None)

    # --- reading ---------------------------------------------------------------------------------------

    def decode(self, value: bytes | None, headers: Headers, coordinates: Coordinates,
               key: bytes | None = None) -> Decoded | DeadLetter:
        """Decode one raw message; any problem yields a DeadLetter with the reason and coordinates."""
        hdrs = headers_dict(headers)
        try:
            labels = (hdrs.get(HEADER_TYPE), hdrs.get(HEADER_VERSION), hdrs.get(HEADER_SCHEMA), coordinates.topic)
            plan = self._plans.get(labels) or self._plan(labels, hdrs, coordinates)
            if value is None:
                raise _Rejected("MALFORMED", "the message has no value (tombstone)", plan.writer)
            record = _read(value, plan.writer, plan.reader)
            plan.check(record, key)
            return Decoded(plan.writer.type_name, plan.writer.version, record, coordinates)
        except _Rejected as rej:
            return DeadLetter(rej.code, rej.reason, coordinates, key, value, hdrs,
                              rej.schema.label if rej.schema else None)

    def _plan(self, labels: tuple[bytes | None, bytes | None, bytes | None, str], hdrs: dict[str, bytes],
              coordinates: Coordinates) -> _Plan:
        # The whole check of a message's labels. Labels that pass are remembered (a few dozen sets at most: one
        # per type, version, fingerprint header and topic; never more than PLANS_KEPT), so the next message
        # labelled alike is read at once.
        type_name, version = _type_and_version(hdrs)
        writer = self.registry.get(type_name, version)
        if writer is None:
            if type_name not in self.registry.types:
                raise _Rejected("UNKNOWN_EVENT_TYPE", f"unknown event type {type_name!r}")
            known = self.registry.latest(type_name).version
            raise _Rejected("UNKNOWN_SCHEMA_VERSION",
                            f"{type_name} has no schema version {version} (known: 1..{known})")
        fingerprint = hdrs.get(HEADER_SCHEMA)
        if fingerprint is not None and fingerprint != writer.fingerprint.encode():
            raise _Rejected("TYPE_MISMATCH", f"header {HEADER_SCHEMA} is {fingerprint[:40]!r}, the fingerprint of "
                                             f"another schema than {writer.label} ({writer.fingerprint}): the payload "
                                             f"is not the {HEADER_TYPE} it is labelled", writer)
        topic = self.topics.by_name(coordinates.topic)
        if topic is not None and type_name not in topic.spec.event_types:
            raise _Rejected("WRONG_TOPIC", f"{type_name} does not belong on {coordinates.topic}", writer)
        plan = _Plan(writer, self.registry.latest(type_name), topic.spec.key_field if topic else None)
        if len(self._plans) < PLANS_KEPT:
            self._plans[labels] = plan
        return plan


class _Plan:
    """How to read and check messages with one set of labels that passed: writer and reader schemas, key field."""

    __slots__ = ("writer", "reader", "key_field", "nonempty")

    def __init__(self, writer: Schema, reader: Schema, key_field: str | None) -> None:
        self.writer, self.reader, self.key_field = writer, reader, key_field
        self.nonempty = tuple(n for n in ("event_id", "output_id", key_field) if n and n in reader.field_names)

    def check(self, record: dict[str, Any], key: bytes | None) -> None:
        """The fields every message must fill, and the key that must be the record's own."""
        for name in self.nonempty:
            if record.get(name) in (None, ""):
                raise _Rejected("MISSING_FIELD", f"required field {name!r} is empty", self.writer)
        key_field = self.key_field
        if key_field is None:
            return
        if key is None:
            raise _Rejected("KEY_MISMATCH", f"the message has no key; it must be the event's {key_field} "
                                            f"{record.get(key_field)!r}", self.writer)
        if str(record.get(key_field)).encode() != key:
            raise _Rejected("KEY_MISMATCH", f"message key {key[:200]!r} differs from the event's {key_field} "
                                            f"{record.get(key_field)!r}", self.writer)


def headers_dict(headers: Headers) -> dict[str, bytes]:
    """Headers as a dict of str to bytes, whatever form they came in."""
    if headers is None:
        return {}
    # a list or tuple of pairs, as Kafka clients give them, is taken as it is (the Mapping check costs more)
    items = headers if type(headers) in (list, tuple) else headers.items() if isinstance(headers, Mapping) else headers
    return {k if type(k) is str else str(k): (v if isinstance(v, bytes) else str(v).encode())
            for k, v in items if v is not None}


def _type_and_version(hdrs: dict[str, bytes]) -> tuple[str, int]:
    if HEADER_TYPE not in hdrs or HEADER_VERSION not in hdrs:
        missing = [h for h in (HEADER_TYPE, HEADER_VERSION) if h not in hdrs]
        raise _Rejected("MISSING_HEADER", f"missing header(s) {', '.join(missing)}")
    type_name = hdrs[HEADER_TYPE].decode("utf-8", errors="replace")
    try:
        version = int(hdrs[HEADER_VERSION])
    except ValueError:
        raise _Rejected("UNKNOWN_SCHEMA_VERSION",
                        f"header {HEADER_VERSION} is {hdrs[HEADER_VERSION]!r}, not a number") from None
    return type_name, version


def _read(value: bytes, writer: Schema, reader: Schema) -> dict[str, Any]:
    buf = io.BytesIO(value)
    try:
        record = fastavro.schemaless_reader(buf, writer.parsed,
                                            None if writer is reader else reader.parsed)
    except fastavro.read.SchemaResolutionError as exc:
        code = "MISSING_FIELD" if "default" in str(exc).lower() else "INVALID_FIELD"
        raise _Rejected(code, f"cannot resolve {writer.label} into {reader.label}: {exc}", writer) from None
    except EOFError:
        raise _Rejected("MALFORMED", f"not valid {writer.label} Avro: the message ends too early", writer) from None
    except Exception as exc:  # fastavro signals garbled input with many exception types
        raise _Rejected("MALFORMED", f"not valid {writer.label} Avro: {type(exc).__name__}: {exc}",
                        writer) from None
    if buf.tell() != len(value):
        raise _Rejected("MALFORMED", f"{len(value) - buf.tell()} bytes left over after reading {writer.label}",
                        writer)
    return record


def peek_occurred_at(value: bytes | None) -> int | None:
    """An input event's `occurred_at` in ms, read from its Avro bytes without decoding the rest; None if garbled.

    Every input schema begins with `event_id` (a string) and `occurred_at` (timestamp-millis), in every version (a
    test holds them to it): the consumer's scheduler orders records by when they happened, whatever timestamp
    their producer gave the record.
    """
    if not value:
        return None
    try:
        length, pos = _varint(value, 0)
        if length < 0 or pos + length > len(value):
            return None
        millis, _ = _varint(value, pos + length)
    except IndexError:
        return None
    return millis


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """One zig-zag varint (an Avro int or long) at `pos`: its value and the position after it."""
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def _plain(error: Any, type_name: str) -> str:
    """One fastavro validation error as a person reads it: the field, what it holds, what it may hold."""
    *_, record, field = ["", *str(getattr(error, "field", "") or "").split(".")]
    where = field if record in ("", type_name) else f"{field} of a {record}"
    return f"{where} is {getattr(error, 'datum', None)!r}; it must be {_expected(getattr(error, 'schema', None))}"


def _expected(schema: Any) -> str:
    if isinstance(schema, dict) and schema.get("type") == "enum":
        return "one of " + ", ".join(schema.get("symbols", []))
    if isinstance(schema, dict) and schema.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
        return "an ISO-8601 instant with its UTC offset"
    if isinstance(schema, dict) and schema.get("logicalType") == "date":
        return "a date YYYY-MM-DD"
    if isinstance(schema, dict):
        return {"array": "a list", "record": f"an object ({schema.get('name', '').rsplit('.', 1)[-1]})",
                "map": "an object"}.get(str(schema.get("type")), str(schema.get("type")))
    if isinstance(schema, list):
        return " or ".join(_expected(s) for s in schema)
    return {"string": "a string", "long": "a whole number", "int": "a whole number", "boolean": "true or false",
            "double": "a number", "float": "a number", "null": "null", "bytes": "bytes"}.get(str(schema),
                                                                                             str(schema))

"""A booking's engine state as versioned data: `engine.Booking` to and from its Avro record, `CaseState`.

The case processor's table and its changelog hold one value per booking: a byte saying the format (`FORMAT`),
a byte saying the `CaseState` schema version it is written in, then the Avro record
(`schemas/state/case_state/v<N>.avsc`). A reader resolves an older version into the newest, as events are
resolved, so a state written by an earlier release stays readable after an upgrade; `tail`, replay and an
auditor read it with the schema alone. The booking's events are kept each in its own event schema (type, version,
Avro bytes), so they evolve as events do. Values written by the release before this format (a pickle) are still
read (`LEGACY_FORMAT`), and are written again in this one the next time the booking changes.

Encoding and decoding are compiled once per schema into plain functions; the events and facts of a booking,
which do not change from one of its steps to the next, are encoded once while they are in use. A state is written
by `_Writer`, the schema compiled into functions that append Avro's binary encoding of each field to one buffer
(byte for byte what fastavro writes: a test holds them equal), with each held event's and facts' bytes spliced
in as they are; it is read by fastavro, which resolves older versions.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import pickle
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fastavro
import zstandard

from streams.config import REPO_ROOT
from streams.core import engine
from streams.core import events as ev
from streams.core.cases.state import Case, Interview, evolve
from streams.core.decisions import Deadline
from streams.core.law.detainers import Detainer
from streams.core.law.facts import Facts, Finding
from streams.wire.schemas import Schema, SchemaRegistry, to_json

#: the first byte of a value in this format
FORMAT = 4
#: the first byte of a value written by the release before: Zstandard-compressed pickle
LEGACY_FORMAT = 3
STATE_TYPE = "CaseState"
STATE_SCHEMAS = REPO_ROOT / "schemas" / "state"
#: the record names of the schema that are the core's dataclasses; every other record is a tuple, field by field
CLASSES: dict[str, type] = {"CaseState": engine.Booking, "Case": Case, "Facts": Facts, "Charge": ev.Charge,
                            "Conviction": ev.Conviction, "Finding": Finding, "Detainer": Detainer,
                            "Deadline": Deadline, "Interview": Interview}
_EVENT = "StoredEvent"
#: records whose values a booking keeps from one step to the next: converted once while held
_HELD_RECORDS = frozenset({"Facts"})
_HELD_LIMIT = 200_000

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


class StateError(ValueError):
    """A stored state that cannot be read."""


class StateCodec:
    """Writes bookings in the newest `CaseState` schema; reads every version of it and the legacy format."""

    def __init__(self, events: SchemaRegistry, root: Path = STATE_SCHEMAS) -> None:
        """Bind the event schemas (a booking's events are written in them) and the state schemas' folder."""
        self.events = events
        self.registry = SchemaRegistry(root)
        self.latest = self.registry.latest(STATE_TYPE)
        if self.latest.version > 255:
            raise StateError("a CaseState version must fit in one byte")
        self._encode = _Compiler(self).encoder(self.latest.raw)
        self._write = _Writer(self).writer(self.latest.raw)
        self._header = bytes((FORMAT, self.latest.version))
        # every version is resolved into the newest before it is decoded, so one decoder reads them all
        self._decode = _Compiler(self).decoder(self.latest.raw)
        # identity caches: an event or a Facts value is encoded once while it is held
        self._events = _Held()
        self._events_read: dict[tuple[str, int, bytes], ev.Event] = {}

    # --- writing ---------------------------------------------------------------------------------------

    def dump(self, booking: engine.Booking) -> bytes:
        """The table bytes of a booking."""
        out = bytearray(self._header)
        self._write(booking, out)
        return bytes(out)

    def dump_by_fastavro(self, booking: engine.Booking) -> bytes:
        """The table bytes of a booking as fastavro writes its record: what `dump` must equal."""
        buf = io.BytesIO()
        buf.write(self._header)
        fastavro.schemaless_writer(buf, self.latest.parsed, self._encode(booking))
        return buf.getvalue()

    def record(self, booking: engine.Booking) -> dict[str, Any]:
        """A booking as its `CaseState` record (what an auditor reads)."""
        return self._encode(booking)

    def stored_event(self, event: ev.Event) -> dict[str, Any]:
        """An event of a booking as its `StoredEvent` record: type, schema version, Avro bytes (made once)."""
        found = self._events.get(event)
        if found is not None:
            return found
        type_name = ev.type_name(event)
        schema = self.events.latest(type_name)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema.parsed, ev.to_record(event))
        return self._events.put(event, {"type": type_name, "version": schema.version, "avro": buf.getvalue()})

    @staticmethod
    def held(convert: Encode) -> Encode:
        """`convert`, done once per value while the value is held (by identity)."""
        cache = _Held()

        def once(value: Any) -> Any:
            found = cache.get(value)
            return found if found is not None else cache.put(value, convert(value))
        return once

    # --- reading ---------------------------------------------------------------------------------------

    def load(self, raw: bytes) -> engine.Booking:
        """The booking of table bytes, whichever version wrote them."""
        if not raw:
            raise StateError("an empty case state")
        if raw[0] == LEGACY_FORMAT:
            return _load_legacy(raw)
        if raw[0] != FORMAT or len(raw) < 2:
            shown = "1 or 2 (zlib)" if raw[0] == 0x78 else raw[0]
            raise StateError(f"case state format {shown} is not {FORMAT} (nor {LEGACY_FORMAT}): this worker cannot "
                             "read the cases table of that release; rebuild it from the input topics (a new "
                             "DT_TOPIC_PREFIX, or the case processor's group and changelog deleted)")
        return self._decode(self._read(raw[1], raw[2:]))

    def read(self, raw: bytes) -> dict[str, Any]:
        """The `CaseState` record of table bytes, resolved into the newest schema (for audit), whatever wrote it."""
        if raw and raw[0] == LEGACY_FORMAT:
            return self.record(_load_legacy(raw))
        if not raw or raw[0] != FORMAT or len(raw) < 2:
            raise StateError("not a case state of a known format")
        return self._read(raw[1], raw[2:])

    def _read(self, version: int, body: bytes) -> dict[str, Any]:
        writer = self.registry.get(STATE_TYPE, version)
        if writer is None:
            raise StateError(f"case state version {version} is not known here (known: 1..{self.latest.version}): "
                             "it was written by a newer release")
        buf = io.BytesIO(body)
        record = fastavro.schemaless_reader(buf, writer.parsed, None if writer is self.latest else self.latest.parsed)
        if buf.tell() != len(body):
            raise StateError(f"{len(body) - buf.tell()} bytes left over after a {writer.label} case state")
        return record

    def event_of(self, stored: dict[str, Any]) -> ev.Event:
        """The event of a `StoredEvent` record, resolved from the version it was written in into the newest."""
        key = (stored["type"], stored["version"], stored["avro"])
        event = self._events_read.get(key)
        if event is not None:
            return event
        writer: Schema | None = self.events.get(stored["type"], stored["version"])
        if writer is None:
            raise StateError(f"a stored {stored['type']} v{stored['version']} event has no schema here")
        reader = self.events.latest(stored["type"])
        record = fastavro.schemaless_reader(io.BytesIO(stored["avro"]), writer.parsed,
                                            None if writer is reader else reader.parsed)
        event = ev.from_record(stored["type"], record)
        if len(self._events_read) >= _HELD_LIMIT:
            self._events_read.clear()
        self._events_read[key] = event
        if writer is reader:
            self._events.put(event, stored)
        return event


class _Held:
    """Results by the identity of the value they were made from (the value is kept, so its id is not reused)."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[Any, Any]] = {}

    def get(self, value: Any) -> Any:
        hit = self._items.get(id(value))
        return hit[1] if hit is not None and hit[0] is value else None

    def put(self, value: Any, result: Any) -> Any:
        if len(self._items) >= _HELD_LIMIT:
            self._items.clear()
        self._items[id(value)] = (value, result)
        return result


class _Compiler:
    """Turns the `CaseState` schema into an encoder (value to record) and a decoder (record to value)."""

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec
        self.named: dict[str, Any] = {}
        self.namespace = codec.latest.raw.get("namespace")

    def _record_name(self, schema: Any) -> str | None:
        """The full name of a record schema (or of a reference to one), None for anything else."""
        name = schema if isinstance(schema, str) else schema.get("name") if schema.get("type") == "record" else None
        if name is None or (isinstance(schema, str) and self.named.get(name, {}).get("type") != "record"):
            return None
        return f"{self.namespace}.{name}" if self.namespace and "." not in name else name

    def encoder(self, schema: Any) -> Encode:
        if isinstance(schema, str):
            if schema in self.named:
                return self.encoder(self.named[schema])
            return _same
        if isinstance(schema, list):
            branch = next(s for s in schema if s != "null")
            inner = self.encoder(branch)
            if inner is _same:
                return inner
            record = self._record_name(branch)
            if record is None:
                return lambda v: None if v is None else inner(v)
            # a record in a union named by fastavro's tuple notation: the writer then skips trying the branches
            return lambda v: None if v is None else (record, inner(v))
        kind = schema["type"]
        if kind == "array":
            item = self.encoder(schema["items"])
            if item is _same:
                return lambda v: sorted(v) if isinstance(v, frozenset) else list(v)
            return lambda v: [item(x) for x in v]
        if kind != "record":
            return _same if isinstance(kind, str) else self.encoder(kind)
        self.named[schema["name"]] = schema
        if schema["name"] == _EVENT:
            return self.codec.stored_event
        fields = [(f["name"], self.encoder(f["type"])) for f in schema["fields"]]
        if schema["name"] in CLASSES:
            def record(v: Any) -> dict[str, Any]:
                return {name: enc(getattr(v, name)) for name, enc in fields}
            return self.codec.held(record) if schema["name"] in _HELD_RECORDS else record
        return lambda v: {name: enc(x) for (name, enc), x in zip(fields, v, strict=True)}

    def decoder(self, schema: Any) -> Decode:
        if isinstance(schema, str):
            if schema in self.named:
                return self.decoder(self.named[schema])
            return _same
        if isinstance(schema, list):
            inner = self.decoder(next(s for s in schema if s != "null"))
            return lambda v: None if v is None else inner(v)
        kind = schema["type"]
        if kind == "array":
            item = self.decoder(schema["items"])
            return lambda v: tuple(item(x) for x in v)
        if kind != "record":
            return _same if isinstance(kind, str) else self.decoder(kind)
        self.named[schema["name"]] = schema
        if schema["name"] == _EVENT:
            return self.codec.event_of
        fields = [(f["name"], self.decoder(f["type"])) for f in schema["fields"]]
        cls = CLASSES.get(schema["name"])
        if cls is None:
            return lambda v: tuple(dec(v[name]) for name, dec in fields)
        # the fields the code has (a test holds the newest schema to exactly these)
        declared = {f.name for f in dataclasses.fields(cls)}
        fields = [(name, dec) for name, dec in fields if name in declared]
        sets = _frozenset_fields(cls)
        return lambda v: cls(**{name: (frozenset(dec(v[name])) if name in sets else dec(v[name]))
                                for name, dec in fields})


def _same(value: Any) -> Any:
    return value


Write = Callable[[Any, bytearray], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = _EPOCH.replace(tzinfo=None)  # fastavro reads a naive instant as UTC
_EPOCH_DAY = date(1970, 1, 1).toordinal()
def _varint(n: int) -> bytes:
    """Avro's long: zigzag, then 7 bits a byte, low first."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


#: the varints of small longs: the lengths, counts and versions a state is mostly made of
_SMALL = tuple(_varint(n) for n in range(1024))


def _long(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < 1024 else _varint(n)


def _micros(value: datetime) -> int:
    delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _write_string(value: str, out: bytearray) -> None:
    data = value.encode()
    out += _long(len(data))
    out += data


def _write_bytes(value: bytes, out: bytearray) -> None:
    out += _long(len(value))
    out += value


def _write_long(value: int, out: bytearray) -> None:
    out += _long(value)


def _write_boolean(value: bool, out: bytearray) -> None:
    out.append(1 if value else 0)


def _write_micros(value: datetime, out: bytearray) -> None:
    out += _varint(_micros(value))


def _write_date(value: date, out: bytearray) -> None:
    out += _long(value.toordinal() - _EPOCH_DAY)


def _write_null(value: None, out: bytearray) -> None:
    if value is not None:
        raise StateError(f"{value!r} where the schema has null")


_PRIMITIVES: dict[str, Write] = {"string": _write_string, "bytes": _write_bytes, "int": _write_long,
                                 "long": _write_long, "boolean": _write_boolean, "null": _write_null}
_LOGICAL: dict[tuple[str, str], Write] = {("long", "timestamp-micros"): _write_micros, ("int", "date"): _write_date}


class _Writer:
    """Turns the `CaseState` schema into a writer: the booking's Avro binary encoding, appended to a buffer.

    It takes values as `_Compiler.encoder` does (the core's dataclasses field by field, other records as tuples,
    sets sorted), and writes what fastavro writes for that record: an array as one block of its items then 0, a
    union's branch index then its value. A held event's `StoredEvent` bytes and a held `Facts`' bytes are made once.
    """

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec
        self.named: dict[str, Any] = {}

    def writer(self, schema: Any) -> Write:
        if isinstance(schema, str):
            if schema in self.named:
                return self.writer(self.named[schema])
            return _PRIMITIVES[schema]
        if isinstance(schema, list):
            if len(schema) != 2 or schema[0] != "null":
                raise StateError(f"only [null, X] unions are written here, not {schema}")
            inner = self.writer(schema[1])

            def union(value: Any, out: bytearray) -> None:
                if value is None:
                    out.append(0)
                else:
                    out.append(2)  # branch 1, as a zigzag varint
                    inner(value, out)
            return union
        kind = schema["type"]
        if isinstance(kind, dict | list):
            return self.writer(kind)
        logical = schema.get("logicalType")
        if kind in _PRIMITIVES:
            return _LOGICAL.get((kind, logical), _PRIMITIVES[kind]) if logical else _PRIMITIVES[kind]
        if kind == "array":
            return self._array(schema["items"])
        if kind != "record":
            raise StateError(f"a {kind} is not written here")
        self.named[schema["name"]] = schema
        if schema["name"] == _EVENT:
            return self._stored_event(self._record(schema, positional=True), [f["name"] for f in schema["fields"]])
        if schema["name"] in CLASSES:
            record = self._record(schema, positional=False)
            return self._held(record) if schema["name"] in _HELD_RECORDS else record
        return self._record(schema, positional=True)

    def _array(self, items: Any) -> Write:
        item = self.writer(items)

        def array(value: Any, out: bytearray) -> None:
            if value:
                out += _long(len(value))
                for x in sorted(value) if isinstance(value, frozenset) else value:
                    item(x, out)
            out.append(0)
        return array

    def _record(self, schema: dict, positional: bool) -> Write:
        fields = [(f["name"], self.writer(f["type"])) for f in schema["fields"]]
        if positional:
            writers = [w for _, w in fields]

            def by_position(value: Any, out: bytearray) -> None:
                if len(value) != len(writers):
                    raise StateError(f"{schema['name']} has {len(writers)} fields, not {len(value)}")
                for w, x in zip(writers, value, strict=True):
                    w(x, out)
            return by_position

        values = operator.attrgetter(*(name for name, _ in fields))
        writers = [w for _, w in fields]
        if len(writers) == 1:
            return lambda value, out: writers[0](values(value), out)

        def by_name(value: Any, out: bytearray) -> None:
            for w, x in zip(writers, values(value), strict=True):
                w(x, out)
        return by_name

    def _held(self, write: Write) -> Write:
        cache = _Held()

        def once(value: Any, out: bytearray) -> None:
            found = cache.get(value)
            if found is None:
                found = bytearray()
                write(value, found)
                found = cache.put(value, bytes(found))
            out += found
        return once

    def _stored_event(self, write: Write, names: list[str]) -> Write:
        cache, stored = _Held(), self.codec.stored_event

        def event(value: ev.Event, out: bytearray) -> None:
            found = cache.get(value)
            if found is None:
                record = stored(value)
                found = bytearray()
                write(tuple(record[n] for n in names), found)
                found = cache.put(value, bytes(found))
            out += found
        return event


def _frozenset_fields(cls: type) -> frozenset[str]:
    hints = typing.get_type_hints(cls)
    return frozenset(f.name for f in dataclasses.fields(cls) if typing.get_origin(hints[f.name]) is frozenset)


_DECOMPRESS = zstandard.ZstdDecompressor()


#: where the core's modules were when the legacy format was written, and where they are now
_LEGACY_MODULES = {"streams.engine": "streams.core.engine", "streams.events": "streams.core.events",
                   "streams.decisions": "streams.core.decisions", "streams.cases": "streams.core.cases",
                   "streams.law": "streams.core.law"}


class _LegacyUnpickler(pickle.Unpickler):
    """Reads the legacy pickles, whose classes are named by the modules' paths of that release."""

    def find_class(self, module: str, name: str) -> Any:
        for old, new in _LEGACY_MODULES.items():
            if module == old or module.startswith(old + "."):
                module = new + module[len(old):]
                break
        if not module.startswith("streams.") and module not in ("datetime", "zoneinfo", "builtins"):
            raise StateError(f"a legacy case state names {module}.{name}, which is not the core's")
        return super().find_class(module, name)


def _unpickle(data: bytes) -> Any:
    return _LegacyUnpickler(io.BytesIO(data)).load()


def _load_legacy(raw: bytes) -> engine.Booking:
    """A value of the release before: the booking pickled with its events and facts pickled apart, compressed."""
    rest, facts, events = _unpickle(_DECOMPRESS.decompress(raw[1:]))
    return evolve(rest, case=evolve(rest.case, facts=_unpickle(facts)), events=tuple(_unpickle(e) for e in events))


def readable(states: StateCodec, record: dict[str, Any]) -> dict[str, Any]:
    """A `CaseState` record as an auditor reads it: JSON-ready, each event decoded in its own JSON form."""
    shown = dict(record)
    shown["events"] = [{"type": e["type"], "schema_version": e["version"],
                        **to_json(states.events.latest(e["type"]), ev.to_record(states.event_of(e)))}
                       for e in record["events"]]
    return plain(shown)


def plain(value: Any) -> Any:
    """A decoded record made JSON-ready: instants and dates in ISO 8601, an event's bytes as its decoded record."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value

"""JSON lines of events: each line one event in the JSON form of its Avro schema plus a `type` naming it.

Each line is checked on its own: a bad line is reported with its number and reason and never stops its good
neighbours. `produce` sends what this reads and `decide` decides it; neither path needs more than this, so
nothing here loads a Kafka client.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from streams.core.admission import Refused, TimeWindow, check_fields, check_jurisdiction
from streams.core.law import places
from streams.core.law.places import Places
from streams.errors import EventValidationError
from streams.wire.codec import Codec
from streams.wire.schemas import from_json

#: fields a line must give although the schema has a default for them (an older release wrote them so)
ALWAYS_GIVEN: dict[str, tuple[str, ...]] = {"BookingRecorded": ("state",)}
ALWAYS_GIVEN_WHY = {"state": "the two-letter USPS code: the jurisdiction is never assumed"}


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


def read_jsonl(lines: Iterable[str | bytes], codec: Codec, window: TimeWindow | None = None,
               known: Places | None = None) -> Iterator[Line | BadLine]:
    """Parse and validate JSON lines; yield a Line or a BadLine for each non-blank line.

    Lines may be bytes (a file opened in binary): each is decoded on its own, so a line that is not UTF-8 is one
    bad line and its neighbours go on. A booking record's state and county are checked against `known` (default:
    the shipped table): an unknown one is a bad line; a state spelled out ("CALIFORNIA") or a county in another
    case is written as the table writes it, with a warning.
    """
    known = known or places.load()
    for number, raw in enumerate(lines, start=1):
        text = _text(raw, number)
        if isinstance(text, BadLine):
            yield text
            continue
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            obj = parse_object(text)
            for name in ALWAYS_GIVEN.get(str(obj.get("type")), ()):
                if name not in obj:
                    raise Refused("INVALID_FIELD", f"a {obj['type']} line must say its {name!r} "
                                                   f"({ALWAYS_GIVEN_WHY[name]})")
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


def _text(raw: str | bytes, number: int) -> str | BadLine:
    """A line as text; a byte line that is not UTF-8 is a bad line saying where."""
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff") if number == 1 else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(number, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} (the file "
                               "must be UTF-8; convert it, e.g. with iconv -f LATIN1 -t UTF-8)")
    return text.removeprefix("\ufeff") if number == 1 else text

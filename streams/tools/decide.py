"""Running the pure core over a stream of events with no broker: `decide`, the scenario tests and replay.

`Processor` is the engine (`streams.core.engine`) over one set of bookings kept in a dict, plus the CLETS gate and
its agency registry. Events are taken in the engine's order (`engine.order`: by instant, then by legal meaning,
then by id), so the input's line order never changes an outcome. Outputs made by an event are stamped
`decided_at` = its `occurred_at`, outputs made by a deadline its `due_at`, so the same input always gives
byte-identical output; at the end, deadlines up to `until` fire.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from streams.core import cases, clets, engine
from streams.core import events as ev
from streams.core.law import regimes, rulebook
from streams.core.law.places import Places
from streams.core.law.rulebook import RuleBook
from streams.wire.codec import Codec
from streams.wire.jsonlines import BadLine, read_jsonl


@dataclass(frozen=True)
class Emitted:
    """One output, ready to write: its type, its record (with decided_at) and the zone to show its times in."""

    type_name: str
    record: dict[str, Any]
    zone: ZoneInfo


class Processor:
    """Bookings, their time and the agency registry, driven by events."""

    def __init__(self, book: RuleBook, clets_rows: tuple[clets.Row, ...], state: str | None = None,
                 county: str | None = None) -> None:
        """Start empty, in a default jurisdiction for bookings whose booking record is not seen."""
        self.book, self.rows, self.state, self.county = book, clets_rows, state, county
        self.bookings: dict[str, engine.Booking] = {}
        self.agencies: dict[str, ev.AgencyAgreementRecorded] = {}
        self.engine = engine.Engine(book, state, county)
        self._zones: dict[tuple[str, str | None], ZoneInfo] = {}

    @property
    def cases(self) -> dict[str, cases.Case]:
        """Every booking's case."""
        return {b: booking.case for b, booking in self.bookings.items()}

    @property
    def stream_time(self) -> datetime | None:
        """How far time has advanced."""
        return self.engine.time

    def case(self, booking_id: str) -> cases.Case:
        """The case of a booking (a new one in the default jurisdiction when unseen)."""
        booking = self.bookings.get(booking_id)
        return booking.case if booking else cases.new_case(booking_id, self.state, self.county)

    def process(self, event: ev.Event) -> list[Emitted]:
        """Fire what is due before the event, then take it."""
        kind = type(event)
        if kind is ev.ClockTicked:
            return self.advance(event.occurred_at)
        out = self._keep(self.engine.take(event, self.bookings.get))
        if kind is ev.AgencyAgreementRecorded:
            self.agencies[event.agency_id] = event
        elif kind is ev.CletsQueryMade:
            ruling = clets.decide(self.rows, event, self.agencies.get(event.agency_id))
            zone = self.book.jurisdiction(self.state).zone
            out.append(Emitted("CletsDecision", ruling.to_record(event.occurred_at), zone))
        return out

    def advance(self, until: datetime) -> list[Emitted]:
        """Complete time up to `until`: every deadline due at or before it fires, in order."""
        return self._keep(self.engine.tick(until, self.bookings.get))

    def _keep(self, changes: list[engine.Change]) -> list[Emitted]:
        out: list[Emitted] = []
        for change in changes:
            case = change.booking.case
            self.bookings[case.booking_id] = change.booking
            if change.outputs:
                where = (case.facts.state, case.facts.county)
                zone = self._zones.get(where) or self._zones.setdefault(where, self.book.zone(*where))
                out += [Emitted(s.output.type_name, s.output.to_record(s.at), zone) for s in change.outputs]
        return out

    @property
    def pending(self) -> int:
        """Bookings waiting for a deadline (stale entries included)."""
        return self.engine.queued()


#: events between two moves of a run's long-lived state out of the cyclic collector's sight
FREEZE_EVERY = 10_000
#: allocations between two collections of the youngest generation during a run (the interpreter's default is 700)
GC_YOUNG = 50_000


def order_by_event_time(events: Iterable[ev.Event]) -> list[ev.Event]:
    """Events in the engine's order (by instant, then by meaning, then by id)."""
    return engine.order(events)


def run(processor: Processor, events: Iterable[ev.Event], until: datetime | None = None) -> Iterator[Emitted]:
    """Every output of the events, in order, then of the deadlines up to `until`.

    What a run keeps (every booking's events and state) lives until the run ends and holds no reference cycle, so
    every `FREEZE_EVERY` events what has survived is moved out of the cyclic collector's sight (`gc.freeze`), and
    given back to it at the end: otherwise each full collection walks all of it again, a third of the run's time
    on a large file. Memory is still freed by reference counting as bookings change. For the same reason the
    youngest generation is collected every `GC_YOUNG` allocations instead of every 700 while the run lasts: each
    step makes a few short-lived values, and collecting them that often cost a tenth of the run.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, *thresholds[1:])
    try:
        for n, event in enumerate(order_by_event_time(events)):
            if n % FREEZE_EVERY == 0:
                gc.freeze()
            yield from processor.process(event)
        if until is not None:
            yield from processor.advance(until)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def render(emitted: Emitted) -> dict[str, Any]:
    """The JSON form of an output: its type first, instants in the jurisdiction's local time with the offset."""
    return {"type": emitted.type_name, **{k: _plain(v, emitted.zone) for k, v in emitted.record.items()}}


def _plain(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v, zone) for v in value]
    return value


def read_events(stream: Iterable[str | bytes], codec: Codec,
                known: Places | None = None) -> tuple[list[ev.Event], list[BadLine]]:
    """Parse JSON lines into events; bad lines are returned with their numbers, never dropped silently."""
    good, bad = [], []
    for item in read_jsonl(stream, codec, known=known):
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            good.append(ev.from_record(item.type_name, item.record))
    return good, bad


def decide_file(stream: Iterable[str | bytes], out: TextIO, codec: Codec, rules: Path | None = None,
                state: str | None = None, county: str | None = None, until: datetime | None = None,
                as_if: str | None = None) -> list[BadLine]:
    """The whole `decide` command: read, order, run, write one JSON line per output; return the bad lines.

    `as_if` names a regime to apply at every instant instead of the one in force (`regimes.as_if`).
    """
    book = rulebook.load(rules)
    if as_if:
        book = regimes.as_if(book, as_if)
    processor = Processor(book, clets.load_rows(rules), state, county)
    events, bad = read_events(stream, codec, book.places)
    for emitted in run(processor, events, until):
        out.write(json.dumps(render(emitted), separators=(",", ":"), ensure_ascii=False) + "\n")
    return bad

"""Running the pure core over a stream of events by stream time, with no broker.

`detainer-tracker decide`, the scenario tests and replay all go through `Processor`.

Stream time advances with each event's `occurred_at` (and with clock ticks). Before an event is applied, every
deadline due at or before its time fires, in due order (a release due at 10:00 is ordered before the 10:00
release itself is recorded), and after it every deadline the event set that is due already, so no deadline at or
before stream time is left pending after a step; at the end, deadlines up to `until` fire. Outputs made by an
event are stamped `decided_at` = its `occurred_at`, outputs made by a deadline its `due_at`, so the same input
always gives byte-identical output.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from streams import cases, clets
from streams import events as ev
from streams.codec import Codec
from streams.decisions import Deadline
from streams.law import regimes, rulebook
from streams.law.rulebook import RuleBook
from streams.produce import BadLine, read_jsonl


@dataclass(frozen=True)
class Emitted:
    """One output, ready to write: its type, its record (with decided_at) and the zone to show its times in."""

    type_name: str
    record: dict[str, Any]
    zone: ZoneInfo


class Processor:
    """Cases, deadlines and the agency registry, driven by events in stream-time order."""

    def __init__(self, book: RuleBook, clets_rows: tuple[clets.Row, ...], state: str = "CA",
                 county: str | None = None) -> None:
        """Start empty, in a default jurisdiction for bookings whose booking record is not seen."""
        self.book, self.rows, self.state, self.county = book, clets_rows, state, county
        self.cases: dict[str, cases.Case] = {}
        self.agencies: dict[str, ev.AgencyAgreementRecorded] = {}
        self._deadlines: list[tuple[datetime, int, Deadline]] = []
        self._seq = itertools.count()
        self.stream_time: datetime | None = None

    def case(self, booking_id: str) -> cases.Case:
        """The case of a booking (a new one in the default jurisdiction when unseen)."""
        return self.cases.get(booking_id) or cases.new_case(booking_id, self.state, self.county)

    def process(self, event: ev.Event) -> list[Emitted]:
        """Fire what is due before the event, then apply it."""
        out = self.advance(event.occurred_at)
        if isinstance(event, ev.BookingEvent):
            step = cases.apply(self.book, self.case(event.booking_id), event)
            out += self._commit(step, event.occurred_at)
            out += self.advance(event.occurred_at)  # what the event set that is due already
        elif isinstance(event, ev.AgencyAgreementRecorded):
            self.agencies[event.agency_id] = event
        elif isinstance(event, ev.CletsQueryMade):
            ruling = clets.decide(self.rows, event, self.agencies.get(event.agency_id))
            zone = self.book.jurisdiction(self.state).zone
            out.append(Emitted("CletsDecision", ruling.to_record(event.occurred_at), zone))
        return out

    def advance(self, until: datetime) -> list[Emitted]:
        """Move stream time to `until`, firing every deadline due at or before it, in due order."""
        out: list[Emitted] = []
        while self._deadlines and self._deadlines[0][0] <= until:
            _, _, deadline = heapq.heappop(self._deadlines)
            step = cases.fire(self.book, self.case(deadline.booking_id), deadline)
            out += self._commit(step, deadline.due_at)
        if self.stream_time is None or until > self.stream_time:
            self.stream_time = until
        return out

    def _commit(self, step: cases.Transition, decided_at: datetime) -> list[Emitted]:
        self.cases[step.case.booking_id] = step.case
        for deadline in step.deadlines:
            heapq.heappush(self._deadlines, (deadline.due_at, next(self._seq), deadline))
        zone = self.book.jurisdiction(step.case.facts.state).zone
        return [Emitted(o.type_name, o.to_record(decided_at), zone) for o in step.outputs]

    @property
    def pending(self) -> int:
        """Deadlines scheduled and not yet fired (stale ones included)."""
        return len(self._deadlines)


def order_by_event_time(events: Iterable[ev.Event]) -> list[ev.Event]:
    """Events in event-time order; events at the same instant keep their input order."""
    return sorted(events, key=lambda e: e.occurred_at)


def run(processor: Processor, events: Iterable[ev.Event], until: datetime | None = None) -> Iterator[Emitted]:
    """Every output of the events, in order, then of the deadlines up to `until`."""
    for event in order_by_event_time(events):
        yield from processor.process(event)
    if until is not None:
        yield from processor.advance(until)


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


def read_events(stream: TextIO, codec: Codec) -> tuple[list[ev.Event], list[BadLine]]:
    """Parse JSON lines into events; bad lines are returned with their numbers, never dropped silently."""
    good, bad = [], []
    for item in read_jsonl(stream, codec):
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            good.append(ev.from_record(item.type_name, item.record))
    return good, bad


def decide_file(stream: TextIO, out: TextIO, codec: Codec, rules: Path | None = None, state: str = "CA",
                county: str | None = None, until: datetime | None = None, as_if: str | None = None) -> list[BadLine]:
    """The whole `decide` command: read, order, run, write one JSON line per output; return the bad lines.

    `as_if` names a regime to apply at every instant instead of the one in force (`regimes.as_if`).
    """
    book = rulebook.load(rules)
    if as_if:
        book = regimes.as_if(book, as_if)
    processor = Processor(book, clets.load_rows(rules), state, county)
    events, bad = read_events(stream, codec)
    for emitted in run(processor, events, until):
        out.write(json.dumps(render(emitted), separators=(",", ":"), ensure_ascii=False) + "\n")
    return bad

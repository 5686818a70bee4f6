"""What a replay makes of what it read, with no broker: timelines, re-decision, differences and audit counts.

Re-decision runs the same engine as `decide` and the live worker (`streams.tools.decide.Processor`), one partition at a
time up to the stream time the live workers had reached on it, so the same deadlines fire. Outputs are compared
field for field except `decided_at` (the wall-clock moment of emission, which no replay can reproduce).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from streams.core import events as ev
from streams.core.decisions import COMMAND, CORRECTION, DECISION, NOTICE, STATUS, VIOLATION
from streams.core.engine import PHASE
from streams.core.law.rulebook import RuleBook
from streams.replay.capture import Capture, Recorded
from streams.tools.decide import Processor, order_by_event_time
from streams.wire.topics import partition_of

LEFT_CUSTODY = ("Released", "Transferred")
#: fields that differ between any two emissions of the same output
NOT_COMPARED = ("decided_at",)


@dataclass(frozen=True)
class Entry:
    """One line of a booking's timeline: an input or an output, at its event time."""

    at: datetime
    booking_id: str
    side: str
    type_name: str
    summary: str
    ident: str
    where: str
    record: dict[str, Any]

    @property
    def rule_id(self) -> str | None:
        """The rule behind an output (None for inputs)."""
        return self.record.get("rule_id")

    @property
    def citation(self) -> str | None:
        """The citation behind an output (None for inputs)."""
        return self.record.get("citation")


@dataclass(frozen=True)
class Output:
    """An output as the comparison sees it: when it was decided, its type and its record."""

    at: datetime
    booking_id: str
    type_name: str
    record: dict[str, Any]

    @property
    def output_id(self) -> str:
        """The deterministic id."""
        return str(self.record.get("output_id", ""))

    @property
    def slot(self) -> tuple[str, str, str]:
        """What kind of output this is, so an altered one can be paired with the one it replaced."""
        what = self.record.get("kind") or self.record.get("directive") or self.record.get("status") or ""
        return self.booking_id, self.type_name, str(what)


@dataclass(frozen=True)
class Difference:
    """Recorded and re-decided disagree: an output `missing` from the topic, `extra` on it, or `different`."""

    kind: str
    booking_id: str
    type_name: str
    at: datetime
    recorded: dict[str, Any] | None
    redecided: dict[str, Any] | None
    fields: tuple[str, ...] = ()


@dataclass
class Redecision:
    """Outputs of the core on the replayed inputs, per booking, and how long each booking that left was held."""

    outputs: dict[str, list[Output]] = field(default_factory=lambda: defaultdict(list))
    #: booking -> (left custody at, release deadline then in force), for bookings that left after one was set
    departures: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    #: bookings without a booking record when reading began after the partitions' start (their history may begin
    #: before the read): not re-decided
    incomplete: list[str] = field(default_factory=list)


def plain(value: Any) -> Any:
    """A record value as JSON sees it: instants in UTC ISO form, dates ISO, bytes as text, tuples as lists."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def timeline(capture: Capture, booking_id: str, zone: tzinfo = UTC) -> list[Entry]:
    """A booking's inputs and outputs inside the window, in event-time order.

    At equal instants inputs come first, in the engine's order by meaning (`engine.SAME_INSTANT_ORDER`), then outputs.

    Each entry's summary shows its instants in `zone` (the report's); its record keeps them in UTC.
    """
    items = [(_entry(r, "input", booking_id, zone), 0) for r in capture.inputs.get(booking_id, ())]
    items += [(_entry(r, "output", booking_id, zone), 1) for r in capture.outputs.get(booking_id, ())]
    window = capture.selection
    items = [(e, rank) for e, rank in items if window.in_window(e.at)]
    items.sort(key=lambda item: (item[0].at, item[1], PHASE.get(item[0].type_name, 0) if item[1] == 0 else 0,
                                 item[0].where))
    return [e for e, _ in items]


def _entry(r: Recorded, side: str, booking_id: str, zone: tzinfo) -> Entry:
    ident = r.record.get("event_id") or r.record.get("output_id") or ""
    return Entry(r.at, booking_id, side, r.type_name, describe(r.type_name, r.record, zone), str(ident),
                 f"{r.topic_id}[{r.partition}]@{r.offset}", plain(r.record))


def describe(type_name: str, record: dict[str, Any], zone: tzinfo = UTC) -> str:
    """A short, readable line for any input or output, its instants in `zone`."""
    get = record.get

    def shown(value: Any) -> Any:
        return value.astimezone(zone).isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) \
            else plain(value)

    if type_name == DECISION:
        until = f" until {shown(get('until'))}" if get("until") else ""
        return f"{get('kind')} {get('outcome')}{until}"
    if type_name == COMMAND:
        until = f" until {shown(get('until'))}" if get("until") else ""
        return f"{get('directive')}{until}"
    if type_name in (VIOLATION, NOTICE):
        return str(get("kind"))
    if type_name == STATUS:
        return str(get("status"))
    if type_name == CORRECTION:
        return f"withdraws {len(get('supersedes') or ())} output(s): {', '.join(get('supersedes') or ())}"
    details = [f"{k}={shown(get(k))}" for k in ("county", "facility", "form", "authority", "result", "kind",
                                                 "reason", "status") if get(k) not in (None, "", "NONE")]
    return " ".join([type_name, *details])


def redecide(capture: Capture, book: RuleBook, partitions: int, state: str | None = None) -> Redecision:
    """Run the core on each partition's replayed inputs up to the stream time live had reached there."""
    out = Redecision()
    by_partition: dict[int, list[ev.Event]] = defaultdict(list)
    partial = capture.selection.read_from is not None  # reading began after the start of the partitions
    for booking_id, records in capture.inputs.items():
        if partial and not any(r.type_name == "BookingRecorded" for r in records):
            out.incomplete.append(booking_id)
            continue
        by_partition[partition_of(booking_id.encode(), partitions)] += [ev.from_record(r.type_name, r.record)
                                                                         for r in records]
    for p, events in sorted(by_partition.items()):
        until = capture.stream_time.get(p)
        if until is not None and capture.selection.read_to is not None:
            until = min(until, capture.selection.read_to)
        _run(Processor(book, (), state), order_by_event_time(events), until, out)
    out.incomplete.sort()
    return out


def _run(processor: Processor, events: Iterable[ev.Event], until: datetime | None, out: Redecision) -> None:
    def keep(emitted: Iterable[Any]) -> None:
        for e in emitted:
            record = e.record
            out.outputs[record["booking_id"]].append(Output(record["decided_at"], record["booking_id"], e.type_name,
                                                            record))

    for event in events:
        keep(processor.process(event))
    if until is not None:
        keep(processor.advance(until))
    for booking_id, booking in processor.bookings.items():
        if booking.departed is not None:
            out.departures[booking_id] = booking.departed


def recorded_outputs(capture: Capture, booking_ids: Iterable[str]) -> list[Output]:
    """The outputs read back from the topics for the given bookings, net of corrections."""
    return [Output(r.at, b, r.type_name, r.record) for b in booking_ids for r in net(capture.outputs.get(b, ()))]


def net(records: Iterable[Recorded]) -> list[Recorded]:
    """Outputs that stand: each id as often as it was sent less as often as a correction withdrew it.

    A correction withdraws outputs sent before it; an output sent again after a correction stands again, so the
    count settles it whatever order the topics are read in. Corrections themselves are not outputs that stand.
    """
    records = list(records)
    withdrawn = Counter(i for r in records if r.type_name == CORRECTION for i in r.record["supersedes"])
    kept: list[Recorded] = []
    for r in reversed(records):
        if r.type_name == CORRECTION:
            continue
        output_id = r.record.get("output_id")
        if withdrawn[output_id] > 0:
            withdrawn[output_id] -= 1
            continue
        kept.append(r)
    return kept[::-1]


def compare(recorded: Iterable[Output], redecided: Iterable[Output], in_window: Any) -> list[Difference]:
    """Every disagreement between what the topics hold and what the core decides again, inside the window.

    Outputs with the same id are compared field by field (but decided_at). Outputs left unpaired are paired by
    booking, type and kind, in time order (an altered output gets a new id); what is left is `extra` on the topic
    or `missing` from it.
    """
    rec = [o for o in recorded if in_window(o.at)]
    red = [o for o in redecided if in_window(o.at)]
    diffs: list[Difference] = []
    pool: dict[str, list[Output]] = defaultdict(list)
    for o in red:
        pool[o.output_id].append(o)
    left_rec: list[Output] = []
    for o in rec:
        if pool.get(o.output_id):
            mate = pool[o.output_id].pop(0)
            _pair(o, mate, diffs)
        else:
            left_rec.append(o)
    left_red = [o for group in pool.values() for o in group]
    by_slot: dict[tuple[str, str, str], list[Output]] = defaultdict(list)
    for o in sorted(left_red, key=lambda o: o.at):
        by_slot[o.slot].append(o)
    for o in sorted(left_rec, key=lambda o: o.at):
        if by_slot.get(o.slot):
            _pair(o, by_slot[o.slot].pop(0), diffs)
        else:
            diffs.append(Difference("extra", o.booking_id, o.type_name, o.at, plain(o.record), None))
    for o in (o for group in by_slot.values() for o in group):
        diffs.append(Difference("missing", o.booking_id, o.type_name, o.at, None, plain(o.record)))
    diffs.sort(key=lambda d: (d.booking_id, d.at, d.type_name, d.kind))
    return diffs


def _pair(recorded: Output, redecided: Output, diffs: list[Difference]) -> None:
    a, b = _comparable(recorded.record), _comparable(redecided.record)
    fields = tuple(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))
    if fields:
        diffs.append(Difference("different", recorded.booking_id, recorded.type_name, recorded.at,
                                plain(recorded.record), plain(redecided.record), fields))


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in record.items() if k not in NOT_COMPARED}


@dataclass(frozen=True)
class Row:
    """One figure of an audit: a section (detainers by form...), an item in it, a count, and a note."""

    section: str
    item: str
    count: int
    note: str = ""


def summary(capture: Capture, redecision: Redecision, grace_minutes: int) -> list[Row]:
    """The audit figures of the selection inside the window (see README, "Replay")."""
    window, rows = capture.selection, []
    ids = capture.booking_ids()
    rows.append(Row("bookings", "selected", len(ids)))
    rows.append(Row("bookings", "history before the read (not re-decided)", len(redecision.incomplete)))
    inputs = [r for b in ids for r in capture.inputs.get(b, ()) if window.in_window(r.at)]
    outputs = [r for b in ids for r in net(capture.outputs.get(b, ())) if window.in_window(r.at)]
    corrections = [r for b in ids for r in capture.outputs.get(b, ()) if r.type_name == CORRECTION
                   and window.in_window(r.at)]
    rows += _count("bookings", (r.record.get("county", "") for r in inputs if r.type_name == "BookingRecorded"),
                   "booked in county ")
    rows += _count("detainers by form", (r.record["form"] for r in inputs if r.type_name == "DetainerLodged"))
    decisions = [r.record for r in outputs if r.type_name == DECISION]
    rows += _count("holds by rule", (f"{d['outcome']} {d['rule_id']}" for d in decisions if d["kind"] == "HOLD"))
    rows += _count("notifications", (f"{d['outcome']} {d['rule_id']}" for d in decisions
                                     if d["kind"] == "NOTIFICATION"))
    rows += _count("transfers by authority", (r.record.get("authority", "NONE") for r in inputs
                                              if r.type_name == "Transferred"))
    rows += _count("directives", (r.record["directive"] for r in outputs if r.type_name == COMMAND))
    rows += _count("violations", (r.record["kind"] for r in outputs if r.type_name == VIOLATION))
    rows += _count("notices", (r.record["kind"] for r in outputs if r.type_name == NOTICE))
    rows.append(Row("corrections", "outputs withdrawn by a late event", sum(len(r.record["supersedes"])
                                                                          for r in corrections),
                    f"in {len(corrections)} correction(s); the counts above are net of them"))
    rows += _releases(redecision, window.in_window, grace_minutes)
    return rows


def _count(section: str, items: Iterable[str], prefix: str = "") -> list[Row]:
    return [Row(section, f"{prefix}{item}", n) for item, n in sorted(Counter(items).items())]


#: how late the late releases were, past the deadline (each band is (lower, upper], the first from the grace)
LATE_BANDS = ((timedelta(hours=6), "late by up to 6 h"), (timedelta(hours=24), "late by 6-24 h"),
              (timedelta.max, "late by more than 24 h"))


def _releases(redecision: Redecision, in_window: Any, grace_minutes: int) -> list[Row]:
    grace = timedelta(minutes=grace_minutes)
    lateness = [left - due for left, due in redecision.departures.values() if in_window(left)]
    late = sorted(d for d in lateness if d > grace)
    rows = [Row("releases", "on time", len(lateness) - len(late),
                f"left within {grace_minutes} min of the release deadline"),
            Row("releases", "late", len(late),
                f"max {_hours(late[-1])}, median {_hours(late[len(late) // 2])}" if late else "")]
    lower = grace
    for upper, label in LATE_BANDS:
        rows.append(Row("releases", label, sum(1 for d in late if lower < d <= upper)))
        lower = upper
    return rows


def _hours(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600:.1f} h"

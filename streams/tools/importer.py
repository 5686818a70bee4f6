"""`detainer-tracker import FILE --map MAP.yaml`: a jail's own export, one line per charge, into our events.

Jail systems export bookings as delimited text (comma, pipe, tab; often gzip-compressed whatever the file's name)
with one line per charge or hold and naive local times. A column map (YAML, examples in `deploy/imports/`) says
which column is what; the importer groups the lines of each booking, gives the times the map's zone, and makes a
booking's events:

- `BookingRecorded` at the booking time, with every charge line that is not a hold;
- `DetainerLodged` for each immigration hold line (the map says how a hold line is told, and its form: an export
  that does not say which form is `OTHER`, which permits no hold), and `DetainerLifted` when the line says the
  detainer was cancelled, at the time the line cleared;
- `ReleaseBecameDue` when the last charge that is not a hold cleared (the person was held on the hold alone from
  then on), and `Released`, or `Transferred` to immigration authorities when the booking's disposition says so,
  at the release time.

Event ids are derived from the file's source name, the booking and the event's role, so importing the same file
again sends the same events (the worker recognises them). Every line that cannot become part of an event is
reported with its line number and reason, and its booking is left out whole; the rest go on.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from streams.errors import ConfigError

#: the columns a map must name, and those it may
REQUIRED = ("booking_id", "booked_at", "charge")
OPTIONAL = ("released_at", "cleared_at", "statute", "level", "disposition", "line_disposition", "hold")


@dataclass(frozen=True)
class ColumnMap:
    """How one export's columns become events."""

    source: str
    state: str
    county: str
    facility: str
    zone: ZoneInfo
    delimiter: str
    time_format: str
    columns: dict[str, str]
    #: a line is a hold when its `hold` column has one of these values
    hold_values: frozenset[str]
    hold_form: str
    #: a hold line whose own disposition is one of these: the detainer was cancelled when the line cleared
    cancelled_values: frozenset[str]
    #: a booking whose disposition is one of these left to immigration authorities
    to_immigration_values: frozenset[str]
    #: a charge level per value of the `level` column (anything else: UNKNOWN)
    levels: dict[str, str]
    #: a booking whose disposition is one of these was handed to another agency (a state prison, a marshal)
    to_other_agency_values: frozenset[str] = frozenset()
    person_prefix: str = "P"

    @classmethod
    def load(cls, path: Path) -> ColumnMap:
        """Read and check a map file; a missing or unknown key is named."""
        try:
            spec = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the column map: {exc}") from None
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: a column map is a YAML mapping")

        def need(key: str) -> Any:
            if spec.get(key) in (None, ""):
                raise ConfigError(f"{path}: the column map needs {key!r}")
            return spec[key]

        columns = need("columns")
        missing = [c for c in REQUIRED if not columns.get(c)]
        unknown = sorted(set(columns) - set(REQUIRED) - set(OPTIONAL))
        if missing or unknown:
            raise ConfigError(f"{path}: columns: {'missing ' + ', '.join(missing) if missing else ''}"
                              f"{'; ' if missing and unknown else ''}"
                              f"{'unknown ' + ', '.join(unknown) if unknown else ''} "
                              f"(known: {', '.join(REQUIRED + OPTIONAL)})")
        try:
            zone = ZoneInfo(str(need("zone")))
        except (KeyError, ValueError):
            raise ConfigError(f"{path}: zone {spec['zone']!r} is not a time zone") from None
        holds = spec.get("holds") or {}
        return cls(str(need("source")), str(need("state")), str(need("county")), str(need("facility")), zone,
                   str(spec.get("delimiter", ",")), str(spec.get("time_format", "%Y-%m-%d %H:%M:%S")),
                   {k: str(v) for k, v in columns.items()},
                   frozenset(map(str, holds.get("values") or [])), str(holds.get("form", "OTHER")),
                   frozenset(map(str, holds.get("cancelled") or [])),
                   frozenset(map(str, spec.get("to_immigration") or [])),
                   {str(k): str(v) for k, v in (spec.get("levels") or {}).items()},
                   frozenset(map(str, spec.get("to_other_agency") or [])))


@dataclass
class Refused:
    """A line that could not become part of an event, and why."""

    line: int
    booking_id: str
    reason: str

    def __str__(self) -> str:
        """'line 7 (booking X): reason'."""
        return f"line {self.line} (booking {self.booking_id or '?'}): {self.reason}"


@dataclass
class Imported:
    """What an import made: events per booking, in time order, and the lines refused."""

    rows: int = 0
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bookings: int = 0
    refused: list[Refused] = field(default_factory=list)


def read_rows(path: Path, delimiter: str,
              time_format: str = "%Y-%m-%d %H:%M:%S") -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of an export, numbered as lines (header 1), whatever the file's name.

    Delimited text, gzip-compressed or not, or an Excel workbook (xlsx: its first sheet, whose date cells are
    written in `time_format`, as the map reads them).
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:4] == b"PK\x03\x04":
        yield from _xlsx_rows(raw, time_format)
        return
    text = raw.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    for row in reader:
        yield reader.line_num, row


def _xlsx_rows(raw: bytes, time_format: str) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a workbook's first sheet as text, as a delimited export would give them."""
    from openpyxl import load_workbook  # only an xlsx import needs it

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a zip that is no workbook, a damaged one: say so, plainly
        raise ValueError(f"not a readable Excel workbook: {exc}") from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [_cell(v, time_format) for v in next(rows, ())]
        for number, values in enumerate(rows, 2):
            if all(v is None for v in values):
                continue
            yield number, dict(zip(header, (_cell(v, time_format) for v in values), strict=False))
    finally:
        book.close()


def _cell(value: Any, time_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(time_format)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert(rows: Iterable[tuple[int, dict[str, str]]], m: ColumnMap) -> Imported:
    """Group the rows by booking and make each booking's events; a booking with a bad line is refused whole."""
    out = Imported()
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for number, row in rows:
        out.rows += 1
        booking_id = (row.get(m.columns["booking_id"]) or "").strip()
        if not booking_id:
            out.refused.append(Refused(number, "", f"no {m.columns['booking_id']!r}"))
            continue
        groups.setdefault(booking_id, []).append((number, row))
    for booking_id, lines in groups.items():
        try:
            events = _booking(booking_id, lines, m)
        except _Bad as bad:
            out.refused.append(Refused(bad.line, booking_id, bad.reason))
            continue
        out.bookings += 1
        out.events.extend(events)
    out.events.sort(key=lambda e: (e[1]["occurred_at"], e[1]["booking_id"], e[1]["event_id"]))
    return out


class _Bad(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _booking(booking_id: str, lines: list[tuple[int, dict[str, str]]], m: ColumnMap
             ) -> list[tuple[str, dict[str, Any]]]:
    c = m.columns
    first, head = lines[0]
    booked = _time(head, "booked_at", m, first, required=True)
    released = _time(head, "released_at", m, first)
    charges, holds, cleared = [], [], []
    for number, row in lines:
        if _time(row, "booked_at", m, number, required=True) != booked:
            raise _Bad(number, f"{c['booked_at']} differs from the booking's other lines")
        is_hold = "hold" in c and (row.get(c["hold"]) or "").strip() in m.hold_values
        line_cleared = _time(row, "cleared_at", m, number)
        if is_hold:
            holds.append((number, row, line_cleared))
            continue
        description = (row.get(c["charge"]) or "").strip()
        if not description:
            raise _Bad(number, f"no charge in {c['charge']!r}")
        statute = (row.get(c["statute"]) or "").strip() if "statute" in c else ""
        level = m.levels.get((row.get(c["level"]) or "").strip(), "UNKNOWN") if "level" in c else "UNKNOWN"
        charges.append({"statute": statute or description, "level": level, "description": description,
                        "domestic_violence": False})
        if line_cleared is not None:
            cleared.append(line_cleared)
    def event(role: str, type_name: str, at: datetime, **fields: Any) -> tuple[str, dict[str, Any]]:
        return type_name, {"event_id": f"{m.source}:{booking_id}:{role}", "occurred_at": at, "source": m.source,
                           "booking_id": booking_id, **fields}

    events = [event("booked", "BookingRecorded", booked, person_id=f"{m.person_prefix}-{booking_id[:16]}",
                    state=m.state, county=m.county, facility=m.facility, charges=charges)]
    for i, (number, row, line_cleared) in enumerate(holds, 1):
        detainer = f"{booking_id}-H{i}"
        events.append(event(f"hold{i}", "DetainerLodged", booked, detainer_id=detainer, form=m.hold_form,
                            authority="NONE", issuing_office=None, served_at=None, federal_felony_warrant=False))
        said = (row.get(c["line_disposition"]) or "").strip() if "line_disposition" in c else ""
        if said in m.cancelled_values:
            if line_cleared is None:
                raise _Bad(number, f"a cancelled hold without {c.get('cleared_at', 'cleared_at')!r}")
            events.append(event(f"hold{i}-lifted", "DetainerLifted", line_cleared, detainer_id=detainer,
                                reason=said))
    if released is not None:
        if released < booked:
            raise _Bad(first, f"{c['released_at']} is before {c['booked_at']}")
        due = max(cleared) if cleared and holds else released
        due = min(max(due, booked), released)
        events.append(event("due", "ReleaseBecameDue", due, reason="OTHER", release_at=due, case_ref=None))
        disposition = (head.get(c["disposition"]) or "").strip() if "disposition" in c else ""
        hold_left = [(r.get(c["line_disposition"]) or "").strip() for _, r, _ in holds] \
            if "line_disposition" in c else []
        if disposition in m.to_immigration_values or set(hold_left) & m.to_immigration_values:
            events.append(event("left", "Transferred", released, destination="IMMIGRATION_AUTHORITY",
                                agency="ICE ERO", authority="NONE"))
        elif disposition in m.to_other_agency_values:
            events.append(event("left", "Transferred", released, destination="OTHER_AGENCY", agency=disposition,
                                authority="NONE"))
        else:
            events.append(event("left", "Released", released, note=disposition or None))
    return events


def _time(row: dict[str, str], column: str, m: ColumnMap, number: int, required: bool = False) -> datetime | None:
    name = m.columns.get(column)
    text = (row.get(name) or "").strip() if name else ""
    if not text:
        if required:
            raise _Bad(number, f"no {name or column!r}")
        return None
    try:  # a naive local time is the jail's own zone's (fold 0 in the repeated hour)
        return datetime.strptime(text, m.time_format).replace(tzinfo=m.zone)
    except ValueError:
        raise _Bad(number, f"{name} {text!r} is not a time like {m.time_format}") from None

"""Rendering a replay: a terminal table, JSON lines, CSV, and a self-contained HTML file.

The HTML report draws a timeline per booking in inline SVG: no script, font or image is fetched, so it opens
offline.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from streams.core import events as ev
from streams.replay.analysis import Difference, Entry, Row, plain

COLUMNS = ("booking_id", "at", "side", "type", "summary", "rule_id", "citation", "where", "id")


@dataclass(frozen=True)
class Booking:
    """One booking's part of a report."""

    booking_id: str
    record: ev.BookingRecorded | None
    entries: Sequence[Entry]
    differences: Sequence[Difference]


@dataclass(frozen=True)
class Report:
    """Everything a report shows: what was asked, the bookings, and how the reading went."""

    title: str
    zone: ZoneInfo
    facts: Sequence[tuple[str, str]]
    bookings: Sequence[Booking]

    def local(self, at: datetime | str | None) -> str:
        """An instant in the report's zone, to the second, with its offset."""
        if at is None:
            return ""
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        return at.astimezone(self.zone).isoformat(sep=" ", timespec="seconds")


def _row(report: Report, e: Entry) -> dict[str, str]:
    return {"booking_id": e.booking_id, "at": report.local(e.at), "side": e.side, "type": e.type_name,
            "summary": e.summary, "rule_id": e.rule_id or "", "citation": e.citation or "", "where": e.where,
            "id": e.ident}


def write_table(report: Report, out: TextIO) -> None:
    """A plain-text report for a terminal."""
    for line in (f"{k}: {v}" for k, v in report.facts):
        out.write(line + "\n")
    for b in report.bookings:
        who = f"  person {b.record.person_id}, {b.record.county}, {b.record.facility}" if b.record else ""
        out.write(f"\n== {b.booking_id}{who}\n")
        for e in b.entries:
            arrow = "->" if e.side == "input" else "<-"
            rule = f"  [{e.rule_id}; {e.citation}]" if e.rule_id else ""
            out.write(f"{report.local(e.at)}  {arrow} {e.summary:<44}{rule}  ({e.where})\n")
        for d in b.differences:
            out.write(_difference_line(report, d) + "\n")


def _difference_line(report: Report, d: Difference) -> str:
    rec, red = d.recorded or {}, d.redecided or {}
    if d.kind == "different":
        changes = "; ".join(f"{f}: recorded {rec.get(f)!r}, re-decided {red.get(f)!r}" for f in d.fields)
        return f"!! DIFFERENT {d.type_name} at {report.local(d.at)}: {changes}"
    shown = rec if d.kind == "extra" else red
    what = {"extra": "EXTRA on the topic, not re-decided", "missing": "MISSING from the topic, re-decided"}[d.kind]
    return (f"!! {what}: {d.type_name} at {report.local(d.at)} {shown.get('kind') or shown.get('directive') or ''} "
            f"{shown.get('outcome') or ''} [{shown.get('rule_id')}] id {shown.get('output_id')}")


def write_jsonl(report: Report, out: TextIO) -> None:
    """One JSON object per timeline entry (with its record), then one per difference."""
    for b in report.bookings:
        for e in b.entries:
            out.write(json.dumps({**_row(report, e), "record": e.record}, ensure_ascii=False) + "\n")
        for d in b.differences:
            out.write(json.dumps({"difference": d.kind, **plain(asdict(d))}, ensure_ascii=False) + "\n")


def write_csv(report: Report, out: TextIO) -> None:
    """The timeline as CSV (differences are in the other formats and the exit code)."""
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for b in report.bookings:
        for e in b.entries:
            writer.writerow(_row(report, e))


def write_summary(rows: Iterable[Row], fmt: str, out: TextIO) -> None:
    """Audit figures as a table, CSV (section,item,count,note) or JSON lines."""
    rows = list(rows)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("section", "item", "count", "note"))
        writer.writerows((r.section, r.item, r.count, r.note) for r in rows)
    elif fmt == "jsonl":
        for r in rows:
            out.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    else:
        section = None
        for r in rows:
            if r.section != section:
                out.write(f"{r.section}\n")
                section = r.section
            note = f"  ({r.note})" if r.note else ""
            out.write(f"  {r.item:<60}{r.count:>9}{note}\n")


# --- HTML -----------------------------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{font-weight:600}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}tr.output td{background:#f7fbff}
.diff{background:#fff0f0;border:1px solid #d33;padding:.5em;margin:.5em 0}.ok{color:#267326}
div.scroll{overflow-x:auto}svg.timeline{width:100%;min-width:860px;height:auto;border:1px solid #eee;background:#fcfcfc}
svg text{font:11px system-ui,sans-serif}.lane{fill:#666}.hold{fill:#f5c77e;stroke:#c98a1b}
.m-custody{fill:#2b6cb0}.m-immigration{fill:#b7791f}.m-law{fill:#2f855a}.m-violation{fill:#c53030}
.m-difference{fill:#fff;stroke:#d33;stroke-width:2}.diff-label{fill:#b22}.axis{fill:#555}
code{font-size:12px}
"""
LANES = ("custody", "immigration", "law", "violation")
#: the lane of the differences between what the topics hold and what was re-decided, when there are any
DIFFERENCE_LANE = "differences"
WIDTH, LEFT, RIGHT, LANE_H = 1000, 110, 30, 58
#: where a mark's label may go, as offsets of its baseline from the lane's line: above, below, further below
LABEL_ROWS = (-10, 20, 33)
#: the width of one character of a label (11 px system-ui), on the generous side so that labels never touch
CHAR_W = 6.4
#: words kept as they are written when an enum value is shown in words
KEEP = frozenset({"ICE", "TRUTH", "CLETS", "DOJ", "FBI", "CBP", "HSI", "ERO", "PC", "US"})
#: enum values with a name of their own in the report
NAMES = {"CA_PRE_TRUST": "before the TRUST Act", "CA_TRUST": "TRUST Act", "CA_VALUES": "Values Act",
         "FED_BASE": "federal baseline", "HUMAN_REVIEW": "human review",
         "REQUEST_COPY": "TRUTH Act copy of the request", "TRANSFER_TO_IMMIGRATION": "transfer to immigration",
         "HOLD_UNTIL": "hold"}
_ENUM = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\b")
_CAMEL = re.compile(r"\b([A-Z][a-z]+(?:[A-Z][a-z]+)+)\b")


def human(text: str) -> str:
    """A summary in words, for a person to read.

    Enum values (`HOLD PERMITTED`, `OVERDUE_RELEASE`) and type names (`DetainerLodged`) become lower-case words;
    acronyms and form names (`ICE`, `I247A`) stay as they are.
    """
    def word(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in NAMES:
            return NAMES[token]
        if len(token) < 3:
            return token
        return " ".join(p if p in KEEP or any(c.isdigit() for c in p) else p.lower() for p in token.split("_"))

    text = _CAMEL.sub(lambda m: _type_words(m.group(1)), text)
    text = re.sub(r"\b([a-z_]+)=", lambda m: m.group(1).replace("_", " ") + " ", text)
    return _ENUM.sub(word, text)


class _Labels:
    """Places labels in a lane's rows so that none overlaps another or leaves the drawing."""

    def __init__(self) -> None:
        self._taken: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def place(self, lane: int, cx: float, text: str) -> tuple[float, int] | None:
        """Where a label's left end and row go (x, row offset), or None when no row has room for it."""
        width = len(text) * CHAR_W
        x = min(max(cx - width / 2, 4.0), WIDTH - 4.0 - width)
        if x < 4.0:
            return None
        for row in LABEL_ROWS:
            spans = self._taken.setdefault((lane, row), [])
            if all(x + width + 4 <= a or x >= b + 4 for a, b in spans):
                spans.append((x, x + width))
                return x, row
        return None


def write_html(report: Report, out: TextIO) -> None:
    """The whole report as one HTML5 document with inline style and inline SVG timelines."""
    e = html.escape
    out.write(f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{e(report.title)}'
              f'</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{e(report.title)}</h1>\n<dl class="facts">')
    for k, v in report.facts:
        out.write(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    out.write("</dl>\n")
    for b in report.bookings:
        _html_booking(report, b, out)
    out.write("</body>\n</html>\n")


def _html_booking(report: Report, b: Booking, out: TextIO) -> None:
    e = html.escape
    out.write(f'<section class="booking" id="booking-{e(b.booking_id)}">\n<h2>Booking {e(b.booking_id)}</h2>\n')
    if b.record is not None:
        out.write(f'<dl class="facts"><dt>Person</dt><dd>{e(b.record.person_id)}</dd><dt>County</dt>'
                  f'<dd>{e(b.record.county)}</dd><dt>Facility</dt><dd>{e(b.record.facility)}</dd></dl>\n')
    out.write(f'<div class="scroll">{_svg(report, b)}</div>\n')  # a narrow window scrolls the timeline
    out.write('<table class="steps"><thead><tr><th>When</th><th></th><th>What</th><th>Rule</th><th>Citation</th>'
              '<th>Source</th></tr></thead><tbody>\n')
    for x in b.entries:
        out.write(f'<tr class="{x.side}"><td>{e(report.local(x.at))}</td><td>{x.side}</td><td>{e(_what(x))}'
                  f'{_reason(x)}</td><td>{e(x.rule_id or "")}</td><td>{e(x.citation or "")}</td>'
                  f'<td><code>{e(x.where)}</code></td></tr>\n')
    out.write("</tbody></table>\n")
    if b.differences:
        for d in b.differences:
            out.write(f'<div class="diff">{e(_difference_line(report, d))}</div>\n')
    out.write("</section>\n")


def _what(x: Entry) -> str:
    """An entry's summary in words; an input's begins with its type, in words too (`Transferred`: transferred)."""
    if x.summary.startswith(x.type_name):
        return _type_words(x.type_name) + human(x.summary[len(x.type_name):])
    return human(x.summary)


def _type_words(type_name: str) -> str:
    """A type name in words: `IceArrived` is "ICE arrived", `Transferred` "transferred"."""
    parts = re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])", type_name)
    return " ".join(p.upper() if p.upper() in KEEP else p.lower() for p in parts)


def _reason(x: Entry) -> str:
    reason = x.record.get("reason")
    return f"<br><small>{html.escape(str(reason))}</small>" if reason and x.side == "output" else ""


def _lane(x: Entry) -> str | None:
    if x.type_name in ("BookingRecorded", "ReleaseBecameDue", "Released", "Transferred"):
        return "custody"
    if x.type_name in ("DetainerLodged", "DetainerAmended", "DetainerLifted", "IceArrived"):
        return "immigration"
    if x.type_name == "Violation":
        return "violation"
    if x.type_name in ("Decision", "CustodyCommand"):
        return "law"
    return None


LABELS = {"BookingRecorded": "booked", "ReleaseBecameDue": "release due", "Released": "released",
          "Transferred": "transferred", "DetainerLodged": "detainer lodged", "DetainerAmended": "detainer amended",
          "DetainerLifted": "detainer lifted", "IceArrived": "ICE arrived"}


def _svg(report: Report, b: Booking) -> str:
    lanes = (*LANES, DIFFERENCE_LANE) if b.differences else LANES
    marks = [(x, lane) for x in b.entries if (lane := _lane(x))]
    holds = [(x.at, datetime.fromisoformat(x.record["until"])) for x in b.entries
             if x.type_name == "Decision" and x.record.get("kind") == "HOLD" and x.record.get("outcome") ==
             "PERMITTED" and x.record.get("until")]
    times = [x.at for x, _ in marks] + [u for _, u in holds] + [d.at for d in b.differences]
    height = LANE_H * len(lanes) + 30
    parts = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="timeline of booking {html.escape(b.booking_id)}">']
    for i, lane in enumerate(lanes):
        y = 24 + i * LANE_H
        parts.append(f'<text class="lane" x="4" y="{y + 4}">{lane}</text>'
                     f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#ddd"/>')
    if times:
        first, last = min(times), max(times)
        span = max((last - first).total_seconds(), 3600.0)

        def x_of(at: datetime) -> float:
            return LEFT + (WIDTH - LEFT - RIGHT) * (at - first).total_seconds() / span

        for start, until in holds:
            y = 24 + lanes.index("law") * LANE_H
            width = max(x_of(until) - x_of(start), 2)
            parts.append(f'<rect class="hold" x="{x_of(start):.1f}" y="{y - 6}" width="{width:.1f}" height="12">'
                         f'<title>hold window until {html.escape(report.local(until))}</title></rect>')
        labels = _Labels()
        for x, lane in marks:
            i, text = lanes.index(lane), _label(x)
            parts.append(_mark(report, x, lane, x_of(x.at), 24 + i * LANE_H, text, labels.place(i, x_of(x.at), text)))
        i = lanes.index(DIFFERENCE_LANE) if b.differences else 0
        for d in b.differences:
            cx, y = x_of(d.at), 24 + i * LANE_H
            text = f"{d.kind} {human(d.type_name)}"
            where = labels.place(i, cx, text)
            label = (f'<text class="diff-label" x="{where[0]:.1f}" y="{y + where[1]}">{html.escape(text)}</text>'
                     if where else "")
            parts.append(f'<g class="difference"><rect class="m-difference" x="{cx - 6:.1f}" y="{y - 6}" width="12" '
                         f'height="12" transform="rotate(45 {cx:.1f} {y})"><title>'
                         f'{html.escape(_difference_line(report, d))}</title></rect>{label}</g>')
        parts.append(f'<text class="axis" x="{LEFT}" y="{height - 6}">{html.escape(report.local(first))}</text>'
                     f'<text class="axis" x="{WIDTH - RIGHT}" y="{height - 6}" text-anchor="end">'
                     f'{html.escape(report.local(first + timedelta(seconds=span)))}</text>')
    parts.append("</svg>\n")
    return "".join(parts)


def _label(x: Entry) -> str:
    return LABELS.get(x.type_name) or human(x.summary.split(" until ")[0])


def _mark(report: Report, x: Entry, lane: str, cx: float, y: int, text: str, where: tuple[float, int] | None) -> str:
    why = f"\n{x.rule_id}: {x.citation}" if x.rule_id else ""
    title = html.escape(f"{report.local(x.at)}\n{human(x.summary)}{why}")
    label = (f'<text x="{where[0]:.1f}" y="{y + where[1]}">{html.escape(text)}</text>' if where else "")
    return f'<g><circle class="m-{lane}" cx="{cx:.1f}" cy="{y}" r="6"><title>{title}</title></circle>{label}</g>'

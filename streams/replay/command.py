"""`detainer-tracker replay`: the command-line face of the replay (flags in, report out, exit code)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from streams import __version__
from streams.config import Settings
from streams.core.law import rulebook
from streams.core.law.regimes import as_if
from streams.errors import ConfigError
from streams.replay import analysis, report
from streams.replay.capture import Capture
from streams.replay.reader import Reader
from streams.replay.selection import Selection, parse_bound
from streams.tools.terminal import ProgressBar

EXIT_DIFFERENT = 1
#: no booking matched the selection: nothing was replayed (a mistyped booking id, a county with no bookings)
EXIT_NOTHING_MATCHED = 3
FORMATS = ("table", "jsonl", "csv", "html")


def add_parser(sub: Any, handler_wrapper: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "replay", help="replay bookings from the topics: timeline, re-decision, differences, audits",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read the selected bookings back from Kafka (group-less: the live workers are not disturbed), "
                    "show each one's inputs and outputs in event-time order, decide them again under the law as it "
                    "stood (or --as-if another regime) and report every output missing from the topics, extra on "
                    "them, or different. Exit 1 when recorded and re-decided disagree.\n\n"
                    "The window is half-open and in event time: --from is included, --to is not. Dates are local "
                    "midnight in the jurisdiction's zone; instants may carry an offset.",
        epilog="examples:\n"
               "  detainer-tracker replay --booking LOSANGELES-20170301-00042 --format html -o booking.html\n"
               "  detainer-tracker replay --county 'Los Angeles' --from 2017-01-01 --to 2018-01-01 --summary "
               "--format csv -o la-2017.csv\n"
               "  detainer-tracker replay --person P00ab12cd34ef --as-if CA_VALUES")
    p.add_argument("--booking", action="append", default=[], metavar="ID", help="a booking id (repeatable)")
    p.add_argument("--person", help="every booking of this person id")
    p.add_argument("--facility", help="every booking into this facility (case-insensitive)")
    p.add_argument("--county", help="every booking in this county (case-insensitive)")
    p.add_argument("--from", dest="start", metavar="WHEN", help="start of the window (ISO date or instant), included")
    p.add_argument("--to", dest="end", metavar="WHEN", help="end of the window (ISO date or instant), excluded")
    p.add_argument("--lookback", default="365", metavar="DAYS",
                   help="read this many days before --from, so bookings begun earlier are read whole; 'all' reads "
                        "from the beginning (default 365)")
    p.add_argument("--late", default="30", metavar="DAYS",
                   help="keep reading this many days of event time past --to, for events written late; 'all' reads "
                        "to the end (default 30)")
    p.add_argument("--summary", action="store_true", help="audit counts instead of timelines")
    p.add_argument("--as-if", dest="as_if", metavar="REGIME",
                   help="re-decide as if this regime (e.g. CA_VALUES) had governed at every instant")
    p.add_argument("--no-diff", action="store_true", help="do not re-decide or compare (exit 0 whatever was recorded)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("-o", "--output", type=Path, help="write the report here instead of standard output")
    p.add_argument("--rules", type=Path, help="rule book folder (default: the shipped streams/core/law/data)")
    p.add_argument("--jurisdiction", default="CA", help="state whose zone dates are read in and shown (default CA)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar on standard error (default: when it is a terminal)")
    bar.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar and no closing line")
    p.set_defaults(handler=handler_wrapper)


def run(args: argparse.Namespace, settings: Settings, codec: Any) -> int:
    """Read, analyse, render; the exit code says whether recorded and re-decided agree."""
    book = rulebook.load(args.rules)
    zone = book.jurisdiction(args.jurisdiction).zone
    selection = _selection(args, zone)
    if args.summary and args.format == "html":
        raise ConfigError("--summary writes a table, CSV or JSON lines, not HTML")
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(sys.stderr) if show else None
    reader = Reader(settings.kafka_client_config(), codec.topics, codec, bar.update if bar else None)
    capture = reader.read(selection)
    if bar:
        bar.finish()
    decider = as_if(book, args.as_if) if args.as_if else book
    partitions = codec.topics["bookings"].partitions
    redecision = analysis.redecide(capture, decider, partitions, args.jurisdiction) if not args.no_diff else None
    ids = capture.booking_ids()
    differences = [] if redecision is None else analysis.compare(
        analysis.recorded_outputs(capture, [b for b in ids if b not in redecision.incomplete]),
        [o for b in ids for o in redecision.outputs.get(b, ())], selection.in_window)
    out = _open(args.output)
    try:
        if args.summary:
            rows = analysis.summary(capture, redecision or analysis.Redecision(), book.overdue_grace_minutes)
            rows += _difference_rows(differences, redecision)
            report.write_summary(rows, args.format, out)
        else:
            _write(args.format, _report(args, capture, zone, differences, redecision, book), out)
    finally:
        if out is not sys.stdout:
            out.close()
    if args.progress is not False:
        print(_closing_line(capture, differences), file=sys.stderr)
    if not ids:
        print(f"replay: no booking matched {_describe(selection)} in the {sum(capture.records_read.values()):,} "
              f"records read (exit {EXIT_NOTHING_MATCHED})", file=sys.stderr)
        return EXIT_NOTHING_MATCHED
    return EXIT_DIFFERENT if differences else 0


def _selection(args: argparse.Namespace, zone: Any) -> Selection:
    if not (args.booking or args.person or args.facility or args.county or args.start or args.end):
        raise ConfigError("say what to replay: --booking, --person, --facility, --county, or a window "
                          "(--from/--to)")
    return Selection(frozenset(args.booking), args.person, args.facility, args.county,
                     parse_bound(args.start, zone) if args.start else None,
                     parse_bound(args.end, zone) if args.end else None,
                     _days(args.lookback, "--lookback"), _days(args.late, "--late"))


def _days(text: str, flag: str) -> timedelta | None:
    if text == "all":
        return None
    try:
        days = float(text)
    except ValueError:
        raise ConfigError(f"{flag} takes a number of days or 'all', not {text!r}") from None
    if days < 0:
        raise ConfigError(f"{flag} cannot be negative")
    return timedelta(days=days)


def _report(args: argparse.Namespace, capture: Capture, zone: Any, differences: list[analysis.Difference],
            redecision: analysis.Redecision | None, book: rulebook.RuleBook) -> report.Report:
    by_booking: dict[str, list[analysis.Difference]] = {}
    for d in differences:
        by_booking.setdefault(d.booking_id, []).append(d)
    bookings = [report.Booking(b, capture.bookings.get(b), analysis.timeline(capture, b, zone), by_booking.get(b, []))
                for b in capture.booking_ids()]
    sel = capture.selection
    now = datetime.now(UTC)
    facts = [("Selection", _describe(sel) + ("" if bookings else " (no booking matched)")),
             ("Generated", f"{_at(now, zone)} ({now.isoformat(timespec='seconds')})"),
             ("Tool", f"detainer-tracker {__version__}"),
             ("Rule book", f"digest {book.digest}{' (' + str(args.rules) + ')' if args.rules else ''}"),
             ("Window (event time)", f"{_at(sel.start, zone) or 'the beginning'} to {_at(sel.end, zone) or 'now'}"
                                     " (start included, end excluded)"),
             ("Law applied", f"as if {args.as_if} at every instant" if args.as_if else "the law in force at each "
                                                                                          "instant"),
             ("Read", f"{sum(capture.records_read.values()):,} records from partition(s) "
                      f"{', '.join(map(str, capture.partitions))} in {capture.seconds:.1f} s"),
             ("Differences", "not compared" if redecision is None else
              f"{len(differences)} (recorded and re-decided {'agree' if not differences else 'disagree'})")]
    if redecision is not None and redecision.incomplete:
        facts.append(("Not re-decided (history begins before the read)", ", ".join(redecision.incomplete)))
    if capture.unreadable:
        facts.append(("Unreadable records", "; ".join(f"{d.coordinates.topic}[{d.coordinates.partition}]@"
                                                      f"{d.coordinates.offset}: {d.reason}"
                                                      for d in capture.unreadable)))
    return report.Report("Replay: " + _describe(sel), zone, facts, bookings)


def _describe(sel: Selection) -> str:
    parts = [f"booking {', '.join(sorted(sel.booking_ids))}"] if sel.booking_ids else []
    parts += [f"{k} {v}" for k, v in (("person", sel.person_id), ("facility", sel.facility),
                                      ("county", sel.county)) if v]
    return "; ".join(parts) or "every booking"


def _at(at: Any, zone: Any) -> str:
    return at.astimezone(zone).isoformat(sep=" ", timespec="seconds") if at else ""


def _difference_rows(differences: list[analysis.Difference],
                     redecision: analysis.Redecision | None) -> list[analysis.Row]:
    if redecision is None:
        return []
    counts = {kind: sum(1 for d in differences if d.kind == kind) for kind in ("missing", "extra", "different")}
    return [analysis.Row("differences", kind, n) for kind, n in counts.items()]


def _write(fmt: str, rep: report.Report, out: TextIO) -> None:
    {"table": report.write_table, "jsonl": report.write_jsonl, "csv": report.write_csv,
     "html": report.write_html}[fmt](rep, out)


def _open(path: Path | None) -> TextIO:
    if path is None:
        return sys.stdout
    return open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by the caller


def _closing_line(capture: Capture, differences: list[analysis.Difference]) -> str:
    read = sum(capture.records_read.values())
    rate = read / capture.seconds if capture.seconds > 0 else 0.0
    return (f"replay: read {read:,} records ({capture.decoded:,} decoded) in {capture.seconds:.1f} s, "
            f"{rate:,.0f} records/s; {len(capture.booking_ids())} booking(s); {len(differences)} difference(s); "
            f"{len(capture.unreadable)} unreadable")

"""The annual transfer report (Gov. Code 7284.6(c)(2)): every hand-over to immigration authorities in a year.

Under the California Values Act a law enforcement agency reports to the Department of Justice, each year, the
number of transfers to immigration authorities and the offense that allowed each. This module reads a year from
the topics (the jail's `Transferred` events and the decisions and violations that stand, net of corrections) and
gives one row per hand-over with its basis: the transfer decision that permitted it (its rule, citation and the
criterion it names, e.g. "7282.5(a)(1) felony PC 211 convicted 2012-02-01"), or, where none did, the violation that
says so. The rows are the report's data; the jail's own records remain the authority for what it files.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from streams.config import Settings
from streams.core.law import rulebook
from streams.errors import ConfigError
from streams.replay.analysis import net
from streams.replay.capture import Capture, Recorded
from streams.replay.reader import Reader
from streams.replay.selection import Selection

COLUMNS = ("booking_id", "county", "facility", "transferred_at", "agency", "authority", "permitted", "basis_rule",
           "basis", "citation", "decision_id", "violation_id", "transfer_event")
#: the jurisdiction whose statute asks for the report, and whose local year it counts
STATE = "CA"
IMMIGRATION = "IMMIGRATION_AUTHORITY"


def year_window(year: int, zone: ZoneInfo) -> Selection:
    """The local calendar year [Jan 1, Jan 1 next) of every booking, read from each partition's beginning."""
    if not 2000 <= year <= 2200:
        raise ConfigError(f"--year {year}: give a four-digit year")
    start = datetime.combine(date(year, 1, 1), time(), zone)
    return Selection(start=start, end=datetime.combine(date(year + 1, 1, 1), time(), zone), lookback=None)


def rows(capture: Capture, zone: ZoneInfo) -> list[dict[str, str]]:
    """One row per hand-over to immigration authorities inside the capture's window, in time order."""
    out = []
    for booking_id in capture.booking_ids():
        booking = capture.bookings.get(booking_id)
        standing = net(capture.outputs.get(booking_id, []))
        for r in capture.inputs.get(booking_id, []):
            if r.type_name == "Transferred" and r.record["destination"] == IMMIGRATION and \
                    capture.selection.in_window(r.record["occurred_at"]):
                out.append(_row(booking_id, booking, r, standing, zone))
    return sorted(out, key=lambda row: (row["transferred_at"], row["booking_id"]))


def _row(booking_id: str, booking: Any, transfer: Recorded, standing: list[Recorded], zone: ZoneInfo
         ) -> dict[str, str]:
    at, event_id = transfer.record["occurred_at"], transfer.record["event_id"]
    violation = next((o for o in standing if o.type_name == "Violation" and o.record["kind"] ==
                      "UNAUTHORIZED_TRANSFER" and event_id in o.record["evidence"]), None)
    decisions = [o for o in standing if o.type_name == "Decision" and o.record["kind"] == "TRANSFER"
                 and o.record["effective_at"] <= at]
    decisions.sort(key=lambda o: o.record["effective_at"])
    basis = decisions[-1] if decisions else None
    permitted = violation is None and basis is not None and basis.record["outcome"] == "PERMITTED"
    return {
        "booking_id": booking_id,
        "county": getattr(booking, "county", "") or "",
        "facility": getattr(booking, "facility", "") or "",
        "transferred_at": at.astimezone(zone).isoformat(),
        "agency": transfer.record["agency"],
        "authority": transfer.record.get("authority") or "NONE",
        "permitted": "yes" if permitted else "no",
        "basis_rule": basis.record["rule_id"] if basis else "",
        "basis": (basis.record["reason"] if basis else "no transfer decision before the hand-over"),
        "citation": basis.record["citation"] if basis else "",
        "decision_id": basis.record["output_id"] if basis else "",
        "violation_id": violation.record["output_id"] if violation else "",
        "transfer_event": event_id,
    }


def write(found: Iterable[dict[str, str]], fmt: str, out: TextIO) -> None:
    """CSV with a header line, or one JSON object per line."""
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(found)
    else:
        for row in found:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def add_parser(sub: Any, handler: Any) -> None:
    """`report transfers --year Y`."""
    p = sub.add_parser("report", help="reports from the topics (transfers: the annual report to the DOJ)",
                       description="Reports read from the topics. transfers: every hand-over to immigration "
                                   "authorities in a year, with its basis (Gov. Code 7284.6(c)(2)).")
    kinds = p.add_subparsers(dest="report", required=True, metavar="REPORT", help="which report")
    t = kinds.add_parser(
        "transfers", help="every hand-over to immigration authorities in a year, with its basis",
        description="The data of the annual report to the Department of Justice under Gov. Code 7284.6(c)(2): "
                    "one row per Transferred event to immigration authorities in the local calendar year, with "
                    "the transfer decision that permitted it (rule, citation, the criterion it names) or the "
                    "violation that says none did. Reads the case topics from their beginning, commits nothing. "
                    "A summary line goes to stderr.")
    t.add_argument("--year", type=int, required=True, help="the calendar year, local to California")
    t.add_argument("--county", help="only bookings of this county (as the booking record names it)")
    t.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="output format (default csv)")
    t.add_argument("--output", "-o", help="write to this file instead of stdout")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show reading progress on stderr (default: when stderr is a terminal)")
    t.set_defaults(handler=handler)


def run(args: argparse.Namespace, settings: Settings, codec: Any) -> int:
    """Read the year, write the rows, say how many were permitted."""
    from streams.tools.terminal import ProgressBar

    zone = rulebook.load().jurisdiction(STATE).zone
    selection = year_window(args.year, zone)
    if args.county:
        selection = Selection(county=args.county, start=selection.start, end=selection.end, lookback=None)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(sys.stderr) if show else None
    capture = Reader(settings.kafka_client_config(), codec.topics, codec, bar.update if bar else None).read(selection)
    if bar:
        bar.finish()
    found = rows(capture, zone)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        write(found, args.format, out)
    finally:
        if out is not sys.stdout:
            out.close()
    permitted = sum(1 for r in found if r["permitted"] == "yes")
    print(f"transfers {args.year}: {len(found)} hand-over(s) to immigration authorities, {permitted} with a "
          f"decision permitting it, {len(found) - permitted} without", file=sys.stderr)
    return 0

"""A jail's own export into events: the Pierce County export (real, nobody here wrote it) with its column map, and
the lines an export gets wrong, each refused with its line number and reason."""

import gzip
from collections import Counter
from pathlib import Path

import pytest

from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.errors import ConfigError
from streams.tools.decide import Processor, run
from streams.tools.importer import ColumnMap, convert, read_rows

ROOT = Path(__file__).parents[3]
PIERCE = ROOT / "tests" / "data" / "pierce_county_allholds.csv.gz"  # see tests/data/README.md
MAP = ROOT / "deploy" / "imports" / "pierce-county-wa.yaml"


def _pierce():
    m = ColumnMap.load(MAP)
    return m, convert(read_rows(PIERCE, m.delimiter), m)


def test_the_pierce_county_export_becomes_each_booking_s_events(codec):
    _, result = _pierce()
    assert (result.rows, result.bookings, result.refused) == (691, 204, [])
    kinds = Counter(t for t, _ in result.events)
    assert kinds["BookingRecorded"] == kinds["ReleaseBecameDue"] == 204
    assert kinds["DetainerLodged"] == 199 and kinds["DetainerLifted"] == 11
    handed = Counter(r["destination"] for t, r in result.events if t == "Transferred")
    # the UWCHR flags 125 bookings as released to immigration; one of them says so on neither line the map reads
    assert handed["IMMIGRATION_AUTHORITY"] == 124 and kinds["Released"] + sum(handed.values()) == 204
    for type_name, record in result.events:
        codec.validate(type_name, record)
        assert record["occurred_at"].utcoffset() is not None and record["booking_id"]
    assert len({r["event_id"] for _, r in result.events}) == len(result.events)
    # the same file again: the same events, ids and all
    assert [r["event_id"] for _, r in _pierce()[1].events] == [r["event_id"] for _, r in result.events]


def test_the_imported_bookings_are_decided_without_a_failure(codec):
    _, result = _pierce()
    book = rulebook.load()
    end = max(r["occurred_at"] for _, r in result.events)
    outputs = [(o.type_name, o.record) for o in run(Processor(book, clets.load_rows()),
                                                    [ev.from_record(t, r) for t, r in result.events], end)]
    releases = {r["booking_id"] for t, r in outputs if t == "CustodyCommand" and r["rule_id"] == "release.eligible"}
    assert len(releases) == 204
    assert not [r for _, r in outputs if r["rule_id"] == "review.undecidable"]
    # a Washington booking, decided under the federal baseline: a hold on a form the export does not name is denied
    holds = Counter(r["outcome"] for t, r in outputs if t == "Decision" and r["kind"] == "HOLD")
    assert holds and set(holds) == {"DENIED"}


def _export(tmp_path, lines, compress=False):
    text = "\n".join(["booking_id|booking_dt|release_dt|booking_charge_desc|charge_release_dt|jurisdiction_cd|"
                      "release_disposition_desc|final_release_disp", *lines]) + "\n"
    path = tmp_path / "export.csv"
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def test_lines_an_export_gets_wrong_are_refused_with_their_number_and_their_booking_left_out(tmp_path):
    m = ColumnMap.load(MAP)
    path = _export(tmp_path, [
        "B1|2017-03-01 10:00:00|2017-03-05 09:00:00|THEFT 3|2017-03-04 12:00:00|PD1|Dismissed|Immigration",
        "B1|2017-03-01 10:00:00|2017-03-05 09:00:00|HOLD IMMIGRAT|2017-03-05 09:00:00|IMM|Immigration|Immigration",
        "B2|03/01/2017 10:00|2017-03-05 09:00:00|THEFT 3||PD1|Dismissed|PR",
        "B3|2017-03-01 10:00:00|2017-02-05 09:00:00|THEFT 3||PD1|Dismissed|PR",
        "|2017-03-01 10:00:00||THEFT 3||PD1||",
        "B4|2017-03-01 10:00:00|2017-03-02 09:00:00|HOLD IMMIGRAT||IMM|Cancel Detainer|PR",
    ], compress=True)
    result = convert(read_rows(path, m.delimiter), m)
    refused = {r.booking_id: (r.line, r.reason) for r in result.refused}
    assert refused["B2"][0] == 4 and "is not a time like" in refused["B2"][1]
    assert refused["B3"][0] == 5 and "before booking_dt" in refused["B3"][1]
    assert refused[""][0] == 6 and "booking_id" in refused[""][1]
    assert refused["B4"][0] == 7 and "cancelled hold without" in refused["B4"][1]
    assert result.bookings == 1
    b1 = [(t, r["occurred_at"].isoformat()) for t, r in result.events]
    assert b1 == [("BookingRecorded", "2017-03-01T10:00:00-08:00"), ("DetainerLodged", "2017-03-01T10:00:00-08:00"),
                  ("ReleaseBecameDue", "2017-03-04T12:00:00-08:00"), ("Transferred", "2017-03-05T09:00:00-08:00")]


def test_a_column_map_that_lacks_a_column_or_names_an_unknown_one_is_refused(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text(MAP.read_text().replace("  charge: booking_charge_desc\n", "  chrage: booking_charge_desc\n"))
    with pytest.raises(ConfigError, match="missing charge; unknown chrage"):
        ColumnMap.load(bad)


def test_the_same_export_as_an_excel_workbook_makes_the_same_events(tmp_path):
    # a jail system that exports xlsx: times as date cells, numbers as numbers, the header on the first row
    from datetime import datetime

    from openpyxl import Workbook

    m, from_text = _pierce()
    book = Workbook()
    sheet = book.active
    rows = [row for _, row in read_rows(PIERCE, m.delimiter)]
    header = list(rows[0])
    sheet.append(header)
    times = {m.columns[c] for c in ("booked_at", "released_at", "cleared_at")}
    for row in rows:
        sheet.append([datetime.strptime(row[h], m.time_format)  # noqa: DTZ007 - naive, as jail exports are
                      if h in times and row[h] else (row[h] or None)
                      for h in header])
    sheet.append([None] * len(header))  # a trailing empty row, as spreadsheets have
    path = tmp_path / "allholds.xlsx"
    book.save(path)
    from_xlsx = convert(read_rows(path, m.delimiter, m.time_format), m)
    assert (from_xlsx.rows, from_xlsx.bookings, from_xlsx.refused) == (691, 204, [])
    assert from_xlsx.events == from_text.events


def test_a_zip_that_is_no_workbook_is_refused_plainly(tmp_path):
    import zipfile

    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    with pytest.raises(ValueError, match="not a readable Excel workbook"):
        list(read_rows(path, ","))

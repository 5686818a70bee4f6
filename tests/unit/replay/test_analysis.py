"""The replay's pure parts: windows, selection, the counterfactual rule book, the comparison and the audit bands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streams.core import events as ev
from streams.core.law import rulebook
from streams.core.law.regimes import as_if, regime_at, regime_ids
from streams.errors import ConfigError, RuleBookError
from streams.replay import analysis
from streams.replay.analysis import Output, Redecision
from streams.replay.capture import Capture
from streams.replay.selection import Selection, parse_bound
from streams.tools.decide import Processor, run

LA = ZoneInfo("America/Los_Angeles")
T = datetime(2017, 3, 1, 8, tzinfo=UTC)


def test_a_date_is_local_midnight_and_an_instant_keeps_its_offset():
    assert parse_bound("2017-03-01", LA) == T
    assert parse_bound("2017-07-01", LA) == datetime(2017, 7, 1, 7, tzinfo=UTC)  # daylight time
    assert parse_bound("2017-03-01T08:00:00Z", LA) == T
    assert parse_bound("2017-03-01T00:00:00", LA) == T  # no offset: local
    with pytest.raises(ConfigError, match="neither an ISO date"):
        parse_bound("March 1st", LA)


def test_the_window_is_half_open():
    sel = Selection(start=T, end=T + timedelta(days=1))
    assert sel.in_window(T) and not sel.in_window(T - timedelta(milliseconds=1))
    assert sel.in_window(T + timedelta(days=1) - timedelta(milliseconds=1))
    assert not sel.in_window(T + timedelta(days=1))
    with pytest.raises(ConfigError, match="empty"):
        Selection(start=T, end=T)


def test_reading_starts_a_lookback_before_the_window_and_runs_late_past_it():
    sel = Selection(start=T, end=T + timedelta(days=1), lookback=timedelta(days=10), late=timedelta(days=2))
    assert sel.read_from == T - timedelta(days=10) and sel.read_to == T + timedelta(days=3)
    assert Selection(start=T, lookback=None).read_from is None
    assert Selection(end=T, late=None).read_to is None


def _booking(booking_id="B1", person="P1", county="Kern", facility="Kern County Jail"):
    return ev.to_record(ev.BookingRecorded("e", T, "t", booking_id, person, county, facility, ()))


def test_attributes_select_bookings_and_listed_ids_always_do():
    assert Selection(county="kern").matches(_booking())
    assert not Selection(county="Fresno").matches(_booking())
    assert Selection(county="Kern", person_id="P1").matches(_booking())
    assert not Selection(county="Kern", person_id="P2").matches(_booking())
    assert Selection(frozenset({"B1"}), county="Fresno").matches(_booking())
    assert Selection(facility="KERN COUNTY JAIL").matches(_booking())
    assert Selection().matches(_booking()) and not Selection(frozenset({"B2"})).matches(_booking())
    assert Selection(frozenset({"B2"})).only_listed and not Selection(frozenset({"B2"}), county="Kern").only_listed


def test_as_if_puts_one_regime_in_force_at_every_instant():
    book = rulebook.load()
    assert {"CA_PRE_TRUST", "CA_TRUST", "CA_VALUES", "FED_BASE"} <= set(regime_ids(book))
    counterfactual = as_if(book, "CA_VALUES")
    assert regime_at(counterfactual, "CA", datetime(2015, 6, 1, tzinfo=UTC)).id == "CA_VALUES"
    assert regime_at(counterfactual, "TX", datetime(2015, 6, 1, tzinfo=UTC)).id == "CA_VALUES"
    assert regime_at(book, "CA", datetime(2015, 6, 1, tzinfo=UTC)).id == "CA_TRUST"  # the book is unchanged
    with pytest.raises(RuleBookError, match="knows CA_PRE_TRUST"):
        as_if(book, "NOPE")


def _out(at, kind="HOLD", outcome="PERMITTED", output_id="a", booking="B1", type_name="Decision"):
    return Output(at, booking, type_name, {"output_id": output_id, "booking_id": booking, "kind": kind,
                                           "outcome": outcome, "decided_at": at, "effective_at": at})


def everywhere(_at):
    return True


def test_equal_outputs_agree_whatever_their_emission_time():
    recorded = [_out(T)]
    redecided = [Output(T, "B1", "Decision", {**recorded[0].record, "decided_at": T + timedelta(hours=3)})]
    assert analysis.compare(recorded, redecided, everywhere) == []


def test_a_removed_output_is_missing_an_added_one_extra_and_an_altered_one_different():
    redecided = [_out(T, output_id="a"), _out(T + timedelta(hours=1), kind="NOTIFICATION", output_id="b")]
    recorded = [_out(T, output_id="a", outcome="DENIED"), _out(T, kind="TRANSFER", output_id="c")]
    diffs = {d.kind: d for d in analysis.compare(recorded, redecided, everywhere)}
    assert set(diffs) == {"different", "extra", "missing"}
    assert diffs["different"].fields == ("outcome",)
    assert diffs["extra"].recorded["output_id"] == "c" and diffs["extra"].redecided is None
    assert diffs["missing"].redecided["output_id"] == "b" and diffs["missing"].recorded is None


def test_an_altered_output_with_a_new_id_pairs_with_the_one_it_replaced():
    diffs = analysis.compare([_out(T, output_id="x", outcome="DENIED")], [_out(T, output_id="a")], everywhere)
    assert [(d.kind, d.fields) for d in diffs] == [("different", ("outcome", "output_id"))]


def test_a_repeated_output_on_the_topic_is_extra():
    diffs = analysis.compare([_out(T), _out(T)], [_out(T)], everywhere)
    assert [d.kind for d in diffs] == ["extra"]


def test_only_outputs_inside_the_window_are_compared():
    sel = Selection(start=T, end=T + timedelta(days=1))
    diffs = analysis.compare([_out(T - timedelta(hours=1), output_id="old")], [], sel.in_window)
    assert diffs == []


def test_releases_are_banded_by_how_late_they_were():
    departures = {"on-time": (T + timedelta(minutes=30), T), "at-grace": (T + timedelta(minutes=60), T),
                  "two-hours": (T + timedelta(hours=2), T), "ten-hours": (T + timedelta(hours=10), T),
                  "two-days": (T + timedelta(days=2), T)}
    rows = {r.item: r for r in analysis._releases(Redecision(departures=departures), everywhere, 60)}
    assert rows["on time"].count == 2 and rows["late"].count == 3
    assert rows["late by up to 6 h"].count == rows["late by 6-24 h"].count == rows["late by more than 24 h"].count == 1
    assert rows["late"].note == "max 48.0 h, median 10.0 h"


def test_redecision_equals_decide_per_partition_up_to_live_stream_time():
    from streams.config import Settings
    from streams.replay.capture import Recorded
    from streams.wire.codec import Codec
    from streams.wire.jsonlines import parse_line
    from streams.wire.schemas import SchemaRegistry
    from streams.wire.topics import Topics
    from tests.scenarios.loader import CASES, load

    codec = Codec(SchemaRegistry(Settings().schemas_dir), Topics(Settings()))
    scenario = load(CASES / "x03_still_in_custody_after_the_release_deadline_is_a_violation.yaml")
    lines = [parse_line(i, text, codec) for i, text in enumerate(scenario.jsonl().splitlines(), 1)]
    capture = Capture(Selection())
    for i, line in enumerate(lines):
        capture.inputs[line.record["booking_id"]].append(
            Recorded("bookings", 0, i, line.record["occurred_at"], line.type_name, line.record))
    last = max(line.record["occurred_at"] for line in lines) + timedelta(days=5)
    capture.stream_time = dict.fromkeys(range(3), last)
    got = analysis.redecide(capture, rulebook.load(), 3)
    events = [ev.from_record(line.type_name, line.record) for line in lines]
    want = [e.record for e in run(Processor(rulebook.load(), ()), events, last)]
    assert [o.record for b in got.outputs for o in got.outputs[b]] == want
    assert any(o.type_name == "Violation" for b in got.outputs for o in got.outputs[b])


def test_a_summary_shows_its_instants_in_the_reports_zone():
    until = datetime(2017, 3, 4, 22, tzinfo=UTC)
    record = {"kind": "HOLD", "outcome": "PERMITTED", "until": until}
    assert analysis.describe("Decision", record, LA) == "HOLD PERMITTED until 2017-03-04 14:00:00-08:00"
    assert analysis.describe("Decision", record) == "HOLD PERMITTED until 2017-03-04 22:00:00+00:00"

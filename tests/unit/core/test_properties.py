"""Properties of the decision core over generated case histories (hypothesis)."""

from __future__ import annotations

import functools
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.config import Settings
from streams.core import clets
from streams.core import events as ev
from streams.core.events import Charge, Conviction
from streams.core.law import rulebook
from streams.tools.decide import Processor, decide_file, render, run
from streams.wire.schemas import SchemaRegistry, to_json

BOOK = rulebook.load()
ROWS = clets.load_rows()
LA = ZoneInfo("America/Los_Angeles")
VALUES_START = datetime(2018, 1, 1, 8, tzinfo=UTC)
STATUTES = [("PC 211", "FELONY"), ("PC 245(a)(1)", "MISDEMEANOR"), ("PC 273.5", "FELONY"), ("PC 242", "MISDEMEANOR"),
            ("PC 487", "FELONY"), ("HS 11350", "MISDEMEANOR"), ("VC 23152", "MISDEMEANOR"), ("PC 496", "MISDEMEANOR")]
FORMS = ["I247_LEGACY", "I247D", "I247N", "I247X", "I247A", "I203", "OTHER"]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def histories(draw):
    """One booking's events at distinct instants between 2012 and 2026."""
    year = draw(st.sampled_from(range(2012, 2027)))
    base = datetime(year, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 364 * 1440)))
    offsets = iter(draw(st.lists(st.integers(0, 20 * 1440), min_size=10, max_size=10, unique=True)))
    at = lambda: base + timedelta(minutes=next(offsets))  # noqa: E731
    n = iter(range(1, 100))
    common = lambda: {"event_id": f"e{next(n)}", "source": "prop", "booking_id": "B"}  # noqa: E731
    convictions = tuple(Conviction(s, lvl, (base - timedelta(days=d)).date())
                        for s, lvl, d in draw(st.lists(st.tuples(st.sampled_from([s for s, _ in STATUTES]),
                                                                 st.sampled_from(["FELONY", "MISDEMEANOR"]),
                                                                 st.integers(100, 9000)), max_size=3)))
    out: list[ev.Event] = [
        ev.BookingRecorded(**common(), occurred_at=at(), person_id="P", county=draw(st.sampled_from(
            ["Fresno", "Santa Clara", "Kern"])), facility="J",
            charges=(Charge(*draw(st.sampled_from(STATUTES))),)),
        ev.CriminalHistoryRecorded(**common(), occurred_at=at(), person_id="P", convictions=convictions,
                                   sex_registrant=draw(st.booleans())),
    ]
    lodged = at()
    form = draw(st.sampled_from(FORMS))
    out.append(ev.DetainerLodged(**common(), occurred_at=lodged, detainer_id="D1", form=form,
                                 authority=draw(st.sampled_from(["NONE", "I200", "I205"])),
                                 served_at=lodged if draw(st.booleans()) else None))
    release = at()
    out.append(ev.ReleaseBecameDue(**common(), occurred_at=release, reason="BAIL_POSTED", release_at=release))
    if draw(st.booleans()):
        out.append(ev.IceArrived(**common(), occurred_at=at(), agency="ICE", authority="NONE"))
    if draw(st.booleans()):
        out.append(ev.DetainerLifted(**common(), occurred_at=at(), detainer_id="D1"))
    if draw(st.booleans()):
        out.append(ev.Released(**common(), occurred_at=at()))
    if draw(st.booleans()):
        out.append(ev.IceInquiryReceived(**common(), occurred_at=at(), inquiry_id="I", agency="ICE",
                                         items=("RELEASE_DATE", "CITIZENSHIP_STATUS")))
    if draw(st.booleans()):
        out.append(ev.DetainerLodged(**common(), occurred_at=at(), detainer_id="D2",
                                     form=draw(st.sampled_from(FORMS)), served_at=None))
    return out


def decide(events: list[ev.Event]) -> list[dict]:
    until = max(e.occurred_at for e in events) + timedelta(days=8)
    return [render(e) for e in run(Processor(BOOK, ROWS), events, until)]


@functools.cache
def _federal(year: int) -> frozenset:
    return frozenset(holidays.country_holidays("US", years=year, observed=False))


def counted_minutes(start: datetime, end: datetime) -> int:
    """An independent oracle: minutes on local weekdays that are not actual federal holidays."""
    minutes, cursor = 0, start
    while cursor < end:
        day = cursor.astimezone(LA).date()
        if day.weekday() < 5 and day not in _federal(day.year):
            minutes += 1
        cursor += timedelta(minutes=1)
    return minutes


@SETTINGS
@given(histories())
def test_under_the_values_act_no_hold_is_ever_permitted(events):
    for o in decide(events):
        if o["type"] == "Decision" and o["kind"] == "HOLD" and o["outcome"] == "PERMITTED":
            assert o["regime"] != "CA_VALUES"
            assert datetime.fromisoformat(o["until"]) <= VALUES_START


@SETTINGS
@given(histories())
def test_no_hold_outlives_its_form_or_its_regime(events):
    legacy = any(getattr(e, "form", None) == "I247_LEGACY" for e in events)
    for o in decide(events):
        if o["type"] == "Decision" and o["kind"] == "HOLD" and o["outcome"] == "PERMITTED":
            start, until = datetime.fromisoformat(o["effective_at"]), datetime.fromisoformat(o["until"])
            assert counted_minutes(start, until) <= 48 * 60
            if not legacy:
                assert until - start <= timedelta(hours=48)
            if o["regime"] == "CA_TRUST":
                assert until <= VALUES_START


@SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_events_with_distinct_times_give_the_same_outputs_in_any_arrival_order(events, rnd):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert decide(shuffled) == decide(events)


@SETTINGS
@given(histories(), st.data())
def test_duplicate_events_change_nothing(events, data):
    dupes = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=4))
    assert decide(events + dupes) == decide(events)


@SETTINGS
@given(histories())
def test_every_output_has_a_rule_a_citation_and_evidence(events):
    for o in decide(events):
        assert o["rule_id"] and o["citation"] and o["evidence"], o
        assert o["output_id"]


@settings(max_examples=25, deadline=None)
@given(histories())
def test_decide_twice_on_the_same_input_is_byte_identical(codec, events):
    lines = "".join(json.dumps({"type": type(e).__name__, **_json(e)}) + "\n" for e in events)
    first, second = io.StringIO(), io.StringIO()
    decide_file(io.StringIO(lines), first, codec, until=datetime(2027, 1, 1, tzinfo=UTC))
    decide_file(io.StringIO(lines), second, codec, until=datetime(2027, 1, 1, tzinfo=UTC))
    assert first.getvalue() == second.getvalue()


REGISTRY = SchemaRegistry(Settings().schemas_dir)


def _json(event) -> dict:
    return to_json(REGISTRY.latest(type(event).__name__), ev.to_record(event))

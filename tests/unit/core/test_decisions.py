"""The status-only feed (8 U.S.C. 1373; Gov. Code 7284.6(e)) carries a person and a status and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.config import Settings
from streams.core import events as ev
from streams.core.decisions import STATUS, STATUS_FEED_FIELDS, STATUS_VALUES, Emitter, Output, status_record
from streams.errors import DisclosureError
from streams.tools.decide import Processor, run
from streams.wire.topics import Topics
from tests.unit.core.test_properties import BOOK, ROWS, histories

ITEMS = ["CITIZENSHIP_STATUS", "RELEASE_DATE", "RELEASE_TIME", "HOME_ADDRESS", "WORK_ADDRESS", "CRIMINAL_HISTORY",
         "OTHER"]
AT = datetime(2019, 3, 1, 18, tzinfo=UTC)


def test_the_status_fact_schema_has_exactly_the_permitted_fields(registry):
    schema = registry.latest("StatusFact")
    assert tuple(schema.field_names) == STATUS_FEED_FIELDS
    status = next(f for f in schema.raw["fields"] if f["name"] == "status")
    assert tuple(status["type"]["symbols"]) == STATUS_VALUES


def test_only_status_facts_go_on_the_status_feed():
    assert Topics(Settings())["federal_status"].spec.event_types == ("StatusFact",)


def _status(detail: tuple) -> Output:
    return Output(STATUS, "B1", AT, "CA_VALUES", "status.1373", "8 U.S.C. 1373", "", ("e1",), detail)


@pytest.mark.parametrize("extra", [("release_at", AT), ("home_address", "1 Main St"), ("charges", ("PC 211",)),
                                   ("facility", "Main Jail"), ("reason", "released tomorrow")])
def test_anything_beside_person_and_status_is_refused(extra):
    output = _status((("person_id", "P1"), ("status", "UNKNOWN"), extra))
    with pytest.raises(DisclosureError, match="nothing else"):
        output.to_record(AT)


def test_a_value_that_is_no_status_is_refused():
    with pytest.raises(DisclosureError, match="not a citizenship or immigration status"):
        status_record(_status((("person_id", "P1"), ("status", "RELEASE_ON_2019-03-02"))), AT)


def test_other_outputs_cannot_be_passed_off_as_status_facts():
    decision = Emitter(BOOK, "B1").decision(AT, "CA_VALUES", "NOTIFICATION", "DENIED", "notify.values-denied",
                                            ("e1",), until=AT + timedelta(days=1))
    with pytest.raises(DisclosureError):
        status_record(decision, AT)


@st.composite
def status_histories(draw):
    """Generated bookings with recorded statuses, inquiries for every kind of item, and shared information."""
    events = draw(histories())
    base = max(e.occurred_at for e in events)
    extra = []
    for i in range(draw(st.integers(1, 3))):
        at = base + timedelta(hours=i + 1, minutes=draw(st.integers(0, 59)))
        kind = draw(st.sampled_from(["verified", "inquiry", "shared"]))
        common = {"event_id": f"x{i}", "source": "prop", "booking_id": "B", "occurred_at": at}
        if kind == "verified":
            extra.append(ev.CitizenshipVerified(**common, person_id="P", status=draw(st.sampled_from(STATUS_VALUES)),
                                                basis="documents"))
        elif kind == "inquiry":
            items = tuple(draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=4, unique=True)))
            extra.append(ev.IceInquiryReceived(**common, inquiry_id=f"I{i}", agency="ICE ERO", items=items,
                                               public_items=tuple(x for x in items if draw(st.booleans()))))
        else:
            extra.append(ev.ReleaseInfoShared(**common, recipient_agency="ICE ERO",
                                              items=tuple(draw(st.lists(st.sampled_from(ITEMS), min_size=1,
                                                                        max_size=3, unique=True)))))
    return events + extra


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status_histories())
def test_the_status_feed_never_carries_a_field_outside_the_permitted_set(events):
    until = max(e.occurred_at for e in events) + timedelta(days=8)
    emitted = list(run(Processor(BOOK, ROWS), events, until))
    facts = [e.record for e in emitted if e.type_name == STATUS]
    by_id = {e.event_id: e for e in events}
    booking = next(e for e in events if isinstance(e, ev.BookingRecorded))
    secrets = {booking.county, booking.facility, *(c.statute for c in booking.charges)}
    release_times = {e.release_at for e in events if isinstance(e, ev.ReleaseBecameDue)}
    for fact in facts:
        assert tuple(fact) == STATUS_FEED_FIELDS
        assert fact["status"] in STATUS_VALUES and fact["person_id"] in ("P", "")  # "" before the booking is seen
        text = json.dumps({k: v for k, v in fact.items() if isinstance(v, str)})
        assert not any(s in text for s in secrets), fact
        # a status fact is dated by the event that recorded or asked for the status, never by a release
        sources = [by_id[i] for i in fact["evidence"] if i in by_id]
        assert any(isinstance(s, ev.CitizenshipVerified | ev.IceInquiryReceived) for s in sources), fact
        assert fact["effective_at"] not in release_times or fact["effective_at"] in {s.occurred_at for s in sources}

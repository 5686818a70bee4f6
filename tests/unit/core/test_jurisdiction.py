"""A booking's jurisdiction comes from its booking record, validated and never guessed: a state spelled out or in
lower case is its code, a county in capitals is its county, a state the rule book does not model is decided under
the federal baseline in its own time zone, and an unknown state or county is refused."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from streams.core.law import places, rulebook
from streams.errors import EventValidationError
from streams.wire.jsonlines import BadLine, read_jsonl
from tests.support.step import Step

BOOK = rulebook.load()


def _trust_era_booking(state: str | None, county: str) -> list[tuple[str, dict]]:
    """A 2015 booking on a straight misdemeanor with a legacy detainer: the TRUST Act permits no hold (S03)."""
    booked = {"event_id": "J-b", "occurred_at": datetime(2015, 3, 1, 20, tzinfo=UTC), "source": "jail",
              "booking_id": "J", "person_id": "PJ", "county": county, "facility": "County Jail",
              "charges": [{"statute": "PC 242", "level": "MISDEMEANOR"}]}
    if state is not None:
        booked["state"] = state
    base = {"source": "jail", "booking_id": "J"}
    return [
        ("BookingRecorded", booked),
        ("DetainerLodged", {**base, "event_id": "J-d", "occurred_at": datetime(2015, 3, 3, 18, tzinfo=UTC),
                            "detainer_id": "D1", "form": "I247_LEGACY"}),
        ("ReleaseBecameDue", {**base, "event_id": "J-due", "occurred_at": datetime(2015, 3, 4, 19, 30, tzinfo=UTC),
                              "reason": "CHARGES_DROPPED", "release_at": datetime(2015, 3, 4, 19, 30, tzinfo=UTC)}),
    ]


def _holds(codec, state, county) -> list[tuple]:
    step = Step(codec)
    for type_name, record in _trust_era_booking(state, county):
        step.send(type_name, record)
    step.tick(datetime(2015, 3, 8, tzinfo=UTC))
    assert not step.dead, step.dead
    return [(o.record["regime"], o.record["outcome"], o.record["rule_id"]) for o in step.outputs
            if o.record.get("kind") == "HOLD"]


@pytest.mark.parametrize("state", ["CALIFORNIA", "ca", " California ", "CA"])
def test_a_state_spelled_out_or_in_lower_case_is_california_and_permits_no_hold_without_a_criterion(codec, state):
    assert _holds(codec, state, "Kern") == [("CA_TRUST", "DENIED", "hold.trust-no-criterion")]


def test_a_county_in_capitals_gets_its_countys_stricter_policy(codec):
    """Santa Clara forbade holds from 2011; 'SANTA CLARA' is Santa Clara, not a county with no policy."""
    assert _holds(codec, "CA", "SANTA CLARA") == [("CA_TRUST", "DENIED", "hold.local-policy")]
    assert _holds(codec, "CA", "santa clara county") == [("CA_TRUST", "DENIED", "hold.local-policy")]


def test_a_state_without_its_own_regimes_is_the_federal_baseline_in_its_own_zone():
    assert BOOK.jurisdiction("WA").regimes[0].id == "FED_BASE"
    assert BOOK.zone("WA") == ZoneInfo("America/Los_Angeles")
    assert BOOK.zone("TX", "El Paso") == ZoneInfo("America/Denver") and BOOK.zone("TX", "Harris") == ZoneInfo(
        "America/Chicago")
    assert BOOK.zone("FL", "ESCAMBIA") == ZoneInfo("America/Chicago")
    assert BOOK.zone("CA", "Kern") == ZoneInfo("America/Los_Angeles")


def test_a_washington_legacy_hold_ends_in_pacific_time(codec):
    """A Pierce County booking: its hold's end is counted in Pacific time, not in the default's Eastern."""
    step = Step(codec)
    for type_name, record in _trust_era_booking("WA", "Pierce"):
        step.send(type_name, record)
    step.tick(datetime(2015, 3, 9, tzinfo=UTC))
    hold = next(o.record for o in step.outputs if o.record.get("kind") == "HOLD")
    assert (hold["regime"], hold["outcome"]) == ("FED_BASE", "PERMITTED")
    until = hold["until"].astimezone(ZoneInfo("America/Los_Angeles"))
    assert until.hour == 11 and until.minute == 30, until  # 48 business hours on from 11:30 local time



def test_a_federal_baseline_booking_is_cited_federal_law_only(codec):
    """A Washington booking's every output cites federal law: never California's code nor its history."""
    step = Step(codec)
    base = {"source": "jail", "booking_id": "J"}
    records = _trust_era_booking("WA", "Pierce")[:2] + [
        ("IceInquiryReceived", {**base, "event_id": "J-q", "occurred_at": datetime(2015, 3, 3, 20, tzinfo=UTC),
                                "inquiry_id": "Q1", "agency": "ICE",
                                "items": ["CITIZENSHIP_STATUS", "RELEASE_DATE", "CRIMINAL_HISTORY", "HOME_ADDRESS"]}),
        ("ReleaseBecameDue", {**base, "event_id": "J-due", "occurred_at": datetime(2015, 3, 4, 19, 30, tzinfo=UTC),
                              "reason": "BAIL_POSTED", "release_at": datetime(2015, 3, 4, 19, 30, tzinfo=UTC)}),
        ("Transferred", {**base, "event_id": "J-t", "occurred_at": datetime(2015, 3, 20, tzinfo=UTC),
                         "destination": "IMMIGRATION_AUTHORITY", "agency": "ICE"})]
    for type_name, record in records:
        step.send(type_name, record)
    step.tick(datetime(2015, 3, 21, tzinfo=UTC))
    assert not step.dead, step.dead
    cited = {(o.record["rule_id"], o.record["citation"], o.record.get("reason", "")) for o in step.outputs}
    assert {rule for rule, _, _ in cited} >= {"notify.no-state-limit", "status.1373", "release.hold-ended",
                                             "criminal-history.permitted", "violation.unauthorized-transfer"}
    for rule, citation, reason in cited:
        assert "Gov. Code" not in citation and "Cal." not in citation, (rule, citation)
        assert "2018" not in reason and "California" not in reason, (rule, reason)

def _jsonl(records: list[tuple[str, dict]]) -> io.StringIO:
    def plain(value):
        return value.isoformat() if isinstance(value, datetime) else value
    return io.StringIO("".join(json.dumps({"type": t, **{k: plain(v) for k, v in r.items()}}) + "\n"
                               for t, r in records))


def test_produce_maps_a_spelled_out_state_with_a_warning_and_refuses_unknown_states_and_counties(codec):
    lines = [item for item in read_jsonl(_jsonl(_trust_era_booking("CALIFORNIA", "KERN")[:1]
                                                + _trust_era_booking("XX", "Kern")[:1]
                                                + _trust_era_booking("CA", "Gotham")[:1]), codec)]
    mapped, unknown_state, unknown_county = lines
    assert (mapped.record["state"], mapped.record["county"]) == ("CA", "Kern") and "taken as CA, Kern" in \
        mapped.warnings[0]
    assert isinstance(unknown_state, BadLine) and "'XX' is not a US state" in unknown_state.reason
    assert isinstance(unknown_county, BadLine) and "'Gotham' is not a county of CA" in unknown_county.reason


def test_a_booking_record_in_json_without_its_state_is_refused_not_taken_as_california(codec):
    (refused,) = read_jsonl(_jsonl(_trust_era_booking(None, "Kern")[:1]), codec)
    assert isinstance(refused, BadLine) and "must say its 'state'" in refused.reason

def test_the_worker_dead_letters_a_booking_record_of_an_unknown_state_or_county(codec):
    step = Step(codec)
    for state, county in (("XX", "Kern"), ("CA", "Gotham")):
        step.send(*_trust_era_booking(state, county)[0])
    assert [d.reason_code for d in step.dead] == ["INVALID_FIELD", "INVALID_FIELD"]
    assert "Gotham" in step.dead[1].reason and step.dead[1].booking_id == "J"


def test_the_places_table_is_complete():
    known = places.load()
    assert len(known.states) == 56  # 50 states, DC and five territories (USPS Publication 28)
    assert len(known.states["CA"].counties) == 58
    assert known.state("Northern Mariana Islands") == "MP" and known.state("Ca.") is None


def test_a_booking_whose_booking_record_was_refused_is_never_decided_under_another_states_law(codec):
    """A Washington record with a charge level the schema has no word for is refused (no writer can encode it); the
    booking's later events are decided with nothing permitted and a review, not as a California booking."""
    events = _trust_era_booking("WA", "Pierce")
    refused = dict(events[0][1], charges=[{"statute": "RCW 9A.36.041", "level": "GROSS_MISDEMEANOR"}])
    with pytest.raises(EventValidationError, match="GROSS_MISDEMEANOR"):
        codec.encode("BookingRecorded", refused)
    step = Step(codec)
    for type_name, record in events[1:]:
        step.send(type_name, record)
    step.tick(datetime(2015, 3, 9, tzinfo=UTC))
    got = {(o.record.get("kind") or o.record.get("directive"), o.record.get("outcome"), o.record["rule_id"],
            o.record["regime"]) for o in step.outputs}
    assert ("REVIEW", "HUMAN_REVIEW", "review.jurisdiction-unknown", "NONE") in got
    assert ("NOTIFICATION", "DENIED", "jurisdiction.unknown", "NONE") in got
    assert ("HOLD", "DENIED", "jurisdiction.unknown", "NONE") in got
    assert ("RELEASE", None, "release.eligible", "NONE") in got  # a release is never withheld
    assert not any(o.type_name == "TruthActNotice" or o.record.get("outcome") == "PERMITTED" for o in step.outputs)


def test_a_decision_before_the_trust_act_cites_no_later_law(codec):
    """S01 is a 2013 booking: nothing it is told may cite the TRUST Act's 2014 text or the Values Act."""
    from tests.scenarios.loader import CASES, load
    from tests.scenarios.test_scenarios import run_decide

    scenario = load(next(CASES.glob("s01_*.yaml")))
    outputs = run_decide(scenario, codec)
    assert outputs and {o["regime"] for o in outputs} == {"CA_PRE_TRUST"}
    for o in outputs:
        assert "2014 text" not in o["citation"] and "7284" not in o["citation"] and "7282(b)" not in o["citation"], o

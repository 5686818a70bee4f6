"""A denial for want of a criterion says whether the criminal history was checked: none on record is not the same
as checked with nothing qualifying, and the records checked are its evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from streams import events as ev
from streams.cases import custody, new_case
from streams.law import rulebook, rulings

BOOK = rulebook.load()
ZONE = ZoneInfo("America/Los_Angeles")
AT = datetime(2019, 6, 1, 17, tzinfo=UTC)


def _checked(*convictions: ev.Conviction):
    history = ev.CriminalHistoryRecorded(event_id="hist-1", occurred_at=AT, source="t", booking_id="B",
                                         person_id="P", convictions=convictions)
    return custody.history(BOOK, new_case("B", "CA", "Kern"), history).case.facts


@pytest.mark.parametrize("decide", [
    lambda facts: rulings.notification(BOOK, facts, AT, ZONE),
    lambda facts: rulings.transfer(BOOK, facts, AT, ZONE, (), in_hold=False),
], ids=["notification", "transfer"])
def test_a_denial_says_whether_the_history_was_checked(decide):
    unchecked = decide(new_case("B", "CA", "Kern").facts)
    assert unchecked.outcome == "DENIED" and "no criminal history on record: it was not checked" in unchecked.reason
    assert unchecked.evidence == ()
    clean = decide(_checked(ev.Conviction("VC 12500", "MISDEMEANOR", date(2015, 1, 1))))
    assert clean.outcome == "DENIED" and "criminal history checked (1 record): nothing on it qualifies" in clean.reason
    assert clean.evidence == ("hist-1",)
    assert clean.rule_id == unchecked.rule_id  # the same rule; only what is known differs
    serious = decide(_checked(ev.Conviction("PC 211", "FELONY", date(2015, 1, 1))))
    assert serious.outcome == "PERMITTED" and "checked" not in serious.reason


def test_a_trust_act_hold_denied_for_want_of_a_criterion_names_the_history_checked():
    from streams.law.detainers import Detainer

    lodged = datetime(2015, 6, 1, 17, tzinfo=UTC)
    detainer = Detainer("D1", "I247D", "NONE", lodged, "det-1")
    facts = _checked(ev.Conviction("VC 12500", "MISDEMEANOR", date(2012, 1, 1)))
    ruling = rulings.hold(BOOK, facts, (detainer,), datetime(2015, 6, 2, 17, tzinfo=UTC), ZONE)
    assert (ruling.outcome, ruling.rule_id) == ("DENIED", "hold.trust-no-criterion")
    assert "criminal history checked (1 record)" in ruling.reason and set(ruling.evidence) == {"det-1", "hist-1"}

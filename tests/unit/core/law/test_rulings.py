"""A denial for want of a criterion says whether the criminal history was checked: none on record is not the same
as checked with nothing qualifying, and the records checked are its evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from streams.core import events as ev
from streams.core.cases import custody, new_case
from streams.core.law import rulebook, rulings

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
    from streams.core.law.detainers import Detainer

    lodged = datetime(2015, 6, 1, 17, tzinfo=UTC)
    detainer = Detainer("D1", "I247D", "NONE", lodged, "det-1")
    facts = _checked(ev.Conviction("VC 12500", "MISDEMEANOR", date(2012, 1, 1)))
    ruling = rulings.hold(BOOK, facts, (detainer,), datetime(2015, 6, 2, 17, tzinfo=UTC), ZONE)
    assert (ruling.outcome, ruling.rule_id) == ("DENIED", "hold.trust-no-criterion")
    assert "criminal history checked (1 record)" in ruling.reason and set(ruling.evidence) == {"det-1", "hist-1"}


def _with_policy(tmp_path, **policy):
    import shutil

    import yaml

    root = tmp_path / "law"
    shutil.copytree(rulebook.DATA_DIR, root)
    data = yaml.safe_load((root / "policies.yaml").read_text())
    data["policies"].append({"id": "test-policy", "jurisdiction": "CA/Kern", "citation": "a test policy", **policy})
    (root / "policies.yaml").write_text(yaml.safe_dump(data))
    return rulebook.load(root)


def test_a_policy_forbids_transfers_except_on_a_judicial_warrant(tmp_path):
    """'No transfers without a judicial warrant': a serious felony, enough under state law, is not enough here."""
    book = _with_policy(tmp_path, **{"from": "2018-01-01T00:00:00-08:00", "forbids": ["TRANSFER"],
                                     "unless": ["JUDICIAL_WARRANT"]})
    facts = _checked(ev.Conviction("PC 211", "FELONY", date(2015, 1, 1)))
    assert rulings.transfer(BOOK, facts, AT, ZONE, (), in_hold=False).outcome == "PERMITTED"  # state law alone
    denied = rulings.transfer(book, facts, AT, ZONE, (), in_hold=False)
    assert (denied.outcome, denied.rule_id) == ("DENIED", "transfer.local-policy")
    assert "none of its exceptions applies: judicial warrant" in denied.reason
    warranted = rulings.transfer(book, facts, AT, ZONE, ("warrant-1",), in_hold=False)
    assert (warranted.outcome, warranted.rule_id) == ("PERMITTED", "transfer.values-judicial")
    # what the policy does not name it leaves to state law
    assert rulings.notification(book, facts, AT, ZONE).outcome == "PERMITTED"


def test_a_policy_forbids_holds_except_for_a_serious_or_violent_conviction(tmp_path):
    from streams.core.law.detainers import Detainer

    book = _with_policy(tmp_path, **{"from": "2014-01-01T00:00:00-08:00", "forbids": ["HOLD"],
                                     "unless": ["SERIOUS_OR_VIOLENT_CONVICTION"]})
    detainer = Detainer("D1", "I247D", "NONE", datetime(2015, 6, 1, 17, tzinfo=UTC), "det-1")
    eligible = datetime(2015, 6, 2, 17, tzinfo=UTC)
    serious = _checked(ev.Conviction("PC 211", "FELONY", date(2012, 1, 1)))
    listed = _checked(ev.Conviction("PC 69", "FELONY", date(2012, 1, 1)))  # a listed felony (H), not serious
    assert rulings.hold(book, serious, (detainer,), eligible, ZONE).outcome == "PERMITTED"
    assert rulings.hold(BOOK, listed, (detainer,), eligible, ZONE).outcome == "PERMITTED"
    held = rulings.hold(book, listed, (detainer,), eligible, ZONE)
    assert (held.outcome, held.rule_id) == ("DENIED", "hold.local-policy")


def test_a_policy_exception_the_rule_book_does_not_know_is_refused(tmp_path):
    with pytest.raises(rulebook.RuleBookError, match="unknown exception.*ICE_PAYS"):
        _with_policy(tmp_path, **{"from": "2014-01-01T00:00:00-08:00", "forbids": ["HOLD"], "unless": ["ICE_PAYS"]})

from datetime import date

import pytest

from streams.core.events import Charge, Conviction
from streams.core.law import rulebook
from streams.core.law.carve_outs import (
    categories_of,
    criteria_met,
    is_serious_or_violent,
    prop47_bar,
    statute_matches,
    unsettled,
)
from streams.core.law.facts import Facts, Finding

BOOK = rulebook.load()


def conv(statute, level, on, **kw):
    return Conviction(statute=statute, level=level, conviction_date=date.fromisoformat(on), **kw)


def met(facts, regime, on):
    return {b.criterion for b in criteria_met(BOOK, facts, regime, date.fromisoformat(on))}


def person(*convictions, **kw):
    return Facts(convictions=tuple((c, f"e{i}") for i, c in enumerate(convictions)), **kw)


@pytest.mark.parametrize(("statute", "listed", "expected"), [
    ("PC 245(a)(1)", "PC 245", True), ("PC 245", "PC 245", True), ("PC 266a", "PC 266", False),
    ("PC 2450", "PC 245", False), ("PC 261(a)(2)(B)", "PC 261(a)(2)", True), ("PC 261(a)(3)", "PC 261(a)(2)", False),
    ("VC 245", "PC 245", False),
])
def test_statutes_match_by_section_and_subdivision(statute, listed, expected):
    assert statute_matches(statute, listed) is expected


def test_the_anniversary_day_of_the_five_year_window_is_outside():
    wobbler = person(conv("PC 273.5", "MISDEMEANOR", "2010-03-12"))
    assert "7282.5(a)(3)" in met(wobbler, "CA_TRUST", "2015-03-11")
    assert "7282.5(a)(3)" not in met(wobbler, "CA_TRUST", "2015-03-12")


def test_the_anniversary_day_of_the_fifteen_year_window_is_outside():
    felony = person(conv("PC 487(a)", "FELONY", "2011-11-15", sentenced_under_1170h=True))
    assert met(felony, "CA_VALUES", "2026-11-14") == {"7282.5(a)(3)"}
    assert met(felony, "CA_VALUES", "2026-11-15") == set()
    assert met(felony, "CA_TRUST", "2030-01-01") == {"7282.5(a)(3)"}  # TRUST: felony limb at any time


def test_the_earlier_of_plea_and_conviction_dates_counts():
    late_sentence = person(conv("PC 273.5", "MISDEMEANOR", "2010-03-20", plea_date=date(2010, 3, 1)))
    assert "7282.5(a)(3)" not in met(late_sentence, "CA_TRUST", "2015-03-12")


def test_a_straight_misdemeanor_is_not_a_wobbler():
    assert met(person(conv("PC 242", "MISDEMEANOR", "2014-01-01")), "CA_TRUST", "2015-01-01") == set()


def test_serious_felony_and_state_prison_felony():
    assert met(person(conv("PC 211", "FELONY", "1999-01-01")), "CA_VALUES", "2019-01-01") >= {"7282.5(a)(1)"}
    # A8: a pre-Realignment felony is not relied on as a state-prison felony unless tagged
    assert "7282.5(a)(2)" not in met(person(conv("HS 11351", "FELONY", "2010-01-01")), "CA_VALUES", "2019-01-01")
    # a felony whose record does not say where it is punished is not taken to be a state-prison one (PC 1170(h))
    assert "7282.5(a)(2)" not in met(person(conv("HS 11351", "FELONY", "2012-01-01")), "CA_VALUES", "2019-01-01")
    assert "7282.5(a)(2)" not in met(person(conv("VC 10851", "FELONY", "2016-01-01")), "CA_VALUES", "2019-01-01")
    # a serious or violent felony is never sentenced under 1170(h)
    assert "7282.5(a)(2)" in met(person(conv("PC 211", "FELONY", "2012-01-01")), "CA_VALUES", "2019-01-01")
    said = conv("HS 11351", "FELONY", "2012-01-01", category_tags=("STATE_PRISON_FELONY",))
    assert "7282.5(a)(2)" in met(person(said), "CA_VALUES", "2019-01-01")
    tagged = conv("HS 11351", "FELONY", "2010-01-01", category_tags=("STATE_PRISON_FELONY",))
    assert "7282.5(a)(2)" in met(person(tagged), "CA_VALUES", "2019-01-01")
    county_jail = conv("HS 11351", "FELONY", "2015-01-01", sentenced_under_1170h=True)
    assert met(person(county_jail), "CA_VALUES", "2019-01-01") == set()


def test_unnamed_sections_count_only_with_an_explicit_category_tag():
    drugs = conv("HS 11352", "FELONY", "2015-01-01", sentenced_under_1170h=True)
    assert met(person(drugs), "CA_VALUES", "2019-01-01") == set()
    tagged = conv("HS 11352", "FELONY", "2015-01-01", sentenced_under_1170h=True,
                  category_tags=("7282.5(a)(3)(M)",))
    assert categories_of(BOOK, tagged) == ["M"]
    assert met(person(tagged), "CA_VALUES", "2019-01-01") == {"7282.5(a)(3)"}


def test_attempt_of_a_listed_offense_is_category_p():
    attempt = conv("PC 664/211", "FELONY", "2015-01-01", sentenced_under_1170h=True)
    assert set(categories_of(BOOK, attempt)) == {"F", "P"}


def test_felony_dui_counts_and_misdemeanor_dui_does_not():
    assert met(person(conv("VC 23153", "FELONY", "2015-01-01", sentenced_under_1170h=True)), "CA_VALUES",
               "2019-01-01") == {"7282.5(a)(3)"}
    assert met(person(conv("VC 23153", "MISDEMEANOR", "2018-01-01")), "CA_VALUES", "2019-01-01") == set()


def test_prop47_misdemeanors_are_no_basis_and_a_current_one_bars_everything():
    reduced = person(conv("PC 496(a)", "MISDEMEANOR", "2017-04-10", prop47_reduced=True))
    assert met(reduced, "CA_VALUES", "2019-01-01") == set()
    arrested = Facts(charges=(Charge("HS 11350", "MISDEMEANOR"),), charges_event="b1")
    assert prop47_bar(BOOK, arrested) == "b1"
    assert prop47_bar(BOOK, Facts(charges=(Charge("HS 11350", "FELONY"),))) is None


def test_registrants_and_federal_warrants():
    assert met(Facts(registrant_event="h1"), "CA_VALUES", "2019-01-01") == {"7282.5(a)(4)"}
    assert met(Facts(federal_warrant_event="d1"), "CA_VALUES", "2019-01-01") == {"7282.5(a)(5)"}
    aggravated = conv("8 USC 1326", "FELONY", "2015-01-01", jurisdiction="FEDERAL", aggravated_felony=True)
    assert "7282.5(a)(5)" in met(person(aggravated), "CA_VALUES", "2019-01-01")


def test_probable_cause_findings_differ_by_regime():
    robbery = Facts(findings=(Finding(Charge("PC 211", "FELONY"), date(2019, 7, 10), "f1"),))
    values = criteria_met(BOOK, robbery, "CA_VALUES", date(2019, 7, 12))
    assert [(b.criterion, sorted(b.unlocks)) for b in values] == [("7282.5(b)", ["NOTIFY"])]
    assert met(robbery, "CA_TRUST", "2016-10-14") == {"7282.5(a)(pc-2014)"}
    dv = Facts(findings=(Finding(Charge("PC 273.5", "FELONY", domestic_violence=True), date(2016, 1, 1), "f"),))
    assert met(dv, "CA_TRUST", "2016-01-02") == set()  # the 2014 text's domestic-violence carve-out
    listed = Facts(findings=(Finding(Charge("PC 487", "FELONY"), date(2016, 1, 1), "f"),))
    assert met(listed, "CA_TRUST", "2016-01-02") == {"7282.5(a)(pc-2014)"}
    assert met(listed, "CA_VALUES", "2019-01-02") == set()


def test_attempts_and_conspiracies_of_serious_felonies_are_serious_but_attempted_assaults_are_not():
    assert is_serious_or_violent(BOOK, "PC 664/211") and is_serious_or_violent(BOOK, "PC 182/211")
    assert is_serious_or_violent(BOOK, "PC 182/245(a)(1)")  # (c)(42) excepts nothing
    assert not is_serious_or_violent(BOOK, "PC 664/245(a)(1)")  # (c)(39): other than an assault
    assert not is_serious_or_violent(BOOK, "PC 664/484")  # the attempt of a felony that is not serious
    assert "7282.5(a)(1)" in met(person(conv("PC 664/211", "FELONY", "2015-01-01")), "CA_VALUES", "2019-01-01")


@pytest.mark.parametrize("statute", ["PC 244", "PC 245.2", "PC 4500", "PC 4501(a)", "PC 4503", "PC 18740", "PC 18750",
                                     "PC 18755", "PC 26100(c)", "PC 11418(b)", "PC 12022.5", "PC 12022(b)(1)",
                                     "PC 487(d)(2)", "PC 288(a)", "PC 289(a)", "PC 209.5", "PC 262(a)(1)",
                                     "PC 264.1"])
def test_the_serious_and_violent_felonies_the_table_names_by_clause(statute):
    assert is_serious_or_violent(BOOK, statute)
    assert BOOK.offenses.classify(statute).citations  # each says which clause makes it so
    assert "PC 1192.7(c)(34)" in BOOK.offenses.classify("PC 264.1").citations  # in concert, not (c)(3)
    assert "7282.5(a)(1)" in met(person(conv(statute, "FELONY", "2012-01-01")), "CA_VALUES", "2019-01-01")


@pytest.mark.parametrize("statute", ["PC 288(c)(1)", "PC 288", "PC 286(b)(1)", "PC 289(b)", "PC 288a(b)(1)",
                                     "PC 191.5(a)", "PC 518", "HS 11353", "HS 11380"])
def test_a_section_serious_only_in_part_is_no_basis_and_asks_a_human(statute):
    # lewd acts on a child of 14 or 15, sodomy or penetration without force, vehicular manslaughter without a
    # finding of great bodily injury personally inflicted: none is serious or violent by its section alone
    facts = person(conv(statute, "FELONY", "2012-01-01"))
    assert not is_serious_or_violent(BOOK, statute)
    assert "7282.5(a)(1)" not in met(facts, "CA_VALUES", "2019-01-01")
    assert [e for e, _ in unsettled(BOOK, facts, "CA_VALUES", "NOTIFY")] == ["e0"]
    tagged = person(conv(statute, "FELONY", "2012-01-01", category_tags=("SERIOUS_FELONY",)))
    assert "7282.5(a)(1)" in met(tagged, "CA_VALUES", "2019-01-01")  # a tag adds what the record shows


def test_felonies_sentenced_under_1170h_are_known_not_to_be_state_prison_felonies():
    for statute in ("PC 33", "PC 69", "PC 148(b)", "PC 148.10", "PC 72.5(a)"):
        found = BOOK.offenses.classify(statute)
        assert found.known and not found.state_prison
        assert any(o.sentencing == "COUNTY_JAIL" for o in found.entries), statute
    finding = Facts(findings=(Finding(Charge("PC 33", "FELONY"), date(2019, 1, 1), "f1"),))
    assert unsettled(BOOK, finding, "CA_VALUES", "NOTIFY") == ()  # its sentencing is known: nothing to settle
    unknown = Facts(findings=(Finding(Charge("PC 10000", "FELONY"), date(2019, 1, 1), "f1"),))
    assert [e for e, _ in unsettled(BOOK, unknown, "CA_VALUES", "NOTIFY")] == ["f1"]

"""Less information never yields more cooperation: a tag or an adding flag taken off a history never turns a
denial into a permission, and a statute the offense table does not know permits nothing."""

from dataclasses import replace
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.events import Charge, Conviction
from streams.core.law import rulebook
from streams.core.law.carve_outs import criteria_met, unsettled
from streams.core.law.facts import Facts, Finding

BOOK = rulebook.load()
ON = date(2019, 6, 1)
#: statutes of every kind the table has (serious, listed, wobbler, Prop 47, domestic violence, state prison, none),
#: attempts and conspiracies, and statutes it does not know
STATUTES = ["PC 211", "PC 664/211", "PC 182/211", "PC 664/245(a)(1)", "PC 245(a)(1)", "PC 459", "PC 460(a)",
            "PC 273.5", "PC 243(e)(1)", "PC 242", "PC 422", "PC 487", "PC 496", "HS 11350", "HS 11351",
            "VC 23152", "VC 23153", "VC 2800.2", "VC 10851", "PC 32", "PC 602", "RCW 9A.36.041"]
TAGS = ["SERIOUS_FELONY", "VIOLENT_FELONY", "STATE_PRISON_FELONY", "WOBBLER", "7282.5(a)(3)(A)",
        "7282.5(a)(3)(F)", "7282.5(a)(3)(M)"]
KINDS = {"CA_TRUST": ("HOLD", "NOTIFY", "TRANSFER"), "CA_VALUES": ("NOTIFY", "TRANSFER")}

convictions = st.builds(
    Conviction, statute=st.sampled_from(STATUTES), level=st.sampled_from(["FELONY", "MISDEMEANOR"]),
    conviction_date=st.dates(date(1995, 1, 1), date(2019, 5, 1)),
    jurisdiction=st.sampled_from(["CALIFORNIA", "CALIFORNIA", "FEDERAL", "OTHER_STATE"]),
    aggravated_felony=st.booleans(), category_tags=st.lists(st.sampled_from(TAGS), unique=True, max_size=2).map(tuple),
    california_equivalent=st.one_of(st.none(), st.sampled_from(STATUTES)))
findings = st.builds(Finding, charge=st.builds(Charge, statute=st.sampled_from(STATUTES),
                                               level=st.sampled_from(["FELONY", "MISDEMEANOR"])),
                     on=st.just(date(2019, 5, 20)), event_id=st.just("finding"))
histories = st.builds(lambda cs, fs: Facts(state="CA", county="Kern",
                                           convictions=tuple((c, f"conv-{i}") for i, c in enumerate(cs)),
                                           findings=tuple(fs)),
                      st.lists(convictions, max_size=3), st.lists(findings, max_size=1))


def permits(facts: Facts, regime: str, kind: str) -> bool:
    return any(kind in b.unlocks for b in criteria_met(BOOK, facts, regime, ON))


def lessened(facts: Facts):
    """Every history with one tag, one adding flag, or a California equivalent taken off one conviction."""
    for i, (conviction, event_id) in enumerate(facts.convictions):
        less = [replace(conviction, category_tags=tuple(t for t in conviction.category_tags if t != tag))
                for tag in conviction.category_tags]
        if conviction.aggravated_felony:
            less.append(replace(conviction, aggravated_felony=False))
        if conviction.california_equivalent is not None:
            less.append(replace(conviction, california_equivalent=None))
        for fewer in less:
            yield replace(facts, convictions=facts.convictions[:i] + ((fewer, event_id),) + facts.convictions[i + 1:])


@settings(max_examples=400, deadline=None)
@given(histories, st.sampled_from(sorted(KINDS)))
def test_a_tag_taken_off_never_turns_a_denial_into_a_permission(facts, regime):
    for kind in KINDS[regime]:
        if permits(facts, regime, kind):
            continue
        for less in lessened(facts):
            assert not permits(less, regime, kind), (regime, kind, less)


@settings(max_examples=300, deadline=None)
@given(histories, st.sampled_from(sorted(KINDS)))
def test_an_unknown_statute_permits_nothing_and_is_named_for_review(facts, regime):
    unknown = [(c, e) for c, e in facts.convictions if c.statute in ("PC 32", "PC 602") and not c.category_tags
               and c.jurisdiction == "CALIFORNIA"]
    known = replace(facts, convictions=tuple(x for x in facts.convictions if x not in unknown))
    for kind in KINDS[regime]:
        assert permits(facts, regime, kind) == permits(known, regime, kind)
        named = {e for e, _ in unsettled(BOOK, facts, regime, kind)}
        assert {e for _, e in unknown} <= named


@settings(max_examples=300, deadline=None)
@given(histories, st.sampled_from(sorted(KINDS)))
def test_a_conviction_elsewhere_without_its_california_equivalent_permits_nothing_and_is_named_for_review(facts,
                                                                                                         regime):
    """Whatever its section reads ('PC 211' in another state's record), only the equivalent given counts."""
    bare = [(c, e) for c, e in facts.convictions if c.jurisdiction == "OTHER_STATE" and not c.category_tags
            and c.california_equivalent is None]
    rest = replace(facts, convictions=tuple(x for x in facts.convictions if x not in bare))
    for kind in KINDS[regime]:
        assert permits(facts, regime, kind) == permits(rest, regime, kind)
        assert {e for _, e in bare} <= {e for e, _ in unsettled(BOOK, facts, regime, kind)}


def test_the_second_prongs_reach_a_state_prison_felony_and_the_2014_text_excludes_domestic_violence():
    def held_on(statute):
        return Facts(state="CA", findings=(Finding(Charge(statute, "FELONY"), date(2019, 5, 20), "f1"),))
    assert permits(held_on("VC 2800.2"), "CA_VALUES", "NOTIFY")
    assert not permits(held_on("VC 2800.2"), "CA_VALUES", "TRANSFER")  # 7282.5(b) unlocks notification only
    assert permits(held_on("VC 2800.2"), "CA_TRUST", "HOLD")
    assert not permits(held_on("PC 273.5"), "CA_TRUST", "HOLD")  # domestic violence, by its statute
    assert not permits(held_on("PC 273.5"), "CA_VALUES", "NOTIFY")  # its sentencing is not in the table
    assert [e for e, _ in unsettled(BOOK, held_on("PC 273.5"), "CA_VALUES", "NOTIFY")] == ["f1"]
    assert unsettled(BOOK, held_on("PC 273.5"), "CA_TRUST", "HOLD") == ()
    assert unsettled(BOOK, held_on("PC 273.5"), "CA_VALUES", "TRANSFER") == ()  # a finding cannot unlock it

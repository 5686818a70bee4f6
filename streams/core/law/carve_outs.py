"""Gov. Code 7282.5: which facts about a person permit cooperation under a regime, on a given local date.

`criteria_met` returns every criterion that holds, each with the events it rests on; an empty result means no
cooperation. What a statute is comes from the offense table (`streams.core.law.offenses`, data/offenses.yaml).
Pure: the decision date is an argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from streams.core.events import Charge, Conviction
from streams.core.law.calendar import years_before
from streams.core.law.facts import Facts, Finding
from streams.core.law.offenses import Classification, normal
from streams.core.law.rulebook import RuleBook

TAG_SERIOUS = ("SERIOUS_FELONY", "VIOLENT_FELONY")
TAG_STATE_PRISON = "STATE_PRISON_FELONY"
TAG_CATEGORY = "7282.5(a)(3)("


@dataclass(frozen=True)
class Basis:
    """One criterion met, why, and the ids of the events it rests on."""

    criterion: str
    citation: str
    detail: str
    evidence: tuple[str, ...]
    unlocks: frozenset[str]


def statute_matches(statute: str, listed: str) -> bool:
    """True when `statute` is the listed section or one of its subdivisions ('PC 245(a)(1)' matches 'PC 245')."""
    s, entry = normal(statute), normal(listed)
    return s == entry or s.startswith(entry + "(")


def _underlying(statute: str) -> str:
    """'PC 664/211' (attempt) and 'PC 182/211' (conspiracy) name the listed offense after the slash (category P)."""
    code, _, rest = statute.partition(" ")
    head, slash, tail = rest.partition("/")
    return f"{code} {tail}" if slash and head in ("664", "182") else statute


def classify(book: RuleBook, statute: str) -> Classification:
    """The offense table's classification of a statute; an attempt or conspiracy is classified by its offense."""
    return book.offenses.classify(_underlying(statute))


def is_known(book: RuleBook, statute: str) -> bool:
    """True when the offense table covers the statute (or the offense an attempt or conspiracy names)."""
    return classify(book, statute).known


def california_statute(conviction: Conviction) -> str:
    """The California statute a conviction is classified by.

    Its own in California; outside California the equivalent by its elements given on the record (PC 667(d)(2)),
    or '' when none is given, which the offense table does not know.
    """
    if conviction.jurisdiction == "CALIFORNIA":
        return conviction.statute
    return conviction.california_equivalent or ""


def categories_of(book: RuleBook, conviction: Conviction) -> list[str]:
    """The 7282.5(a)(3) categories of a conviction, by named section or by explicit tag (A5)."""
    tagged = [t[len(TAG_CATEGORY):-1] for t in conviction.category_tags if t.startswith(TAG_CATEGORY)]
    statute = california_statute(conviction)
    named = classify(book, statute).categories
    if named and _underlying(statute) != statute:
        named = named | {"P"}
    return sorted(set(tagged).union(named) & set(book.categories))


def is_prop47_misdemeanor(book: RuleBook, statute: str, level: str, reduced: bool = False) -> bool:
    """A misdemeanor that Prop 47 made one: no basis for anything, and a bar while it is the arrest (A6)."""
    return level == "MISDEMEANOR" and (reduced or book.offenses.classify(statute).prop47)


def is_serious_or_violent(book: RuleBook, statute: str, tags: tuple[str, ...] = ()) -> bool:
    """A serious (PC 1192.7(c)) or violent (PC 667.5(c)) felony, by the offense table or a tag.

    An attempt of a listed felony other than an assault (PC 1192.7(c)(39)), and a conspiracy to commit one
    (PC 1192.7(c)(42)), are serious too.
    """
    if any(t in TAG_SERIOUS for t in tags) or book.offenses.classify(statute).serious_or_violent:
        return True
    underlying = _underlying(statute)
    if underlying == statute:
        return False
    found = book.offenses.classify(underlying)
    attempt = statute.partition(" ")[2].startswith("664/")
    return found.serious_or_violent and not (attempt and not found.attempt_serious)


def is_state_prison_felony(book: RuleBook, statute: str) -> bool:
    """A felony punishable in the state prison by the offense table (every serious or violent one is)."""
    return is_serious_or_violent(book, statute) or book.offenses.classify(statute).state_prison


def prop47_bar(book: RuleBook, facts: Facts) -> str | None:
    """The event id of a current Prop 47 misdemeanor charge that bars all cooperation (7282.5(a)(6)), if any."""
    if any(is_prop47_misdemeanor(book, c.statute, c.level) for c in facts.charges):
        return facts.charges_event or "charges"
    return None


def criteria_met(book: RuleBook, facts: Facts, regime: str, on: date) -> tuple[Basis, ...]:
    """Every criterion of `regime` that `facts` meet on the local date `on` (windows per A4)."""
    found = list(_conviction_criteria(book, facts, regime, on))
    if facts.registrant_event:
        found.append(_basis(book, "7282.5(a)(4)", "current registrant", (facts.registrant_event,)))
    if facts.federal_warrant_event:
        found.append(_basis(book, "7282.5(a)(5)", "outstanding federal felony arrest warrant",
                            (facts.federal_warrant_event,)))
    found.extend(_finding_criteria(book, facts.findings, regime))
    return tuple(b for b in found if _belongs(book, b.criterion, regime))


def _belongs(book: RuleBook, criterion: str, regime: str) -> bool:
    regimes = book.criteria[criterion].regimes
    return regimes is None or regime in regimes


def _basis(book: RuleBook, criterion: str, detail: str, evidence: tuple[str, ...]) -> Basis:
    spec = book.criteria[criterion]
    return Basis(criterion, spec.citation, detail, evidence, spec.unlocks)


def _conviction_criteria(book: RuleBook, facts: Facts, regime: str, on: date) -> Iterator[Basis]:
    for conviction, event_id in facts.convictions:
        statute = california_statute(conviction)
        # an equivalent only adds: it never takes a conviction elsewhere out as a Prop 47 misdemeanor
        own = conviction.statute if conviction.jurisdiction == "CALIFORNIA" else ""
        if is_prop47_misdemeanor(book, own, conviction.level, conviction.prop47_reduced):
            continue
        equivalent = f" (in California {statute})" if statute and statute != conviction.statute else ""
        what = f"{conviction.level.lower()} {conviction.statute}{equivalent} convicted {_convicted_on(conviction)}"
        if conviction.level == "FELONY" and is_serious_or_violent(book, statute, conviction.category_tags):
            yield _basis(book, "7282.5(a)(1)", what, (event_id,))
        if _state_prison_felony(book, conviction):
            yield _basis(book, "7282.5(a)(2)", what, (event_id,))
        for code in _listed_within_window(book, conviction, regime, on):
            yield _basis(book, "7282.5(a)(3)", f"{what}, category ({code})", (event_id,))
        if conviction.jurisdiction == "FEDERAL" and conviction.aggravated_felony:
            yield _basis(book, "7282.5(a)(5)", f"federal aggravated felony {conviction.statute}", (event_id,))


def _convicted_on(conviction: Conviction) -> date:
    """The earlier of plea and conviction dates: an older conviction means less cooperation (A4)."""
    if conviction.plea_date and conviction.plea_date < conviction.conviction_date:
        return conviction.plea_date
    return conviction.conviction_date


def _state_prison_felony(book: RuleBook, conviction: Conviction) -> bool:
    """Punishable in state prison only when the record says so, or for a serious or violent felony.

    Since Public Safety Realignment most felonies are sentenced to county jail (PC 1170(h)); a felony whose record
    does not say where it is punished is not taken to be a state-prison one: less information never means more
    cooperation. A serious or violent felony is never sentenced under 1170(h) (PC 1170(h)(3)).
    """
    if conviction.level != "FELONY" or conviction.sentenced_under_1170h or conviction.jurisdiction != "CALIFORNIA":
        return False
    if TAG_STATE_PRISON in conviction.category_tags:
        return True
    realigned = book.criteria["7282.5(a)(2)"].realignment_date
    after_realignment = realigned is None or _convicted_on(conviction) >= realigned
    if not after_realignment:  # A8
        return False
    return is_serious_or_violent(book, conviction.statute, conviction.category_tags) or \
        book.offenses.classify(conviction.statute).state_prison  # a California conviction: its own statute


def _listed_within_window(book: RuleBook, conviction: Conviction, regime: str, on: date) -> list[str]:
    categories = categories_of(book, conviction)
    if conviction.level == "MISDEMEANOR":
        wobbler = classify(book, california_statute(conviction)).wobbler or "WOBBLER" in conviction.category_tags
        categories = [c for c in categories if wobbler and not book.categories[c].felony_only]
        years = book.windows["misdemeanor_limb"].get(regime)
    elif conviction.level == "FELONY":
        years = book.windows["felony_limb"].get(regime)
    else:
        return []
    if not categories:
        return []
    if years is None or _convicted_on(conviction) > years_before(on, int(years)):
        return categories
    return []


def _finding_criteria(book: RuleBook, findings: tuple[Finding, ...], regime: str) -> Iterator[Basis]:
    """PC 872 findings: 7282.5(b) under the Values Act, the 2014 text's pending-charge criterion under the TRUST Act.

    Both reach a serious or violent felony and a felony punishable in the state prison; the 2014 text also reaches a
    listed felony, and excludes domestic violence from the state-prison and listed prongs.
    """
    for finding in findings:
        charge = finding.charge
        if charge.level != "FELONY":
            continue
        serious = is_serious_or_violent(book, charge.statute)
        prison = is_state_prison_felony(book, charge.statute)
        what = f"held to answer (PC 872) on {charge.statute} on {finding.on}"
        if regime == "CA_VALUES" and (serious or prison):
            kind = "a serious or violent felony" if serious else "a felony punishable in the state prison"
            yield _basis(book, "7282.5(b)", f"{what}, {kind}", (finding.event_id,))
        if regime == "CA_TRUST" and (serious or (not is_domestic_violence(book, charge) and (
                prison or classify(book, charge.statute).categories))):
            yield _basis(book, "7282.5(a)(pc-2014)", what, (finding.event_id,))


def unsettled(book: RuleBook, facts: Facts, regime: str, kind: str) -> tuple[tuple[str, str], ...]:
    """What on record the offense table cannot classify, and that could unlock `kind`: (event id, what is missing).

    A California conviction of a statute the table does not know, a conviction elsewhere (its California equivalent
    is not given), and a PC 872 finding on a felony the table does not know or does not know the sentencing of,
    where a finding can unlock `kind` (7282.5(b): notification; the 2014 text: anything, but not on domestic
    violence). None of them is a basis for anything; a denial while one is on record asks a human to settle it.
    """
    out = []
    for conviction, event_id in facts.convictions:
        if conviction.prop47_reduced or any(t in TAG_SERIOUS for t in conviction.category_tags):
            continue
        if conviction.jurisdiction == "CALIFORNIA" and not is_known(book, conviction.statute):
            out.append((event_id, f"conviction of {conviction.statute} ({conviction.level.lower()}), which the offense "
                                  "table does not know"))
        elif conviction.jurisdiction == "CALIFORNIA" and conviction.level == "FELONY" and classify(
                book, conviction.statute).in_part:
            out.append((event_id, f"conviction of {conviction.statute}, a section serious or violent in some "
                                  "subdivisions or on some facts only, which the record does not give"))
        elif conviction.jurisdiction not in ("CALIFORNIA", "FEDERAL") and not conviction.california_equivalent:
            out.append((event_id, f"conviction of {conviction.statute} outside California, whose California "
                                  "equivalent is not given"))
        elif conviction.jurisdiction not in ("CALIFORNIA", "FEDERAL") and not is_known(
                book, conviction.california_equivalent or ""):
            out.append((event_id, f"conviction of {conviction.statute} outside California, whose California "
                                  f"equivalent {conviction.california_equivalent} the offense table does not know"))
    findings_count = (regime == "CA_VALUES" and kind in book.criteria["7282.5(b)"].unlocks) or regime == "CA_TRUST"
    for finding in facts.findings if findings_count else ():
        charge = finding.charge
        if charge.level != "FELONY" or is_state_prison_felony(book, charge.statute) or (
                regime == "CA_TRUST" and is_domestic_violence(book, charge)):
            continue
        found = classify(book, charge.statute)
        if not found.known:
            out.append((finding.event_id, f"held to answer on felony {charge.statute}, which the offense table does "
                                          "not know"))
        elif not any(o.sentencing for o in found.entries):
            out.append((finding.event_id, f"held to answer on felony {charge.statute}, of which the offense table does "
                                          "not know whether it is punishable in the state prison"))
    return tuple(out)


def is_domestic_violence(book: RuleBook, charge: Charge) -> bool:
    """Domestic violence by the statute's elements, or as the charge is flagged (a flag adds, never removes)."""
    return charge.domestic_violence or classify(book, charge.statute).domestic_violence

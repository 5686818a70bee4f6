"""The offense table (`data/offenses.yaml`): what California law makes of the statute a charge or conviction names.

A statute is classified by its own entry and by those of the sections it is a subdivision of; a statute no entry
covers is unknown, and unknown is no basis for anything. Classifying is a dictionary lookup, cached per statute.
Pure: the table is data, loaded once with the rule book.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.errors import RuleBookError

STATE_PRISON, COUNTY_JAIL = "STATE_PRISON", "COUNTY_JAIL"
SENTENCING = (STATE_PRISON, COUNTY_JAIL)
#: how a statute is written: a code, a section, subdivisions in parentheses ("PC 245(a)(1)", "VC 23152")
STATUTE = re.compile(r"^(PC|VC|HS|GC|WI) [0-9]+[a-z]{0,2}(\.[0-9]+[a-z]?)?(\([a-z0-9]+\))*$")
_FIELDS = {"name", "serious", "violent", "attempt_serious", "wobbler", "prop47", "domestic_violence", "categories",
           "sentencing", "sources", "unconfirmed", "serious_in_part"}
_SUBDIVISION = re.compile(r"\([^()]*\)$")


def normal(statute: str) -> str:
    """A statute as it is compared: no spaces, upper case ('pc 245 (a)(1)' is 'PC245(A)(1)')."""
    return statute.replace(" ", "").upper()


@dataclass(frozen=True)
class Offense:
    """One entry of the table."""

    statute: str
    sources: tuple[str, ...]
    name: str | None = None
    serious: str | None = None
    violent: str | None = None
    attempt_serious: bool = True
    wobbler: bool = False
    prop47: bool = False
    domestic_violence: bool = False
    categories: frozenset[str] = frozenset()
    sentencing: str | None = None
    unconfirmed: str | None = None
    #: serious or violent in some subdivisions or on some facts only, which the entry does not say
    serious_in_part: bool = False


@dataclass(frozen=True)
class Classification:
    """What the table says of one statute: its entry and its parents' together."""

    #: the entries that cover the statute, most specific first; none: the statute is unknown
    entries: tuple[Offense, ...] = ()
    serious_or_violent: bool = False
    #: False when an attempt of the offense is not serious (the assaults)
    attempt_serious: bool = True
    wobbler: bool = False
    prop47: bool = False
    domestic_violence: bool = False
    categories: frozenset[str] = frozenset()
    state_prison: bool = False
    #: the most specific entry is a section serious or violent only in part: what it is depends on what it
    #: does not say (a subdivision, the record), so a human must classify the conviction
    in_part: bool = False

    @property
    def known(self) -> bool:
        """True when some entry covers the statute."""
        return bool(self.entries)

    @property
    def citations(self) -> tuple[str, ...]:
        """The PC 1192.7(c) and 667.5(c) clauses that make a felony of it serious or violent."""
        return tuple(c for o in self.entries for c in (o.serious, o.violent) if c)


UNKNOWN = Classification()


@dataclass(frozen=True)
class OffenseTable:
    """Every entry by its compared form, and the sources they cite."""

    entries: Mapping[str, Offense]
    sources: Mapping[str, Mapping[str, str]]
    _seen: dict[str, Classification] = field(default_factory=dict, compare=False, repr=False)

    def classify(self, statute: str) -> Classification:
        """The classification of a statute: its entry's and its parent sections' together (UNKNOWN if none)."""
        found = self._seen.get(statute)
        if found is None:
            found = self._seen[statute] = self._classify(statute)
        return found

    def _classify(self, statute: str) -> Classification:
        key, chain = normal(statute), []
        while True:
            entry = self.entries.get(key)
            if entry is not None:
                chain.append(entry)
            parent = _SUBDIVISION.sub("", key)
            if parent == key:
                break
            key = parent
        if not chain:
            return UNKNOWN
        return Classification(
            entries=tuple(chain),
            serious_or_violent=any(o.serious or o.violent for o in chain),
            attempt_serious=all(o.attempt_serious for o in chain),
            wobbler=any(o.wobbler for o in chain),
            prop47=any(o.prop47 for o in chain),
            domestic_violence=any(o.domestic_violence for o in chain),
            categories=frozenset(c for o in chain for c in o.categories),
            state_prison=any(o.sentencing == STATE_PRISON or o.serious or o.violent for o in chain),
            in_part=chain[0].serious_in_part and not any(o.serious or o.violent for o in chain),
        )

    def sections_of(self, category: str) -> tuple[str, ...]:
        """The statutes whose entries name a 7282.5(a)(3) category."""
        return tuple(o.statute for o in self.entries.values() if category in o.categories)


def parse(data: Mapping[str, Any], path: str, categories: set[str]) -> OffenseTable:
    """The table from its YAML, validated: statutes well written, fields known, sources and categories defined."""
    sources = data.get("sources") or {}
    if not isinstance(sources, dict) or not sources:
        raise RuleBookError(f"{path}: sources: missing or not a mapping of id to title and what was checked")
    for sid, spec in sources.items():
        if not isinstance(spec, dict) or not spec.get("title") or not spec.get("checked"):
            raise RuleBookError(f"{path}: sources/{sid}: needs a title and what it was checked against ('checked')")
    entries: dict[str, Offense] = {}
    for statute, spec in (data.get("offenses") or {}).items():
        entries[normal(statute)] = _entry(str(statute), spec, path, set(sources), categories)
    if not entries:
        raise RuleBookError(f"{path}: offenses: missing or empty")
    return OffenseTable(entries, {k: dict(v) for k, v in sources.items()})


def _entry(statute: str, spec: Any, path: str, sources: set[str], categories: set[str]) -> Offense:
    where = f"{path}: offenses/{statute}"
    if not STATUTE.match(statute):
        raise RuleBookError(f"{where}: not a statute like 'PC 245(a)(1)'")
    if not isinstance(spec, dict):
        raise RuleBookError(f"{where}: must be a mapping of fields")
    unknown = set(spec) - _FIELDS
    if unknown:
        raise RuleBookError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    cited = tuple(spec.get("sources") or ())
    if not cited or set(cited) - sources:
        raise RuleBookError(f"{where}: sources must name some of {', '.join(sorted(sources))}")
    bad = set(spec.get("categories") or ()) - categories
    if bad:
        raise RuleBookError(f"{where}: unknown categor(ies) {', '.join(sorted(bad))}")
    for name, prefix in (("serious", "PC 1192.7(c)"), ("violent", "PC 667.5(c)")):
        if spec.get(name) is not None and not str(spec[name]).startswith(prefix):
            raise RuleBookError(f"{where}: {name} must cite a clause of {prefix}")
    if spec.get("sentencing") not in (None, *SENTENCING):
        raise RuleBookError(f"{where}: sentencing must be one of {', '.join(SENTENCING)}")
    if (spec.get("serious") or spec.get("violent")) and spec.get("sentencing") == COUNTY_JAIL:
        raise RuleBookError(f"{where}: a serious or violent felony is never sentenced under PC 1170(h)")
    if spec.get("serious_in_part") and (spec.get("serious") or spec.get("violent")):
        raise RuleBookError(f"{where}: serious_in_part is for a section the entry does not call serious or violent")
    for flag in ("attempt_serious", "wobbler", "prop47", "domestic_violence", "serious_in_part"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise RuleBookError(f"{where}: {flag} must be true or false")
    return Offense(statute, cited, spec.get("name"), spec.get("serious"), spec.get("violent"),
                   spec.get("attempt_serious", True), spec.get("wobbler", False), spec.get("prop47", False),
                   spec.get("domestic_violence", False), frozenset(spec.get("categories") or ()),
                   spec.get("sentencing"), spec.get("unconfirmed"), spec.get("serious_in_part", False))

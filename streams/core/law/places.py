"""Where a booking is: the state's two-letter code, its county, and the time zone its deadlines are counted in.

From `data/places.yaml` (USPS Publication 28 for the codes and names, 49 CFR Part 71 for the zones, the state's own
code for its counties). A state is matched by its code or its name, in any case; a county by its name in any case,
with or without the word "County". A state with a county list (California's 58) knows every county it has; an
unknown one is refused, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from streams.errors import RuleBookError

_SPACES = re.compile(r"\s+")
_COUNTY_WORD = re.compile(r"\s+(county|parish|borough)$")


@lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """A name as it is compared: lower case, single spaces, no trailing 'County' (a few hundred names recur)."""
    return _COUNTY_WORD.sub("", _SPACES.sub(" ", text.strip().lower()))


@dataclass(frozen=True)
class State:
    """One state, district or territory."""

    code: str
    name: str
    zone: ZoneInfo
    #: the counties in another zone than the state's, by folded name
    county_zones: Mapping[str, ZoneInfo]
    #: every county, by folded name, when the state's list is known (else empty)
    counties: Mapping[str, str]


@dataclass(frozen=True)
class Places:
    """Every state, with lookups that accept what jail exports write."""

    states: Mapping[str, State]
    citations: Mapping[str, str]

    def __post_init__(self) -> None:
        """Index the states by folded code and name."""
        index = {}
        for state in self.states.values():
            index[_fold(state.code)] = index[_fold(state.name)] = state.code
        object.__setattr__(self, "_index", index)

    def state(self, text: str | None) -> str | None:
        """The two-letter code of a state given by code or name, in any case; None when it is no state."""
        return self._index.get(_fold(text)) if text else None  # type: ignore[attr-defined]

    def spelled_out(self, text: str | None) -> bool:
        """True when `text` names a state other than by its exact two-letter code."""
        code = self.state(text)
        return code is not None and text != code

    def county(self, code: str, text: str | None) -> str | None:
        """The county's name as the state's list writes it, or None when the list has no such county.

        Where the state has no list, the text itself, trimmed.
        """
        if text is None:
            return None
        state = self.states.get(code)
        if state is None or not state.counties:
            return _SPACES.sub(" ", text.strip()) or None
        return state.counties.get(_fold(text))

    def zone(self, code: str | None, county: str | None = None) -> ZoneInfo | None:
        """The zone a booking's deadlines are counted in: its county's, else its state's; None for no state."""
        state = self.states.get(code or "")
        if state is None:
            return None
        if county:
            return state.county_zones.get(_fold(county), state.zone)
        return state.zone


def load(path: Path | None = None) -> Places:
    """The places of a places.yaml (default: the shipped one)."""
    path = path or Path(__file__).parent / "data" / "places.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleBookError(f"{path}: cannot read: {exc}") from exc
    return parse(data, str(path))


def parse(data: Mapping, source: str) -> Places:
    """Places from the parsed places.yaml; a bad entry fails with the file and the entry."""
    states = {}
    for code, spec in (data.get("states") or {}).items():
        if not re.fullmatch(r"[A-Z]{2}", str(code)) or not isinstance(spec, Mapping) or not spec.get("name"):
            raise RuleBookError(f"{source}: states/{code}: needs a two-letter code and a name")
        county_zones = {}
        for zone_name, counties in (spec.get("other_zones") or {}).items():
            zone = _zone(zone_name, source, code)
            county_zones.update({_fold(c): zone for c in counties})
        counties = {_fold(c): str(c) for c in spec.get("counties") or []}
        states[str(code)] = State(str(code), str(spec["name"]), _zone(spec.get("zone"), source, code), county_zones,
                                  counties)
    if not states:
        raise RuleBookError(f"{source}: no states")
    return Places(states, dict(data.get("citations") or {}))


def _zone(name: object, source: str, code: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleBookError(f"{source}: states/{code}: unknown time zone {name!r}") from None

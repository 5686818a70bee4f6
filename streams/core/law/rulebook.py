"""The rule book: the law as dated, cited data (law/data/*.yaml), loaded and validated once at start-up.

A broken rule book stops start-up with a RuleBookError naming the file and the entry. Nothing here reads the
clock or any service: the rule book is a value.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from streams.core.law import offenses, places
from streams.core.law.offenses import OffenseTable
from streams.core.law.places import Places
from streams.errors import RuleBookError

DATA_DIR = Path(__file__).parent / "data"
REGIME_IDS = ("FED_BASE", "CA_PRE_TRUST", "CA_TRUST", "CA_VALUES", "NONE")
#: the regime of a booking whose jurisdiction is not known: nothing is permitted under it
UNKNOWN_REGIME = "NONE"
OVERLAY_IDS = ("CA_TRUTH",)
FORM_IDS = ("I247_LEGACY", "I247D", "I247N", "I247X", "I247A", "I203", "OTHER")
REQUESTS = ("HOLD", "NOTIFY", "TRANSFER")


@dataclass(frozen=True)
class Rule:
    """One rule a decision can name; where it applies under several regimes, each may cite its own law."""

    id: str
    citation: str
    says: str
    #: regime id -> (citation, says) where that regime's law is another than the rule's own
    by_regime: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def in_regime(self, regime: str) -> tuple[str, str]:
        """The citation and the sentence of the rule as it applies under `regime`."""
        return self.by_regime.get(regime) or (self.citation, self.says)


@dataclass(frozen=True)
class Span:
    """A regime or overlay in force from `start` (inclusive) to `end` (exclusive); None is open."""

    id: str
    name: str
    start: datetime | None
    end: datetime | None
    citation: str

    def covers(self, at: datetime) -> bool:
        """True when `at` falls inside the span."""
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


@dataclass(frozen=True)
class Jurisdiction:
    """The regimes of one state, in order, and the zone its deadlines are computed in."""

    code: str
    zone: ZoneInfo
    regimes: tuple[Span, ...]
    overlays: tuple[Span, ...]

    def regime_at(self, at: datetime) -> Span:
        """The regime in force at `at`: the regimes follow one another with no gap and cover all time."""
        return self.regimes[bisect.bisect_right(self._ends, at)]

    @functools.cached_property
    def _ends(self) -> tuple[datetime, ...]:
        return tuple(span.end for span in self.regimes[:-1] if span.end is not None)


@dataclass(frozen=True)
class FormSpec:
    """What one immigration form asks and how its hold clock runs."""

    id: str
    title: str
    requests: frozenset[str]
    hold_clock: str | None
    hold_hours: int | None
    needs_service: bool
    citation: str


@dataclass(frozen=True)
class Category:
    """One offense category of Gov. Code 7282.5(a)(3)."""

    code: str
    name: str
    sections: tuple[str, ...]
    felony_only: bool


@dataclass(frozen=True)
class Criterion:
    """A 7282.5 criterion: which regimes it belongs to and what kinds of cooperation it unlocks."""

    id: str
    name: str
    citation: str
    regimes: frozenset[str] | None
    unlocks: frozenset[str]
    realignment_date: date | None = None


#: what a local policy may except from what it forbids: federal judicial process on record (a judicial warrant or a
#: judicial probable-cause determination), or a conviction of a serious or violent felony (PC 1192.7(c), 667.5(c))
POLICY_EXCEPTIONS = ("JUDICIAL_WARRANT", "SERIOUS_OR_VIOLENT_CONVICTION")


@dataclass(frozen=True)
class Policy:
    """A stricter local law or policy: from `start` on, the listed kinds of cooperation are forbidden."""

    id: str
    state: str
    county: str
    start: datetime
    forbids: frozenset[str]
    citation: str
    #: the exceptions the policy itself allows (POLICY_EXCEPTIONS): where one is met, it forbids nothing
    unless: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleBook:
    """The whole rule book, immutable."""

    rules: Mapping[str, Rule]
    jurisdictions: Mapping[str, Jurisdiction]
    default: Jurisdiction
    forms: Mapping[str, FormSpec]
    criteria: Mapping[str, Criterion]
    categories: Mapping[str, Category]
    #: what each statute is (serious, violent, wobbler, Prop 47, domestic violence, categories, sentencing)
    offenses: OffenseTable
    windows: Mapping[str, Mapping[str, int | None]]
    excluded_closures: frozenset[date]
    overdue_grace_minutes: int
    policies: tuple[Policy, ...]
    source: Path
    places: Places
    #: the federal baseline in each state's own zone, for the states without regimes of their own
    baseline: Mapping[str, Jurisdiction]
    #: a booking's jurisdiction when it is not known: no booking record, or a state that is no state
    unknown: Jurisdiction
    #: which rule book this is: the first 12 hex digits of a SHA-256 over its files (`digest`)
    digest: str = ""

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; a missing one is a bug in the rule book or the code, so it fails loudly."""
        try:
            return self.rules[rule_id]
        except KeyError:
            raise RuleBookError(f"{self.source / 'rules.yaml'}: no rule {rule_id!r}") from None

    def jurisdiction(self, state: str | None) -> Jurisdiction:
        """The regimes of a state: its own, else the federal baseline in its zone; `unknown` for no known state."""
        found = self.jurisdictions.get(state or "")
        return found if found is not None else self.baseline.get(state or "", self.unknown)

    def zone(self, state: str | None, county: str | None = None) -> ZoneInfo:
        """The zone a booking's deadlines are counted in: its county's, else its state's."""
        return self.places.zone(state, county) or self.jurisdiction(state).zone


def load(directory: Path | None = None) -> RuleBook:
    """Load and validate the rule book in `directory` (default: the shipped law/data)."""
    root = Path(directory) if directory else DATA_DIR
    regimes = _read(root, "regimes.yaml")
    carve = _read(root, "carve_outs.yaml")
    calendar = _read(root, "calendar.yaml")
    jurisdictions = {code: _jurisdiction(root, code, spec) for code, spec in _get(regimes, "jurisdictions", root,
                                                                                     "regimes.yaml").items()}
    default = _jurisdiction(root, "default", _get(regimes, "default", root, "regimes.yaml"))
    where = root if (root / "places.yaml").exists() else DATA_DIR
    known = places.parse(_read(where, "places.yaml"), str(where / "places.yaml"))
    where = root if (root / "offenses.yaml").exists() else DATA_DIR
    table = offenses.parse(_read(where, "offenses.yaml"), str(where / "offenses.yaml"),
                           set(_get(carve, "categories", root, "carve_outs.yaml")))
    book = RuleBook(
        rules=_rules(root),
        jurisdictions=jurisdictions,
        default=default,
        forms=_forms(root),
        criteria=_criteria(root, carve),
        categories=_categories(root, carve, table),
        offenses=table,
        windows=_windows(root, carve),
        excluded_closures=_closures(root, calendar),
        overdue_grace_minutes=int(_get(calendar, "overdue_grace_minutes", root, "calendar.yaml")),
        policies=_policies(root),
        source=root,
        places=known,
        baseline={code: Jurisdiction(code, state.zone, default.regimes, default.overlays)
                  for code, state in known.states.items() if code not in jurisdictions},
        unknown=_jurisdiction(root, "unknown", _get(regimes, "unknown", root, "regimes.yaml")),
        digest=digest(root),
    )
    return book


def digest(root: Path) -> str:
    """Which rule book a folder holds: the first 12 hex digits of a SHA-256 over its files.

    The name and bytes of each YAML file (and of the shipped places and offense table where the folder has none),
    sorted by name. Two workers, a replay and a report that show the same digest decided by the same law.
    """
    files = {p.name: p for p in sorted(Path(root).glob("*.yaml"))}
    for name in ("places.yaml", "offenses.yaml"):
        files.setdefault(name, DATA_DIR / name)
    sha = hashlib.sha256()
    for name in sorted(files):
        sha.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return sha.hexdigest()[:12]


# --- readers, each failing with the file and the entry -------------------------------------------------------


def _fail(root: Path, file: str, entry: str, problem: str) -> RuleBookError:
    return RuleBookError(f"{root / file}: {entry}: {problem}")


def _read(root: Path, file: str) -> dict[str, Any]:
    path = root / file
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RuleBookError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RuleBookError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleBookError(f"{path}: the top level must be a mapping")
    return data


def _get(data: Mapping[str, Any], key: str, root: Path, file: str, entry: str = "top level") -> Any:
    if data.get(key) is None:
        raise _fail(root, file, entry, f"missing {key!r}")
    return data[key]


def _instant(value: Any, root: Path, file: str, entry: str) -> datetime | None:
    if value is None:
        return None
    try:
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise _fail(root, file, entry, f"{value!r} is not an ISO-8601 instant") from None
    if instant.tzinfo is None:
        raise _fail(root, file, entry, f"{value!r} has no UTC offset")
    return instant


def _rules(root: Path) -> dict[str, Rule]:
    out = {}
    for rule_id, spec in _get(_read(root, "rules.yaml"), "rules", root, "rules.yaml").items():
        citation = spec.get("citation") if isinstance(spec, dict) else None
        if not citation:
            raise _fail(root, "rules.yaml", rule_id, "every rule needs a citation")
        by_regime = {}
        for regime, own in (spec.get("by_regime") or {}).items():
            if regime not in REGIME_IDS or not isinstance(own, dict) or not own.get("citation"):
                raise _fail(root, "rules.yaml", f"{rule_id}/by_regime/{regime}",
                            f"a regime of {', '.join(REGIME_IDS)} with its own citation")
            by_regime[regime] = (str(own["citation"]), str(own.get("says", spec.get("says", ""))))
        out[rule_id] = Rule(rule_id, str(citation), str(spec.get("says", "")), by_regime)
    return out


def _spans(root: Path, entry: str, items: list[dict[str, Any]], allowed: tuple[str, ...]) -> tuple[Span, ...]:
    spans = []
    for item in items:
        name = f"{entry}/{item.get('id')}"
        if item.get("id") not in allowed:
            raise _fail(root, "regimes.yaml", name, f"unknown id; one of {', '.join(allowed)}")
        spans.append(Span(item["id"], str(item.get("name", item["id"])),
                          _instant(item.get("from"), root, "regimes.yaml", name),
                          _instant(item.get("to"), root, "regimes.yaml", name),
                          str(_get(item, "citation", root, "regimes.yaml", name))))
    return tuple(spans)


def _jurisdiction(root: Path, code: str, spec: dict[str, Any]) -> Jurisdiction:
    try:
        zone = ZoneInfo(str(_get(spec, "zone", root, "regimes.yaml", code)))
    except ZoneInfoNotFoundError:
        raise _fail(root, "regimes.yaml", code, f"unknown time zone {spec.get('zone')!r}") from None
    regimes = _spans(root, code, _get(spec, "regimes", root, "regimes.yaml", code), REGIME_IDS)
    for before, after in zip(regimes, regimes[1:], strict=False):
        if before.end is None or before.end != after.start:
            raise _fail(root, "regimes.yaml", f"{code}/{after.id}",
                        f"must start exactly when {before.id} ends ({before.end})")
    if not regimes or regimes[0].start is not None or regimes[-1].end is not None:
        raise _fail(root, "regimes.yaml", code, "regimes must cover all time (first from null, last to null)")
    overlays = _spans(root, code, spec.get("overlays") or [], OVERLAY_IDS)
    return Jurisdiction(code, zone, regimes, overlays)


def _forms(root: Path) -> dict[str, FormSpec]:
    out = {}
    for form_id, spec in _get(_read(root, "forms.yaml"), "forms", root, "forms.yaml").items():
        if form_id not in FORM_IDS:
            raise _fail(root, "forms.yaml", form_id, f"unknown form; one of {', '.join(FORM_IDS)}")
        requests = frozenset(spec.get("requests") or [])
        if requests - set(REQUESTS):
            raise _fail(root, "forms.yaml", form_id, f"unknown request(s) {sorted(requests - set(REQUESTS))}")
        clock = spec.get("hold_clock")
        if "HOLD" in requests and (clock not in ("elapsed", "business") or not spec.get("hold_hours")):
            raise _fail(root, "forms.yaml", form_id, "a form that asks for a hold needs hold_clock "
                                                     "(elapsed|business) and hold_hours")
        out[form_id] = FormSpec(form_id, str(spec.get("title", form_id)), requests, clock, spec.get("hold_hours"),
                                bool(spec.get("needs_service", False)),
                                str(_get(spec, "citation", root, "forms.yaml", form_id)))
    missing = set(FORM_IDS) - set(out)
    if missing:
        raise _fail(root, "forms.yaml", "forms", f"missing form(s) {sorted(missing)}")
    return out


def _categories(root: Path, carve: dict[str, Any], table: OffenseTable) -> dict[str, Category]:
    """The 7282.5(a)(3) categories; the sections each names are the offense table's."""
    out = {}
    for code, spec in _get(carve, "categories", root, "carve_outs.yaml").items():
        entry = f"categories/{code}"
        if spec.get("sections"):
            raise _fail(root, "carve_outs.yaml", entry, "the sections a category names belong in offenses.yaml")
        out[code] = Category(code, str(_get(spec, "name", root, "carve_outs.yaml", entry)), table.sections_of(code),
                             bool(spec.get("felony_only", False)))
    return out


def _criteria(root: Path, carve: dict[str, Any]) -> dict[str, Criterion]:
    out = {}
    for spec in _get(carve, "criteria", root, "carve_outs.yaml"):
        entry = f"criteria/{spec.get('id')}"
        regimes = spec.get("regimes")
        if regimes and set(regimes) - set(REGIME_IDS):
            raise _fail(root, "carve_outs.yaml", entry, f"unknown regime(s) {sorted(set(regimes) - set(REGIME_IDS))}")
        realigned = spec.get("realignment_date")
        out[spec["id"]] = Criterion(
            spec["id"], str(spec.get("name", "")), str(_get(spec, "citation", root, "carve_outs.yaml", entry)),
            frozenset(regimes) if regimes else None, frozenset(spec.get("unlocks") or REQUESTS),
            date.fromisoformat(str(realigned)) if realigned else None)
    return out


def _windows(root: Path, carve: dict[str, Any]) -> dict[str, dict[str, int | None]]:
    windows = _get(carve, "windows", root, "carve_outs.yaml")
    for limb in ("misdemeanor_limb", "felony_limb"):
        spec = _get(windows, limb, root, "carve_outs.yaml", "windows")
        bad = [k for k, v in spec.items() if k not in REGIME_IDS or (v is not None and int(v) <= 0)]
        if bad:
            raise _fail(root, "carve_outs.yaml", f"windows/{limb}", f"bad entries {bad}")
    return windows


def _closures(root: Path, calendar: dict[str, Any]) -> frozenset[date]:
    out = set()
    for item in calendar.get("one_off_closures") or []:
        try:
            day = date.fromisoformat(str(item["date"]))
        except (KeyError, ValueError):
            raise _fail(root, "calendar.yaml", f"one_off_closures/{item}", "needs a date YYYY-MM-DD") from None
        if not item.get("citation"):
            raise _fail(root, "calendar.yaml", f"one_off_closures/{day}", "every closure needs a citation")
        if item.get("excluded"):
            out.add(day)
    return frozenset(out)


def _policies(root: Path) -> tuple[Policy, ...]:
    out = []
    for item in _get(_read(root, "policies.yaml"), "policies", root, "policies.yaml") or []:
        entry = f"policies/{item.get('id')}"
        where = str(_get(item, "jurisdiction", root, "policies.yaml", entry))
        state, _, county = where.partition("/")
        forbids = frozenset(item.get("forbids") or [])
        if not forbids or forbids - set(REQUESTS):
            raise _fail(root, "policies.yaml", entry, f"forbids must list some of {', '.join(REQUESTS)}")
        start = _instant(_get(item, "from", root, "policies.yaml", entry), root, "policies.yaml", entry)
        unless = frozenset(item.get("unless") or [])
        if unless - set(POLICY_EXCEPTIONS):
            raise _fail(root, "policies.yaml", entry, f"unknown exception(s) {sorted(unless - set(POLICY_EXCEPTIONS))}"
                                                      f"; unless lists some of {', '.join(POLICY_EXCEPTIONS)}")
        out.append(Policy(str(item["id"]), state, county, start, forbids,
                          str(_get(item, "citation", root, "policies.yaml", entry)), unless))
    return tuple(out)


def check(book: RuleBook, rule_ids: Callable[[], set[str]]) -> None:
    """Fail when code names a rule the rule book lacks (run at start-up with the ids the code uses)."""
    missing = sorted(rule_ids() - set(book.rules))
    if missing:
        raise RuleBookError(f"{book.source / 'rules.yaml'}: missing rule(s) named by the code: {', '.join(missing)}")

"""The CLETS access gate, pure: allow or deny each query with the rule, its citation and the reason.

The inputs are the query, what the agency registry says of the agency, and the rule rows of
law/data/clets.yaml; the first matching row wins. An unknown agency or a query without a purpose is denied,
and the decision says why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from streams.core.decisions import instant_key
from streams.core.events import AgencyAgreementRecorded, CletsQueryMade
from streams.core.law.rulebook import DATA_DIR
from streams.errors import RuleBookError

PURPOSES = ("CRIMINAL_INVESTIGATION", "IMMIGRATION_ENFORCEMENT", "IMMIGRATION_CRIMINAL_HISTORY_REQUEST",
            "VISA_CERTIFICATION", "NOT_OFFICIAL_BUSINESS", "UNSPECIFIED")
ACTORS = ("LOCAL_CA", "ICE_ERO", "ICE_HSI", "CBP", "OTHER_FED")
DATA_CLASSES = ("CRIM_HIST", "DMV", "OTHER")
UNKNOWN_AGENCY = "clets.unknown-agency"


@dataclass(frozen=True)
class Row:
    """One row of the gate's decision table."""

    id: str
    outcome: str
    citation: str
    says: str
    actors: frozenset[str] | None = None
    purposes: frozenset[str] | None = None
    data_classes: frozenset[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    requires_no_agreement: bool = False

    def matches(self, query: CletsQueryMade, agency: AgencyAgreementRecorded) -> bool:
        """True when every condition the row names holds for this query."""
        at = query.occurred_at
        return ((self.actors is None or agency.kind in self.actors)
                and (self.purposes is None or query.purpose in self.purposes)
                and (self.data_classes is None or query.data_class in self.data_classes)
                and (self.start is None or at >= self.start) and (self.end is None or at < self.end)
                and (not self.requires_no_agreement or not _agreement_in_force(agency, at)))


def _agreement_in_force(agency: AgencyAgreementRecorded, at: datetime) -> bool:
    signed = agency.agreement_signed_at is not None and agency.agreement_signed_at <= at
    return signed and (agency.revoked_at is None or at < agency.revoked_at)


@dataclass(frozen=True)
class CletsRuling:
    """The gate's answer to one query."""

    query_id: str
    agency_id: str
    agency_kind: str
    outcome: str
    rule_id: str
    citation: str
    reason: str
    evidence: tuple[str, ...]
    effective_at: datetime

    @property
    def output_id(self) -> str:
        """Deterministic id derived from the query and the rule."""
        parts = (self.query_id, self.rule_id, self.outcome, instant_key(self.effective_at), *self.evidence)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def to_record(self, decided_at: datetime) -> dict[str, Any]:
        """The CletsDecision record."""
        return {"output_id": self.output_id, "query_id": self.query_id, "agency_id": self.agency_id,
                "agency_kind": self.agency_kind, "outcome": self.outcome, "effective_at": self.effective_at,
                "decided_at": decided_at, "rule_id": self.rule_id, "citation": self.citation,
                "reason": self.reason, "evidence": list(self.evidence)}


def load_rows(directory: Path | None = None) -> tuple[Row, ...]:
    """Load and validate the gate's rows; a bad row stops start-up naming the file and the row."""
    path = (Path(directory) if directory else DATA_DIR) / "clets.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleBookError(f"{path}: {exc}") from exc
    rows = tuple(_row(path, spec) for spec in data.get("rows") or [])
    if not rows or any(r.actors or r.purposes or r.data_classes or r.start or r.end for r in rows[-1:]):
        raise RuleBookError(f"{path}: the last row must match everything (the conservative default)")
    return rows


def _row(path: Path, spec: dict[str, Any]) -> Row:
    name = spec.get("id", "?")
    for key, allowed in (("actors", ACTORS), ("purposes", PURPOSES), ("data_classes", DATA_CLASSES)):
        bad = set(spec.get(key) or []) - set(allowed)
        if bad:
            raise RuleBookError(f"{path}: {name}: unknown {key} {sorted(bad)}")
    if spec.get("outcome") not in ("PERMITTED", "DENIED") or not spec.get("citation"):
        raise RuleBookError(f"{path}: {name}: needs outcome PERMITTED|DENIED and a citation")

    def instant(key: str) -> datetime | None:
        value = spec.get(key)
        if value is None:
            return None
        parsed = datetime.fromisoformat(str(value))
        if parsed.tzinfo is None:
            raise RuleBookError(f"{path}: {name}: {key} {value!r} has no UTC offset")
        return parsed

    def group(key: str) -> frozenset[str] | None:
        return frozenset(spec[key]) if spec.get(key) else None

    return Row(str(name), spec["outcome"], str(spec["citation"]), str(spec.get("says", "")), group("actors"),
               group("purposes"), group("data_classes"), instant("from"), instant("to"),
               bool(spec.get("requires_no_agreement", False)))


def decide(rows: tuple[Row, ...], query: CletsQueryMade, agency: AgencyAgreementRecorded | None) -> CletsRuling:
    """Allow or deny one query, as the law stood at the query's own time (so old queries replay correctly)."""
    if agency is None:
        return CletsRuling(query.query_id, query.agency_id, "UNKNOWN", "DENIED", UNKNOWN_AGENCY,
                           "conservative choice: queries from agencies not in the registry are refused",
                           f"agency {query.agency_id} is not in the agency registry", (query.event_id,),
                           query.occurred_at)
    evidence = (query.event_id, agency.event_id)
    if not agency.clets_access or (agency.revoked_at is not None and agency.revoked_at <= query.occurred_at):
        return CletsRuling(query.query_id, agency.agency_id, agency.kind, "DENIED", "clets.no-access",
                           "Gov. Code 15153 (access only for agencies the Department of Justice admits)",
                           f"{agency.name} has no CLETS access", evidence, query.occurred_at)
    row = next(r for r in rows if r.matches(query, agency))
    reason = f"{row.says} ({agency.name}, {query.purpose.lower().replace('_', ' ')}, {query.data_class})"
    return CletsRuling(query.query_id, agency.agency_id, agency.kind, row.outcome, row.id, row.citation, reason,
                       evidence, query.occurred_at)

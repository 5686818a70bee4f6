"""Scenario files: legal cases as data, turned into JSON lines for `decide` and into comparable rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

CASES = Path(__file__).parent / "cases"


@dataclass(frozen=True)
class Scenario:
    """One scenario file."""

    path: Path
    name: str
    law: str
    booking: str
    until: datetime | None
    events: list[dict[str, Any]]
    expect: list[tuple]
    #: checks beyond the rows: `request_parts` (a TRUTH Act request copy's answer to each part of the request, by
    #: its instant) and `citations_never` (text no output's citation or reason may contain)
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.path.stem

    def jsonl(self) -> str:
        return "".join(json.dumps(e) + "\n" for e in self.events)


def load_all() -> list[Scenario]:
    return [load(p) for p in sorted(CASES.glob("*.yaml"))]


def load(path: Path) -> Scenario:
    data = yaml.safe_load(path.read_text())
    booking = str(data.get("booking", path.stem))
    events = []
    for i, (type_name, at, fields) in enumerate(data["events"], start=1):
        event = {"type": type_name, "event_id": f"{booking}-e{i}", "occurred_at": at, "source": "scenario"}
        if type_name not in ("CletsQueryMade", "AgencyAgreementRecorded"):
            event["booking_id"] = booking
        events.append({**event, **(fields or {})})
    if events and not data.get("no_booking") and not any(e["type"] == "BookingRecorded" for e in events):
        # the specification's scenarios are California bookings: a booking record says so, as a jail's would
        state, _, county = str(data.get("jurisdiction", "CA/Sacramento")).partition("/")
        events.insert(0, {"type": "BookingRecorded", "event_id": f"{booking}-e0",
                          "occurred_at": events[0]["occurred_at"], "source": "scenario", "booking_id": booking,
                          "person_id": f"P-{booking}", "state": state, "county": county,
                          "facility": f"{county} County Jail", "charges": data.get("charges", [])})
    until = datetime.fromisoformat(data["until"]) if data.get("until") else None
    return Scenario(path, data["name"], str(data.get("law", "")), booking, until, events,
                    [row_of_expectation(r) for r in data["expect"]], dict(data.get("checks") or {}))


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def row_of_expectation(row: list) -> tuple:
    type_name, what, outcome, at, until, rule = row[:6]
    regime = row[6] if len(row) > 6 else None
    return (type_name, what, outcome, _instant(at), _instant(until), rule, regime)


def row_of_output(out: dict[str, Any]) -> tuple:
    """Project one `decide` output onto the comparable row; the regime is compared only where expected."""
    t = out["type"]
    what = {"Decision": "kind", "CustodyCommand": "directive", "Violation": "kind", "TruthActNotice": "kind",
            "StatusFact": "status", "CletsDecision": "query_id"}[t]
    outcome = out.get("will_comply") if t == "TruthActNotice" else out.get("outcome")
    return (t, out[what], outcome, _instant(out["effective_at"]), _instant(out.get("until")), out["rule_id"],
            out.get("regime"))

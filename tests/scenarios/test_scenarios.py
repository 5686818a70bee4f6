"""Every legal scenario, run through `decide` (the path auditors, replay and the tests share) and through the live
worker's step (`CaseWork`, fed the encoded messages one at a time, a clock tick at the scenario's end)."""

import io
import json
from collections import Counter
from datetime import datetime

import pytest

from streams.tools.decide import decide_file
from streams.wire.jsonlines import parse_line
from streams.wire.schemas import to_json
from tests.scenarios.loader import Scenario, load_all, row_of_output
from tests.support.step import Step

SCENARIOS = load_all()


def run_decide(scenario: Scenario, codec) -> list[dict]:
    out = io.StringIO()
    bad = decide_file(io.StringIO(scenario.jsonl()), out, codec, until=scenario.until)
    assert not bad, f"{scenario.id}: bad event lines {[str(b) for b in bad]}"
    return [json.loads(line) for line in out.getvalue().splitlines()]


def run_worker_step(scenario: Scenario, codec) -> list[dict]:
    step = Step(codec)
    lines = [parse_line(i, text, codec) for i, text in enumerate(scenario.jsonl().splitlines(), 1)]
    for line in sorted(lines, key=lambda line: line.record["occurred_at"]):  # as a jail sends them, in time
        step.send(line.type_name, line.record)
    if scenario.until is not None:
        step.tick(scenario.until)
    assert not step.dead, f"{scenario.id}: dead letters {step.dead}"
    assert not step.corrections(), f"{scenario.id}: in-order input gave corrections {step.corrections()}"
    zone = codec.registry  # outputs rendered as decide renders them, so one projection serves both
    return [{"type": o.type_name, **to_json(zone.latest(o.type_name), o.record)} for o in step.standing()]


def _without_regime(row):
    return row[:6]


@pytest.mark.parametrize("path", ["decide", "worker step"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_scenario(scenario: Scenario, codec, path):
    outputs = run_decide(scenario, codec) if path == "decide" else run_worker_step(scenario, codec)
    actual = Counter(_without_regime(row_of_output(o)) for o in outputs)
    expected = Counter(_without_regime(r) for r in scenario.expect)
    missing, extra = expected - actual, actual - expected
    assert not missing and not extra, (
        f"{scenario.name}\nmissing: {sorted(missing, key=str)}\nextra:   {sorted(extra, key=str)}")
    regimes = {_without_regime(row_of_output(o)): o.get("regime") for o in outputs}
    for row in scenario.expect:
        if row[6] is not None:
            assert regimes[_without_regime(row)] == row[6], f"{row} decided under {regimes[_without_regime(row)]}"
    for o in outputs:
        assert o["citation"] and o["rule_id"] and o["evidence"], f"output without citation or evidence: {o}"
    _check(scenario, outputs)


def _check(scenario: Scenario, outputs: list[dict]) -> None:
    """The scenario's checks beyond its rows."""
    parts = {datetime.fromisoformat(at): want for at, want in (scenario.checks.get("request_parts") or {}).items()}
    copies = {datetime.fromisoformat(o["effective_at"]): o for o in outputs
              if o["type"] == "TruthActNotice" and o["kind"] == "REQUEST_COPY"}
    for at, want in parts.items():
        assert at in copies, f"no request copy at {at}"
        got = {p["request"]: p["will_comply"] for p in copies[at]["parts"]}
        assert got == want, f"the copy at {at} answers {got}, not {want}"
    for text in scenario.checks.get("citations_never") or ():
        for o in outputs:
            said = f"{o['citation']} {o.get('reason') or ''}"
            assert text not in said, f"{o['type']} {o['rule_id']} says {text!r}: {said}"


def test_every_worked_scenario_of_the_specification_is_covered():
    covered = {s.law for s in SCENARIOS}
    assert {f"S{n:02d}" for n in range(1, 37)} <= covered

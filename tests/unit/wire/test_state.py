"""The case state is versioned data: written in the `CaseState` Avro schema, read back exactly, resolved from an
older schema version into the newest, and restored from a changelog written by the format before it."""

import dataclasses
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import fastavro
import pytest

from streams.wire.jsonlines import parse_line
from streams.wire.schemas import from_json, to_json
from streams.wire.state import CLASSES, FORMAT, STATE_SCHEMAS, StateCodec, StateError, plain
from tests.scenarios.loader import load_all, row_of_output
from tests.support.records import named_types
from tests.support.step import Out, Step

FIXTURE = Path(__file__).parents[2] / "data" / "case_state_format3.jsonl"
SCENARIOS = {s.id: s for s in load_all()}


_LEFT: list = []


def _bookings(codec):
    """Every booking state the scenarios leave, through the worker's step (worked out once)."""
    if not _LEFT:
        _LEFT.extend(_left_by_scenarios(codec))
    return iter(_LEFT)


def _left_by_scenarios(codec):
    for scenario in SCENARIOS.values():
        step = Step(codec)
        lines = [parse_line(i, t, codec) for i, t in enumerate(scenario.jsonl().splitlines(), 1)]
        for line in sorted(lines, key=lambda line: line.record["occurred_at"]):
            step.send(line.type_name, line.record)
        for raw in step.store.values():
            yield step.work.states.load(raw)


def test_every_scenario_state_round_trips_exactly(codec):
    states = StateCodec(codec.registry)
    bookings = list(_bookings(codec))
    assert len(bookings) >= len(SCENARIOS)
    for booking in bookings:
        raw = states.dump(booking)
        assert raw[0] == FORMAT and raw[1] == states.latest.version
        assert StateCodec(codec.registry).load(raw) == booking  # a fresh codec: nothing from its caches


def _simulated_bookings(n: int = 8_000):
    from datetime import UTC, datetime
    from itertools import islice

    from streams.core import clets
    from streams.core import events as ev
    from streams.core.law import rulebook
    from streams.tools.decide import Processor, run
    from streams.tools.simulate import SimConfig, Simulator

    records = islice(Simulator(SimConfig(start=datetime(2021, 3, 1, 7, tzinfo=UTC), seed=11)).events(), n)
    processor = Processor(rulebook.load(), clets.load_rows())
    for _ in run(processor, [ev.from_record(t, r) for _, t, r in records]):
        pass
    return list(processor.bookings.values())


def test_the_state_writer_writes_byte_for_byte_what_fastavro_writes(codec):
    """`dump` splices held events' and facts' bytes into its own Avro encoding; fastavro is the reference."""
    states = StateCodec(codec.registry)
    bookings = [*_bookings(codec), *_simulated_bookings()]
    assert len(bookings) > 1_000 and any(b.pending for b in bookings) and any(b.case.left_custody for b in bookings)
    for booking in bookings:
        assert states.dump(booking) == states.dump_by_fastavro(booking), booking.case.booking_id
        assert states.dump(booking) == StateCodec(codec.registry).dump(booking)  # the same from empty caches


def test_an_auditor_reads_a_state_with_the_schema_alone(codec):
    states = StateCodec(codec.registry)
    booking = next(b for b in _bookings(codec) if b.case.detainers and b.events)
    raw = states.dump(booking)
    schema = json.loads((STATE_SCHEMAS / "case_state" / f"v{raw[1]}.avsc").read_text())
    record = fastavro.schemaless_reader(io.BytesIO(raw[2:]), fastavro.parse_schema(schema), None)
    assert record["case"]["booking_id"] == booking.case.booking_id
    assert [d["detainer_id"] for d in record["case"]["detainers"]] == [d.detainer_id for d in booking.case.detainers]
    assert [e["type"] for e in record["events"]] == [type(e).__name__ for e in booking.events]
    assert json.dumps(plain(states.read(raw)))  # JSON-ready for `tail` and replay


def test_a_state_of_an_older_schema_version_is_resolved_into_the_newer(codec, tmp_path):
    booking = next(b for b in _bookings(codec) if b.pending)
    states = StateCodec(codec.registry)
    old, version = states.dump(booking), states.latest.version
    root = tmp_path / "state"
    shutil.copytree(STATE_SCHEMAS, root)
    newest = json.loads((root / "case_state" / f"v{version}.avsc").read_text())
    newest["fields"].append({"name": "reviewed_by", "type": ["null", "string"], "default": None})
    (root / "case_state" / f"v{version + 1}.avsc").write_text(json.dumps(newest))
    newer = StateCodec(codec.registry, root)
    assert newer.latest.version == version + 1
    assert newer.read(old)["reviewed_by"] is None
    assert newer.load(old) == booking


def test_a_state_from_a_newer_release_or_another_format_is_refused_with_its_reason(codec):
    states = StateCodec(codec.registry)
    raw = states.dump(next(_bookings(codec)))
    with pytest.raises(StateError, match="version 9 is not known here"):
        states.load(bytes((FORMAT, 9)) + raw[2:])
    with pytest.raises(StateError, match="format 1 or 2"):
        states.load(b"\x78\x9c" + raw[2:])
    with pytest.raises(StateError, match="bytes left over"):
        states.load(raw + b"\x00")


# not the CLETS scenarios: the gate's agency registry is a topic of its own, not case state
@pytest.mark.parametrize("row", [row for row in map(json.loads, FIXTURE.read_text().splitlines())
                                 if "AgencyAgreementRecorded" not in SCENARIOS[row["scenario"]].jsonl()],
                         ids=lambda row: row["scenario"])
def test_a_changelog_written_by_the_format_before_is_restored_and_decided_on(codec, row):
    """Half of each scenario went through a worker of the format before (pickle, format 3); its table is restored
    by this one, which takes the rest: the outputs of both, net of corrections, are the scenario's."""
    scenario = SCENARIOS[row["scenario"]]
    state = {key.encode(): bytes.fromhex(value) for key, value in row["state"].items()}
    assert all(raw[0] == 3 for raw in state.values())
    step = Step(codec)
    step.store.update(state)
    step.work.load_partition(0, step.store.items())
    step.outputs = [Out(o["type"], from_json(codec.registry.latest(o["type"]), {k: v for k, v in o.items()
                                                                                 if k != "type"}))
                    for o in row["outputs"]]
    lines = [parse_line(i, t, codec) for i, t in enumerate(scenario.jsonl().splitlines(), 1)]
    for line in sorted(lines, key=lambda line: line.record["occurred_at"])[row["sent"]:]:
        step.send(line.type_name, line.record)
    if scenario.until is not None:
        step.tick(scenario.until)
    assert not step.dead
    assert all(raw[0] == FORMAT for raw in step.store.values() if raw not in state.values())
    got = Counter(row_of_output({"type": o.type_name, **to_json(codec.registry.latest(o.type_name), o.record)})[:6]
                  for o in step.standing())
    assert got == Counter(tuple(r[:6]) for r in scenario.expect)


def test_the_newest_schema_has_exactly_the_fields_of_the_core_s_values(codec):
    latest = StateCodec(codec.registry).latest
    records = {name: t for name, t in named_types(latest).items() if t["type"] == "record"}
    records[latest.type_name] = latest.raw
    for name, cls in CLASSES.items():
        assert [f["name"] for f in records[name]["fields"]] == [f.name for f in dataclasses.fields(cls)], name

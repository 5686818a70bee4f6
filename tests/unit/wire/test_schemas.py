import dataclasses
import json
from pathlib import Path

import pytest

from streams.core import events
from streams.errors import SchemaError
from streams.wire.codec import Coordinates, Decoded
from streams.wire.schemas import SchemaRegistry, snake_case, to_json
from streams.wire.topics import SPECS
from tests.support.records import named_types

SAMPLES = Path(__file__).parents[2] / "samples" / "published.json"


def test_every_schema_parses_and_lives_in_its_folder(registry):
    schemas = list(registry)
    assert len(schemas) >= 31
    for s in schemas:
        assert s.path.parent.name == snake_case(s.type_name)
        assert s.raw.get("doc"), f"{s.label} has no doc"


def test_every_topic_event_type_has_a_schema_and_every_schema_a_topic(registry):
    on_topics = {t for spec in SPECS for t in spec.event_types}
    assert on_topics == set(registry.types)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_every_event_carries_id_time_source_and_its_key(registry, spec):
    for type_name in spec.event_types:
        fields = {f["name"]: f["type"] for f in registry.latest(type_name).raw["fields"]}
        id_field = "event_id" if "event_id" in fields else "output_id"
        assert fields[id_field] == "string"
        time_field = "occurred_at" if "occurred_at" in fields else "effective_at"
        assert fields[time_field] == {"type": "long", "logicalType": "timestamp-millis"}, type_name
        if spec.key_field:
            assert spec.key_field in fields, f"{type_name} lacks its key {spec.key_field}"
        if id_field == "event_id":
            assert fields["source"] == "string"




def test_a_named_type_means_the_same_in_every_schema(registry):
    # in the newest versions, which writers use; an older version may hold fewer symbols of an enum that grew
    seen = {}
    for s in (registry.latest(t) for t in registry.types):
        for name, definition in named_types(s).items():
            if name in seen:
                assert definition == seen[name][1], f"{name} differs between {seen[name][0]} and {s.label}"
            else:
                seen[name] = (s.label, definition)
    assert {"Charge", "Conviction", "DetainerForm", "DetainerAuthority", "ReleaseReason"} <= set(seen)


@pytest.mark.parametrize("type_name", sorted(events.EVENT_TYPES))
def test_each_event_dataclass_has_exactly_its_schemas_fields(registry, type_name):
    cls = events.EVENT_TYPES[type_name]
    assert {f.name for f in dataclasses.fields(cls)} == set(registry.latest(type_name).field_names)


def test_nested_dataclasses_match_their_records(registry):
    named = named_types(registry.latest("CriminalHistoryRecorded")) | named_types(registry.latest("BookingRecorded"))
    for cls in (events.Charge, events.Conviction):
        assert {f.name for f in dataclasses.fields(cls)} == {f["name"] for f in named[cls.__name__]["fields"]}


def test_every_published_sample_still_decodes(codec):
    samples = json.loads(SAMPLES.read_text())
    assert len(samples["v1"]) == len(codec.registry.types)
    published = [(t, n) for t in codec.registry.types for n in range(1, codec.registry.latest(t).version + 1)]
    assert sorted(published) == sorted((t, s["version"]) for v in samples if v != "note" for t, s in samples[v].items())
    for type_name, sample in [(t, s) for v in samples if v != "note" for t, s in samples[v].items()]:
        headers = [("dt-type", type_name.encode()), ("dt-version", str(sample["version"]).encode())]
        result = codec.decode(bytes.fromhex(sample["value_hex"]), headers, Coordinates("x", 0, 0))
        assert isinstance(result, Decoded), f"{type_name}: {result}"
        decoded = to_json(codec.registry.latest(type_name), result.record)
        assert _written(decoded, sample["json"]) == sample["json"]


def _written(decoded, sample):
    """What was decoded of the fields the sample was written with (a newer version adds defaulted fields)."""
    if isinstance(sample, dict):
        return {k: _written(decoded[k], v) for k, v in sample.items()}
    if isinstance(sample, list):
        return [_written(d, v) for d, v in zip(decoded, sample, strict=True)]
    return decoded


def test_a_broken_schema_stops_loading_and_names_the_file(tmp_path):
    folder = tmp_path / "booking_recorded"
    folder.mkdir()
    (folder / "v1.avsc").write_text('{"type": "record", "name": "BookingRecorded", "fields": [{"name": "x"}]}')
    with pytest.raises(SchemaError, match="booking_recorded/v1.avsc"):
        SchemaRegistry(tmp_path)


def test_a_gap_in_versions_is_refused(tmp_path):
    folder = tmp_path / "thing_happened"
    folder.mkdir()
    body = {"type": "record", "name": "ThingHappened", "fields": [{"name": "event_id", "type": "string"}]}
    (folder / "v1.avsc").write_text(json.dumps(body))
    (folder / "v3.avsc").write_text(json.dumps(body))
    with pytest.raises(SchemaError, match="without gaps"):
        SchemaRegistry(tmp_path)


def test_records_convert_to_dataclasses_and_back(codec):
    from tests.support.records import example_record

    for type_name in events.EVENT_TYPES:
        record = codec.registry.latest(type_name) and example_record(codec.registry.latest(type_name))
        event = events.from_record(type_name, record)
        assert events.type_name(event) == type_name
        assert events.to_record(event) == record

import json
from datetime import UTC, datetime

import pytest

from streams.config import Settings
from streams.errors import EventValidationError
from streams.wire.codec import (
    HEADER_TYPE,
    HEADER_VERSION,
    PLANS_KEPT,
    Codec,
    Coordinates,
    DeadLetter,
    Decoded,
    headers_dict,
    peek_occurred_at,
)
from streams.wire.schemas import SchemaRegistry, from_json, to_json
from streams.wire.topics import Topics
from tests.support.records import example_record

AT = Coordinates("dt.jail.bookings", 4, 1234, 1_550_000_000_000)


def _booking(codec):
    return example_record(codec.registry.latest("BookingRecorded"), key="B-7")


@pytest.mark.parametrize("type_name", sorted(Topics(Settings()).event_types))
def test_every_event_type_round_trips(codec, type_name):
    record = example_record(codec.registry.latest(type_name), key="K-1")
    message = codec.encode(type_name, record)
    topic = codec.topics.for_event(type_name)
    assert message.topic == topic.name
    result = codec.decode(message.value, message.headers, Coordinates(topic.name, 0, 0), message.key)
    assert isinstance(result, Decoded), result
    assert result.record == record
    assert result.type_name == type_name and result.version == codec.registry.latest(type_name).version


def test_json_form_round_trips_with_offsets(codec):
    schema = codec.registry.latest("ReleaseBecameDue")
    obj = {"event_id": "e", "occurred_at": "2019-02-08T06:00:00-08:00", "source": "jms", "booking_id": "B",
           "reason": "SENTENCE_SERVED", "release_at": "2019-02-08T06:00:00-08:00"}
    record = from_json(schema, obj)
    assert record["release_at"].utcoffset().total_seconds() == -8 * 3600
    message = codec.encode("ReleaseBecameDue", record)
    decoded = codec.decode(message.value, message.headers, Coordinates(message.topic, 0, 0), message.key)
    assert to_json(schema, decoded.record)["release_at"] == "2019-02-08T14:00:00.000Z"


def test_an_instant_without_offset_is_refused(codec):
    with pytest.raises(EventValidationError, match="no UTC offset"):
        from_json(codec.registry.latest("Released"), {"occurred_at": "2019-02-08T06:00:00"})


def test_malformed_bytes_become_a_dead_letter_with_coordinates(codec):
    message = codec.encode("BookingRecorded", _booking(codec))
    garbled = message.value[: len(message.value) // 2]
    result = codec.decode(garbled, message.headers, AT, message.key)
    assert isinstance(result, DeadLetter)
    assert result.reason_code == "MALFORMED"
    assert result.coordinates == AT
    assert result.value == garbled and result.key == b"B-7"
    assert result.schema_tried == "BookingRecorded v1"


def test_leftover_bytes_are_malformed(codec):
    message = codec.encode("BookingRecorded", _booking(codec))
    result = codec.decode(message.value + b"\x00\x00", message.headers, AT, message.key)
    assert isinstance(result, DeadLetter) and result.reason_code == "MALFORMED"
    assert "left over" in result.reason


def test_an_unknown_schema_version_is_a_dead_letter(codec):
    message = codec.encode("BookingRecorded", _booking(codec))
    result = codec.decode(message.value, [(HEADER_TYPE, b"BookingRecorded"), (HEADER_VERSION, b"7")], AT)
    assert isinstance(result, DeadLetter)
    assert result.reason_code == "UNKNOWN_SCHEMA_VERSION"
    assert "no schema version 7" in result.reason


@pytest.mark.parametrize(("headers", "code"), [
    ([], "MISSING_HEADER"),
    ([(HEADER_TYPE, b"Nonsense"), (HEADER_VERSION, b"1")], "UNKNOWN_EVENT_TYPE"),
    ([(HEADER_TYPE, b"BookingRecorded"), (HEADER_VERSION, b"one")], "UNKNOWN_SCHEMA_VERSION"),
    ([(HEADER_TYPE, b"Decision"), (HEADER_VERSION, b"1")], "WRONG_TOPIC"),
])
def test_bad_headers_are_dead_letters(codec, headers, code):
    message = codec.encode("BookingRecorded", _booking(codec))
    result = codec.decode(message.value, headers, AT, message.key)
    assert isinstance(result, DeadLetter) and result.reason_code == code, result


def test_headers_decode_alike_in_every_form_a_client_gives_them(codec):
    # kafka-python gives a list of (str, bytes), aiokafka a tuple of them; tools may pass a dict, str values or
    # None for an absent value
    message = codec.encode("BookingRecorded", _booking(codec))
    pairs = list(message.headers)
    forms = [pairs, tuple(pairs), dict(pairs), [(k, v.decode()) for k, v in pairs], [*pairs, ("dt-empty", None)]]
    for headers in forms:
        result = codec.decode(message.value, headers, AT, message.key)
        assert isinstance(result, Decoded) and result.record == _booking(codec), headers
    assert headers_dict([*pairs, ("dt-empty", None)]) == dict(pairs)
    assert headers_dict(((b"raw", b"1"),)) == {"b'raw'": b"1"} and headers_dict(None) == headers_dict([]) == {}


def test_a_key_that_differs_from_the_booking_is_a_dead_letter(codec):
    message = codec.encode("BookingRecorded", _booking(codec))
    result = codec.decode(message.value, message.headers, AT, b"B-OTHER")
    assert isinstance(result, DeadLetter) and result.reason_code == "KEY_MISMATCH"


def test_an_empty_event_id_is_a_missing_field(codec):
    message = codec.encode("BookingRecorded", {**_booking(codec), "event_id": ""}, validate=False)
    result = codec.decode(message.value, message.headers, AT, message.key)
    assert isinstance(result, DeadLetter) and result.reason_code == "MISSING_FIELD"


def test_a_message_labelled_like_one_that_decoded_still_gets_every_check(codec):
    good = codec.encode("BookingRecorded", _booking(codec))
    assert isinstance(codec.decode(good.value, good.headers, AT, good.key), Decoded)
    empty_id = codec.encode("BookingRecorded", {**_booking(codec), "event_id": ""}, validate=False)
    cases = [(good.value, b"B-OTHER", "KEY_MISMATCH"), (good.value, None, "KEY_MISMATCH"),
             (None, good.key, "MALFORMED"), (good.value + b"x", good.key, "MALFORMED"),
             (good.value[:5], good.key, "MALFORMED"), (empty_id.value, good.key, "MISSING_FIELD")]
    for value, key, code in cases:
        result = codec.decode(value, good.headers, AT, key)
        assert isinstance(result, DeadLetter) and result.reason_code == code, (value, key)
    wrong_topic = codec.decode(good.value, good.headers, Coordinates("dt.court.events", 0, 1), good.key)
    assert isinstance(wrong_topic, DeadLetter) and wrong_topic.reason_code == "WRONG_TOPIC"


def test_labels_remembered_are_bounded_whatever_the_headers(codec):
    good = codec.encode("BookingRecorded", _booking(codec))
    version = dict(good.headers)[HEADER_VERSION]
    for zeros in range(PLANS_KEPT + 50):  # "1", "01", "001", ...: each a version header int() reads as 1
        headers = [(k, b"0" * zeros + version if k == HEADER_VERSION else v) for k, v in good.headers]
        assert isinstance(codec.decode(good.value, headers, AT, good.key), Decoded)
    assert len(codec._plans) == PLANS_KEPT


def _evolved_registry(tmp_path, v2_extra_field):
    """A registry with BookingRecorded v1 as published and a v2 that adds one field."""
    current = Settings().schemas_dir
    for folder in (p for p in current.iterdir() if (p / "v1.avsc").is_file()):
        (tmp_path / folder.name).mkdir()
        (tmp_path / folder.name / "v1.avsc").write_text((folder / "v1.avsc").read_text())
    v2 = json.loads((current / "booking_recorded" / "v1.avsc").read_text())
    v2["fields"].append(v2_extra_field)
    (tmp_path / "booking_recorded" / "v2.avsc").write_text(json.dumps(v2))
    return Codec(SchemaRegistry(tmp_path), Topics(Settings()))


def test_data_written_with_an_older_version_decodes_with_the_newer_reader(codec, tmp_path):
    newer = _evolved_registry(tmp_path, {"name": "housing_unit", "type": ["null", "string"], "default": None})
    old = codec.encode("BookingRecorded", _booking(codec))
    assert dict(old.headers)[HEADER_VERSION] == b"1"
    result = newer.decode(old.value, old.headers, AT, old.key)
    assert isinstance(result, Decoded) and result.version == 1
    assert result.record["housing_unit"] is None
    assert result.record["booking_id"] == "B-7"
    written_now = newer.encode("BookingRecorded", {**_booking(codec), "housing_unit": "4B"})
    assert dict(written_now.headers)[HEADER_VERSION] == b"2"


def test_a_required_field_missing_from_the_writer_is_a_dead_letter(codec, tmp_path):
    newer = _evolved_registry(tmp_path, {"name": "housing_unit", "type": "string"})
    old = codec.encode("BookingRecorded", _booking(codec))
    result = newer.decode(old.value, old.headers, AT, old.key)
    assert isinstance(result, DeadLetter) and result.reason_code == "MISSING_FIELD", result
    assert "housing_unit" in result.reason


def test_validation_names_missing_and_unknown_fields(codec):
    record = _booking(codec)
    del record["county"]
    with pytest.raises(EventValidationError, match="missing required field.*county"):
        codec.validate("BookingRecorded", record)
    with pytest.raises(EventValidationError, match="unknown field.*colour"):
        codec.validate("BookingRecorded", {**_booking(codec), "colour": "red"})
    with pytest.raises(EventValidationError, match="level"):
        codec.validate("BookingRecorded", {**_booking(codec), "charges": [{"statute": "PC 1", "level": "HUGE"}]})


def test_a_dead_letter_encodes_as_a_dead_letter_record(codec):
    message = codec.encode("BookingRecorded", _booking(codec))
    dead = codec.decode(b"\xff\xff\xff", message.headers, AT, message.key)
    record = dead.to_record("test", example_record(codec.registry.latest("DeadLetter"))["occurred_at"])
    out = codec.encode("DeadLetter", record)
    back = codec.decode(out.value, out.headers, Coordinates(out.topic, 0, 0), out.key)
    assert back.record["source_offset"] == 1234 and back.record["source_partition"] == 4
    assert back.record["value"] == b"\xff\xff\xff" and back.record["reason_code"] == "MALFORMED"
    assert back.record["event_id"] == "deadletter:dt.jail.bookings:4:1234"


def test_every_input_schema_begins_with_its_id_and_its_instant(codec):
    # the consumer's scheduler reads occurred_at from these two leading fields without decoding the rest
    for type_name in codec.registry.types:
        for version in range(1, codec.registry.latest(type_name).version + 1):
            fields = codec.registry.get(type_name, version).raw["fields"]
            if fields[0]["name"] == "output_id":
                continue  # an output
            assert [f["name"] for f in fields[:2]] == ["event_id", "occurred_at"], (type_name, version)
            assert fields[1]["type"] == {"type": "long", "logicalType": "timestamp-millis"}, (type_name, version)


@pytest.mark.parametrize("type_name", [t for t in Topics(Settings()).event_types
                                       if t not in ("Decision", "CustodyCommand", "Violation", "TruthActNotice",
                                                    "StatusFact", "Correction", "CletsDecision")])
def test_the_instant_is_read_from_the_bytes_whatever_the_record_timestamp(codec, type_name):
    record = example_record(codec.registry.latest(type_name), key="K-1")
    record["occurred_at"] = datetime(1999, 12, 31, 23, 59, 59, 123000, tzinfo=UTC)
    message = codec.encode(type_name, record)
    assert peek_occurred_at(message.value) == int(record["occurred_at"].timestamp() * 1000)


@pytest.mark.parametrize("garbage", [b"", b"\x80", b"\x0a\x01", b"\xff" * 12, b"\x02a"])
def test_garbage_has_no_instant(garbage):
    assert peek_occurred_at(garbage) is None

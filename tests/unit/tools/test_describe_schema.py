"""`detainer-tracker schema`: every type can be described, nested fields are named by path, allowed values are
listed, and what produce refuses to leave out is shown as required whatever the schema's default."""

import io
import json

import pytest

from streams.errors import ConfigError
from streams.tools.describe_schema import fields, write


def test_every_type_is_described(codec):
    for type_name in codec.registry.types:
        described = fields(codec.registry.latest(type_name))
        assert [f["field"] for f in described if "." not in f["field"]] == list(
            codec.registry.latest(type_name).field_names), type_name


def test_a_booking_record_names_its_nested_fields_and_allowed_values(codec):
    out = io.StringIO()
    write(codec, "BookingRecorded", True, out)
    shown = {f["field"]: f for f in json.loads(out.getvalue())["fields"]}
    assert shown["charges"]["type"] == "list of Charge"
    assert shown["charges[].level"]["type"] == "one of FELONY, MISDEMEANOR, INFRACTION, UNKNOWN"
    assert shown["occurred_at"]["type"].startswith("instant")
    assert shown["state"]["required"] and "default" not in shown["state"]  # produce refuses a line without it
    assert not shown["charges[].description"]["required"] and shown["charges[].description"]["default"] is None


def test_the_list_names_each_type_s_topic_and_version_and_an_unknown_type_is_refused(codec):
    out = io.StringIO()
    write(codec, None, False, out)
    rows = {line.split()[0]: line.split()[1:] for line in out.getvalue().splitlines()}
    assert rows["CriminalHistoryRecorded"] == ["v2", "dt.jail.bookings"]
    assert rows["Decision"][0] == f"v{codec.registry.latest('Decision').version}"
    older = io.StringIO()
    write(codec, "CriminalHistoryRecorded", False, older, version=1)
    assert "california_equivalent" not in older.getvalue()
    with pytest.raises(ConfigError, match="no event or output type 'Nope'"):
        write(codec, "Nope", False, io.StringIO())

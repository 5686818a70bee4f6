"""The agency registry file and its load plan, and the gate's step without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.core import clets
from streams.errors import ConfigError
from streams.tools import agencies
from streams.wire.codec import Coordinates
from streams.worker.gate import GateWork

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _file(tmp_path, text):
    path = tmp_path / "agencies.yaml"
    path.write_text(text)
    return path


def test_the_shipped_example_registry_reads(codec, tmp_path):
    from streams.tools.access import REPO_ROOT

    records = agencies.read_file(REPO_ROOT / "deploy" / "agencies.yaml", codec, "test", NOW)
    assert {r["kind"] for r in records} == {"LOCAL_CA", "ICE_ERO", "ICE_HSI", "CBP", "OTHER_FED"}


def test_loading_compares_what_entries_say_not_when_they_were_written(codec, tmp_path):
    text = ("agencies:\n  - {agency_id: A1, name: Sheriff, kind: LOCAL_CA}\n"
            "  - {agency_id: F1, name: HSI, kind: ICE_HSI}\n")
    first = agencies.read_file(_file(tmp_path, text), codec, "test", NOW)
    registry = {r["agency_id"]: {**r, "occurred_at": datetime(2020, 1, 1, tzinfo=UTC), "source": "other"}
                for r in first}
    again = agencies.read_file(_file(tmp_path, text), codec, "test", NOW)
    assert agencies.plan(again, registry).to_send == ()
    changed = agencies.read_file(_file(tmp_path, text.replace("kind: ICE_HSI}", "kind: ICE_HSI, clets_access: false}")),
                                 codec, "test", NOW)
    plan = agencies.plan(changed[1:], registry)
    assert [r["agency_id"] for r in plan.changed] == ["F1"] and plan.only_in_registry == ("A1",)
    assert changed[1]["event_id"] != first[1]["event_id"]


@pytest.mark.parametrize(("text", "message"), [
    ("agencies: []\n", "non-empty `agencies:` list"),
    ("agencies:\n  - {agency_id: A1, name: X, kind: LOCAL_CA}\n  - {agency_id: A1, name: Y, kind: LOCAL_CA}\n",
     "appears twice"),
    ("agencies:\n  - {agency_id: A1, kind: LOCAL_CA}\n", "agency 1 \\(A1\\)"),
    ("agencies:\n  - {agency_id: A1, name: X, kind: LOCAL_CA, revoked_at: someday}\n", "agency 1 \\(A1\\)"),
])
def test_a_bad_registry_file_is_refused_naming_the_entry(codec, tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        agencies.read_file(_file(tmp_path, text), codec, "test", NOW)


def test_the_gate_step_decides_with_the_registry_and_dead_letters_what_it_cannot_read(codec):
    gate = GateWork(clets.load_rows(), codec, "test")
    where = Coordinates(codec.topics.name("clets_agreements"), 0, 0)
    agency = codec.encode("AgencyAgreementRecorded", {"event_id": "a1", "occurred_at": NOW, "source": "t",
                                                      "agency_id": "A1", "name": "Sheriff", "kind": "LOCAL_CA"})
    assert gate.record_agency(where, agency.key, agency.value, agency.headers, NOW).dead_letter is None
    query = {"event_id": "q1", "occurred_at": NOW, "source": "t", "query_id": "Q1", "agency_id": "A1",
             "user_id": "u", "purpose": "CRIMINAL_INVESTIGATION", "data_class": "CRIM_HIST", "subject_ref": "X"}
    message = codec.encode("CletsQueryMade", query)
    qwhere = Coordinates(message.topic, 0, 5)
    result, ruling = gate.handle_query(qwhere, message.key, message.value, message.headers, NOW)
    assert ruling.outcome == "PERMITTED"
    assert [m.topic for m in result.messages] == [codec.topics.name("clets_decisions")]
    stranger = codec.encode("CletsQueryMade", {**query, "event_id": "q2", "agency_id": "NOBODY"})
    _, ruling = gate.handle_query(qwhere, stranger.key, stranger.value, stranger.headers, NOW)
    assert (ruling.outcome, ruling.rule_id) == ("DENIED", clets.UNKNOWN_AGENCY)
    result, ruling = gate.handle_query(qwhere, b"Q9", b"\x00garbage", [], NOW)
    assert ruling is None and result.dead_letter.coordinates.offset == 5
    assert [m.topic for m in result.messages] == [codec.topics.name("deadletter")]

"""`detainer-tracker produce FILE` against the real broker: good lines all arrive, bad lines are all reported."""

import json
import os
import subprocess
import sys

from streams.wire.codec import Coordinates, Decoded
from tests.support.kafka import read_until


def _line(type_name, **fields):
    base = {"type": type_name, "event_id": f"{type_name}-{fields.get('booking_id')}-{len(fields)}",
            "occurred_at": "2019-02-05T10:00:00-08:00", "source": "jms"}
    return json.dumps({**base, **fields})


def test_a_file_mixing_good_and_bad_lines(settings, kafka_codec, tmp_path):
    lines = [
        _line("BookingRecorded", booking_id="B1", person_id="P1", state="CA", county="Fresno", facility="Fresno Main",
              charges=[{"statute": "PC 211", "level": "FELONY"}]),
        "{broken",
        _line("DetainerLodged", booking_id="B1", detainer_id="D1", form="I247A", authority="I205"),
        _line("DetainerLodged", booking_id="B2", detainer_id="D2", form="I-247A"),
        _line("ReleaseBecameDue", booking_id="B1", reason="SENTENCE_SERVED",
              release_at="2019-02-08T06:00:00-08:00"),
        _line("Released", person_id="P9"),
        _line("ProbableCauseFound", booking_id="B3", charge={"statute": "PC 211", "level": "FELONY"},
              finding_date="2019-07-10"),
    ]
    latin1 = _line("BookingRecorded", booking_id="B8", person_id="P8", state="CA", county="Fresno",
                   facility="Jail de Fresno", charges=[]).replace("de", "d\u00e9").encode("latin-1")
    # every field within bounds, the whole over what one event may take once encoded
    huge = _line("BookingRecorded", booking_id="B9", person_id="P9", state="CA", county="Fresno", facility="F",
                 charges=[{"statute": "PC 211", "level": "FELONY", "description": "x" * 4000}] * 40)
    good = _line("BookingRecorded", booking_id="B4", person_id="P4", state="CA", county="Kern", facility="Kern",
                 charges=[])
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + latin1 + b"\n" + f"{huge}\n{good}\n".encode())
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "DT_TOPIC_PREFIX": settings.topic_prefix, "DT_PARTITIONS": str(settings.partitions)}
    result = subprocess.run([sys.executable, "-m", "streams.cli", "produce", str(path)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    reported = [line for line in result.stderr.splitlines() if ": line " in line]
    assert [r.split(": line ")[1].split(":")[0] for r in reported] == ["2", "4", "6", "8", "9"]
    assert "I-247A" in reported[1] and "booking_id" in reported[2]
    assert "not UTF-8 text: byte 0xe9" in reported[3] and "may be at most 131,072 bytes" in reported[4]
    assert "Traceback" not in result.stderr
    assert "sent 5 event(s)" in result.stdout and "rejected 5" in result.stdout

    got = {}
    for topic_id, n in (("bookings", 3), ("detainers", 1), ("court", 1)):
        for m in read_until(settings.bootstrap_servers, kafka_codec.topics.name(topic_id), n):
            decoded = kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key)
            assert isinstance(decoded, Decoded), decoded
            got[decoded.record["event_id"]] = (decoded.type_name, m.key)
    assert sorted(t for t, _ in got.values()) == sorted(
        ["BookingRecorded", "BookingRecorded", "DetainerLodged", "ReleaseBecameDue", "ProbableCauseFound"])
    assert {k for _, k in got.values()} == {b"B1", b"B3", b"B4"}


def test_produce_from_stdin_with_nothing_wrong_exits_zero(settings):
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "DT_TOPIC_PREFIX": settings.topic_prefix, "DT_PARTITIONS": str(settings.partitions)}
    line = _line("InterviewRequested", booking_id="B5", request_id="R1", agency="ICE ERO")
    result = subprocess.run([sys.executable, "-m", "streams.cli", "produce", "-"], input=line + "\n", env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "sent 1 event(s): 1 InterviewRequested; rejected 0" in result.stdout


def test_an_unreachable_broker_is_a_clear_error(tmp_path):
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": "127.0.0.1:1", "DT_CONNECT_TIMEOUT": "2"}
    (tmp_path / "e.jsonl").write_text("")
    result = subprocess.run([sys.executable, "-m", "streams.cli", "produce", str(tmp_path / "e.jsonl")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "detainer-tracker: cannot reach Kafka at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr

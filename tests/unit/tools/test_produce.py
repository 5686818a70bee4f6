import json

from streams.wire.jsonlines import BadLine, Line, read_jsonl

GOOD = {"type": "Released", "event_id": "e1", "occurred_at": "2019-02-08T06:00:00-08:00", "source": "jms",
        "booking_id": "B1"}


def test_good_and_bad_lines_are_told_apart_with_line_numbers(codec):
    lines = [
        json.dumps(GOOD),
        "",
        "{not json",
        json.dumps({**GOOD, "type": "Teleported"}),
        json.dumps({k: v for k, v in GOOD.items() if k != "booking_id"}),
        json.dumps({k: v for k, v in GOOD.items() if k != "type"}),
        json.dumps({**GOOD, "occurred_at": "yesterday"}),
        "# a comment",
        json.dumps({**GOOD, "event_id": "e2"}),
        "[1, 2]",
    ]
    out = list(read_jsonl(lines, codec))
    good = [i for i in out if isinstance(i, Line)]
    bad = {i.number: i.reason for i in out if isinstance(i, BadLine)}
    assert [g.number for g in good] == [1, 9]
    assert set(bad) == {3, 4, 5, 6, 7, 10}
    assert "not JSON" in bad[3]
    assert "unknown event type 'Teleported'" in bad[4]
    assert "booking_id" in bad[5]
    assert "missing 'type'" in bad[6]
    assert "not an ISO-8601 instant" in bad[7]
    assert "one JSON object" in bad[10]
    assert str(BadLine(3, "x")) == "line 3: x"


def test_the_future_and_the_too_distant_past_are_refused_with_the_line_and_a_plain_reason(codec):
    from datetime import UTC, datetime, timedelta

    from streams.core.admission import TimeWindow

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    window = TimeWindow.around(now, datetime(2000, 1, 1, tzinfo=UTC), timedelta(minutes=5))
    lines = [json.dumps({**GOOD, "event_id": "old", "occurred_at": "2014-01-10T09:00:00-08:00"}),
             json.dumps({**GOOD, "event_id": "typo", "occurred_at": "2100-01-10T09:00:00-08:00"}),
             json.dumps({**GOOD, "event_id": "soon", "occurred_at": "2026-12-01T12:04:00+00:00"}),
             json.dumps({**GOOD, "event_id": "ahead", "occurred_at": "2026-12-01T12:06:00+00:00"}),
             json.dumps({**GOOD, "event_id": "y1999", "occurred_at": "1999-12-31T23:00:00+00:00"})]
    out = list(read_jsonl(lines, codec, window))
    assert [i.record["event_id"] for i in out if isinstance(i, Line)] == ["old", "soon"]
    bad = {i.number: i.reason for i in out if isinstance(i, BadLine)}
    assert set(bad) == {2, 4, 5}
    assert "in the future" in bad[2] and "DT_FUTURE_TOLERANCE" in bad[2] and "2100-01-10" in bad[2]
    assert "in the future" in bad[4]
    assert "before 2000-01-01" in bad[5] and "DT_EARLIEST_EVENT" in bad[5]


def test_a_line_that_is_not_utf8_is_one_bad_line_and_its_neighbours_go_on(codec):
    good = json.dumps(GOOD).encode()
    latin1 = json.dumps({**GOOD, "event_id": "e-caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    out = list(read_jsonl([b"\xef\xbb\xbf" + good, latin1, json.dumps({**GOOD, "event_id": "e3"}).encode()], codec))
    assert [i.number for i in out if isinstance(i, Line)] == [1, 3]  # the first line's byte-order mark is no fault
    (bad,) = [i for i in out if isinstance(i, BadLine)]
    assert bad.number == 2 and bad.reason.startswith(f"not UTF-8 text: byte 0xe9 at column {latin1.index(0xE9) + 1}")


def test_a_wrong_type_or_symbol_is_said_plainly_with_its_field(codec):
    lines = [json.dumps({**GOOD, "booking_id": 12345}),
             json.dumps({"type": "DetainerLodged", "event_id": "d", "occurred_at": GOOD["occurred_at"], "source": "s",
                         "booking_id": "B", "detainer_id": "D", "form": "I-247A"}),
             json.dumps({"type": "BookingRecorded", "event_id": "b", "occurred_at": GOOD["occurred_at"],
                         "source": "s", "booking_id": "B", "person_id": "P", "state": "CA", "county": "Kern",
                         "facility": "F", "charges": [{"statute": "PC 211", "level": "FELONIOUS"}]})]
    reasons = [i.reason for i in read_jsonl(lines, codec)]
    assert reasons[0] == "Released: booking_id is 12345; it must be a string"
    assert reasons[1] == ("DetainerLodged: form is 'I-247A'; it must be one of I247_LEGACY, I247D, I247N, I247X, "
                          "I247A, I203, OTHER")
    assert reasons[2].startswith("BookingRecorded: level of a Charge is 'FELONIOUS'; it must be one of FELONY")
    assert not any("org.detainertracker" in r or "{'" in r for r in reasons)


def test_a_dry_run_checks_every_line_as_produce_would_without_a_broker(tmp_path):
    """No broker listens on the port given: a dry run still checks each line and reports it with its number."""
    import os
    import subprocess
    import sys

    from streams.tools.localbroker import free_port

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps(GOOD).encode(),
        b"\xff\xfe not text",
        json.dumps({**GOOD, "event_id": "e2", "booking_id": 12345}).encode(),
        json.dumps({**GOOD, "event_id": "e3", "type": "BookingRecorded", "person_id": "P", "county": "Kern",
                    "facility": "F", "charges": []}).encode(),
        json.dumps({**GOOD, "event_id": "e4"}).encode(),
    ]) + b"\n")
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    result = subprocess.run([sys.executable, "-m", "streams.cli", "produce", "--dry-run", str(path)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "would send 2 event(s): 2 Released; rejected 3" in result.stdout
    bad = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert [line.split(": ")[1] for line in bad] == ["line 2", "line 3", "line 4"]
    assert "not UTF-8" in bad[0] and "booking_id is 12345; it must be a string" in bad[1]
    assert "must say its 'state'" in bad[2]

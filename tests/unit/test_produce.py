import json

from streams.produce import BadLine, Line, read_jsonl

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

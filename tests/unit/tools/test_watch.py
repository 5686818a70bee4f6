"""`watch`'s summary line: short, California time, one number format, the overdue releases counted."""

from datetime import UTC, datetime

from streams.tools.watch import Summary
from streams.wire.codec import Decoded


def test_the_summary_line_is_short_local_and_counts_overdue_releases():
    s = Summary()
    at = datetime(2019, 6, 2, 15, 5, tzinfo=UTC)
    s.add(Decoded("ReleaseBecameDue", 1, {"occurred_at": at, "booking_id": "B1", "release_at": at}))
    for i in range(1234):
        s.add(Decoded("Decision", 2, {"kind": "HOLD" if i % 2 else "RELEASE", "outcome": "PERMITTED" if i % 4 == 1
                                      else "DENIED" if i % 2 else "REQUIRED", "booking_id": f"B{i}"}))
    s.add(Decoded("Violation", 1, {"kind": "OVERDUE_RELEASE", "booking_id": "B1"}))
    s.add(Decoded("Violation", 1, {"kind": "UNAUTHORIZED_TRANSFER", "booking_id": "B2"}))
    line = s.line()
    assert line.startswith("[2019-06-02 08:05-07:00] in 1 | decisions 1,234 (holds 309/617)")
    assert "| overdue 1 | violations 2 |" in line and "| due 1h 1 |" in line
    assert len(line) < 170, len(line)  # it was about 250

"""The NPR FOIA records of the detainers ICE issued to California facilities from October 2014 to July 2015, under
the TRUST Act: a booking on a straight misdemeanor with no criminal history meets no criterion of Gov. Code 7282.5,
so no hold is permitted, whether the export's "CALIFORNIA" and "LOS ANGELES" are written so, in another case, or
as the two-letter code."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from streams.core import clets
from streams.core import events as ev
from streams.core.admission import check_jurisdiction
from streams.core.law import rulebook
from streams.tools.decide import Processor, run
from tests.support import npr

BOOK, ROWS = rulebook.load(), clets.load_rows()


@pytest.mark.parametrize("spell", [lambda s: s, str.title, str.lower, lambda s: "CA"],
                         ids=["as exported", "title case", "lower case", "code"])
def test_no_trust_act_hold_is_permitted_without_a_criterion_whatever_the_spelling(spell):
    bookings = list(npr.bookings(spell))
    assert len(bookings) > 8_000  # the rows whose facility names its county
    events = [ev.from_record(t, r) for b in bookings for t, r in b]
    holds = Counter((out.record["outcome"], out.record["rule_id"], out.record["regime"])
                    for out in run(Processor(BOOK, ROWS), events, max(e.occurred_at for e in events) + timedelta(7))
                    if out.record.get("kind") == "HOLD")
    assert not [k for k in holds if k[0] == "PERMITTED"], holds
    assert sum(holds.values()) == len(bookings)  # one hold decision a booking
    notify_only = sum(1 for b in bookings if b[1][1]["form"] == "I247N")  # asks for no detention: says so
    assert notify_only and holds[("DENIED", "hold.not-requested", "CA_TRUST")] == notify_only
    assert {regime for _, _, regime in holds} == {"CA_TRUST"}
    assert holds[("DENIED", "hold.local-policy", "CA_TRUST")] > 0  # Santa Clara's, in capitals


def test_every_county_the_export_names_for_a_county_jail_is_one_of_californias():
    refused = Counter()
    for events in npr.bookings():
        try:
            check_jurisdiction("BookingRecorded", events[0][1], BOOK.places)
        except Exception as exc:  # noqa: BLE001 - counted and shown
            refused[str(exc)[:80]] += 1
    assert sum(refused.values()) < 300, refused.most_common(10)

"""The stall watch: unread messages and no progress for longer than the patience is a stall; nothing else is."""

from streams.worker.stalls import StallWatch


def test_a_partition_with_unread_messages_and_no_progress_stalls_after_the_patience():
    watch = StallWatch(patience=30)
    watch.assigned(["p0", "p1"], now=0)
    assert watch.stalled({"p0": 5, "p1": 0}, {"p0": 2}, now=29) == []
    assert watch.stalled({"p0": 5, "p1": 0}, {"p0": 2}, now=31) == ["p0"]  # p1 has nothing to read
    assert watch.stalled({"p0": 5}, {"p0": 5}, now=31) == []  # the log starts at its end: nothing left to read


def test_progress_and_being_caught_up_keep_a_partition_healthy():
    watch = StallWatch(patience=30)
    watch.assigned(["p0"], now=0)
    watch.progressed("p0", 4, now=20)
    assert watch.stalled({"p0": 9}, {}, now=40) == []
    assert watch.stalled({"p0": 5}, {}, now=100) == []  # everything up to the end was handled
    assert watch.stalled({"p0": 9}, {}, now=100) == ["p0"]


def test_a_new_assignment_restarts_the_clock_and_forgets_revoked_partitions():
    watch = StallWatch(patience=30)
    watch.assigned(["p0"], now=0)
    watch.assigned(["p1"], now=50)
    assert watch.stalled({"p0": 9, "p1": 9}, {}, now=60) == []
    assert watch.stalled({"p0": 9, "p1": 9}, {}, now=81) == ["p1"]


def test_one_heal_is_tried_and_then_the_stall_is_known():
    watch = StallWatch(patience=30)
    watch.assigned(["p0"], now=0)
    assert watch.stalled({"p0": 3}, {}, now=31) == ["p0"] and not watch.heal_tried("p0")
    watch.healing("p0", now=31)
    assert watch.stalled({"p0": 3}, {}, now=60) == []
    assert watch.stalled({"p0": 3}, {}, now=62) == ["p0"] and watch.heal_tried("p0")
    watch.progressed("p0", 0, now=63)
    assert not watch.heal_tried("p0")


def test_a_partition_whose_fetch_moves_is_read_even_while_nothing_of_it_is_handled():
    # the event-time merge holds a court topic's fetched records until the bookings before them are taken
    watch = StallWatch(patience=30)
    watch.assigned(["court"], now=0)
    watch.fetched("court", 0, now=10)
    watch.fetched("court", 40, now=25)
    assert watch.stalled({"court": 90}, {}, now=50) == []
    assert watch.stalled({"court": 90}, {}, now=56) == ["court"]  # the fetch has not moved for 31 s
    watch.fetched("court", 90, now=57)
    assert watch.stalled({"court": 90}, {}, now=200) == []  # everything fetched: nothing left to read


def test_a_fetch_position_seen_first_is_not_progress_and_a_new_assignment_forgets_it():
    watch = StallWatch(patience=30)
    watch.assigned(["p0"], now=0)
    watch.fetched("p0", 3, now=29)
    assert watch.stalled({"p0": 9}, {}, now=31) == ["p0"]
    watch.assigned(["p0"], now=40)
    watch.fetched("p0", 3, now=41)
    assert watch.stalled({"p0": 9}, {}, now=71) == ["p0"]


def test_the_seek_back_of_a_heal_is_not_progress_and_a_partition_still_stuck_stops_the_worker():
    watch = StallWatch(patience=30)
    watch.assigned(["p0"], now=0)
    watch.fetched("p0", 50, now=1)
    assert watch.stalled({"p0": 90}, {"p0": 10}, now=32) == ["p0"] and not watch.heal_tried("p0")
    watch.healing("p0", now=32)
    watch.fetched("p0", 10, now=35)  # the heal sought back to the committed offset; nothing is read after it
    assert watch.stalled({"p0": 90}, {"p0": 10}, now=63) == ["p0"] and watch.heal_tried("p0")

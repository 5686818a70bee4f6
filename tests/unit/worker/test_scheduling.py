"""The worker takes each partition's case topics and clock in event-time order, waiting for unfetched topics."""

from faust.types import TP

from streams.worker import faust_compat, scheduling
from tests.support.scheduler import Record, State, scheduler


def _scheduler(states=None):
    return scheduler(states or {}, "clock", ("bookings", "court"))


def _names(pairs):
    return [(tp.topic, r.offset) for tp, r in pairs]


def test_a_partitions_topics_are_merged_by_timestamp_and_each_keeps_its_order():
    scheduler = _scheduler()
    batch = {TP("court", 0): [Record(0, 50), Record(1, 70)],
             TP("bookings", 0): [Record(0, 10), Record(1, 60), Record(2, 40)],  # a late event stays after 1
             TP("clock", 0): [Record(0, 1000)], TP("clets", 0): [Record(0, 1)]}
    got = _names(scheduler.iterate(batch))
    assert got == [("clets", 0), ("bookings", 0), ("court", 0), ("bookings", 1), ("bookings", 2), ("court", 1),
                   ("clock", 0)]


def test_the_order_is_the_events_own_time_whatever_the_record_timestamp():
    scheduler = _scheduler()
    batch = {TP("court", 0): [Record(0, timestamp=1, occurred_ms=50)],  # a producer that stamped nothing useful
             TP("bookings", 0): [Record(0, timestamp=9_999, occurred_ms=10)]}
    assert _names(scheduler.iterate(batch)) == [("bookings", 0), ("court", 0)]


def test_at_one_instant_the_engines_order_of_meaning_decides_not_the_topics():
    scheduler = _scheduler()
    due = [("dt-type", b"ReleaseBecameDue"), ("dt-version", b"1")]
    arrived = [("dt-type", b"IceArrived"), ("dt-version", b"1")]
    batch = {TP("bookings", 0): [Record(0, 40, headers=due)], TP("court", 0): [Record(0, 40, headers=arrived)]}
    assert _names(scheduler.iterate(batch)) == [("court", 0), ("bookings", 0)]


def test_records_wait_while_a_case_topic_of_their_partition_has_records_not_fetched_yet():
    states = {TP("court", 0): State(position=0, highwater=2)}
    scheduler = _scheduler(states)
    assert _names(scheduler.iterate({TP("bookings", 0): [Record(0, 10)], TP("clock", 0): [Record(0, 999)]})) == []
    states[TP("court", 0)] = State(position=2, highwater=2)
    got = _names(scheduler.iterate({TP("court", 0): [Record(0, 5), Record(1, 20)]}))
    assert got == [("court", 0), ("bookings", 0), ("court", 1), ("clock", 0)]


def test_a_case_topic_just_assigned_and_not_fetched_yet_is_waited_for():
    # after a restart one topic's first fetch came back before the other's committed offset was looked up: the
    # fingerprints must not go before the booking that precedes them
    unfetched = State(position=0, highwater=0)
    unfetched.highwater, unfetched.has_valid_position = None, False
    states = {TP("bookings", 0): unfetched, TP("court", 0): State(position=1, highwater=1)}
    scheduler = _scheduler(states)
    assert _names(scheduler.iterate({TP("court", 0): [Record(0, 20)]})) == []
    unfetched.has_valid_position = True  # the offset is known, the first fetch not back yet
    assert _names(scheduler.iterate({})) == []
    states[TP("bookings", 0)] = State(position=1, highwater=1)
    assert _names(scheduler.iterate({TP("bookings", 0): [Record(0, 10)]})) == [("bookings", 0), ("court", 0)]


def test_a_case_topic_whose_first_fetch_never_comes_back_is_not_waited_for_past_max_hold(monkeypatch):
    unfetched = State(position=0, highwater=0)
    unfetched.highwater = None
    scheduler = _scheduler({TP("bookings", 0): unfetched})
    assert _names(scheduler.iterate({TP("court", 0): [Record(0, 20)]})) == []
    later = scheduling.time.monotonic() + scheduling.MAX_HOLD + 1
    monkeypatch.setattr(scheduling.time, "monotonic", lambda: later)
    assert _names(scheduler.iterate({})) == [("court", 0)]


def test_other_partitions_are_not_held_up():
    scheduler = _scheduler({TP("court", 0): State(0, 5)})
    got = scheduler.iterate({TP("bookings", 0): [Record(0, 1)], TP("bookings", 1): [Record(7, 2)]})
    assert [(tp.partition, r.offset) for tp, r in got] == [(1, 7)]


def test_a_record_goes_after_max_hold_even_if_the_other_topic_never_comes(monkeypatch):
    scheduler = _scheduler({TP("court", 0): State(0, 5)})
    assert _names(scheduler.iterate({TP("bookings", 0): [Record(0, 10)]})) == []
    later = scheduling.time.monotonic() + scheduling.MAX_HOLD + 1
    monkeypatch.setattr(scheduling.time, "monotonic", lambda: later)
    assert _names(scheduler.iterate({})) == [("bookings", 0)]


def test_a_slow_topic_that_is_still_being_fetched_keeps_the_order(monkeypatch):
    states = {TP("court", 0): State(0, 5)}
    scheduler = _scheduler(states)
    start = scheduling.time.monotonic()
    assert _names(scheduler.iterate({TP("bookings", 0): [Record(0, 10)]})) == []
    for elapsed, position in ((20, 1), (40, 1)):  # court's fetch moved at 20 s, so at 40 s the record still waits
        monkeypatch.setattr(scheduling.time, "monotonic", lambda e=elapsed: start + e)
        states[TP("court", 0)].position = position
        assert _names(scheduler.iterate({})) == []
    monkeypatch.setattr(scheduling.time, "monotonic", lambda: start + 20 + scheduling.MAX_HOLD + 1)
    assert _names(scheduler.iterate({})) == [("bookings", 0)]  # stalled since 20 s: the others go on


def test_a_rebalance_forgets_what_was_buffered():
    scheduler = _scheduler({TP("court", 0): State(0, 5)})
    assert _names(scheduler.iterate({TP("bookings", 0): [Record(0, 10)]})) == []
    scheduler.app.consumer_generation_id = 2
    scheduler.app.states.clear()  # the new owner's consumer knows nothing yet
    assert _names(scheduler.iterate({TP("bookings", 0): [Record(0, 10)]})) == [("bookings", 0)]


def test_a_full_queue_keeps_the_merged_topics_in_the_fetch_and_takes_out_the_others():
    from types import SimpleNamespace

    _, case_consumer = scheduling.merged_for(("bookings", "court"), "clock")
    consumer = object.__new__(case_consumer)
    merged = {TP("bookings", 0), TP("court", 1), TP("clock", 2)}
    consumer.app = SimpleNamespace(in_recovery=False)
    consumer._active_partitions, consumer._paused_partitions = {*merged, TP("clets", 0)}, set()
    consumer._buffered_partitions = set()
    for tp in (*merged, TP("clets", 0)):
        consumer.on_buffer_full(tp)
    assert consumer._active_partitions == merged  # Faust's own way for the others: out of the fetch until drained
    assert consumer._buffered_partitions == {TP("clets", 0)}


def test_the_worker_consumer_lets_the_broker_hold_a_fetch_of_idle_partitions_only_briefly():
    import asyncio

    from prometheus_client import CollectorRegistry

    from streams.config import Settings
    from streams.worker.app import create_app, wall_clock

    async def built() -> tuple[int, int]:
        app = create_app(Settings(partitions=3, store="memory"), wall_clock, CollectorRegistry())
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # what the worker's thread starts
        try:
            return faust_compat.fetch_max_wait_ms(consumer), consumer._max_partition_fetch_bytes
        finally:
            await consumer.stop()

    wait_ms, fetch_bytes = asyncio.run(built())
    assert wait_ms == faust_compat.FETCH_MAX_WAIT_MS == 50
    assert fetch_bytes == 64 * 1024  # Faust's other settings are kept


def test_two_apps_in_one_process_keep_their_own_merged_topics():
    from prometheus_client import CollectorRegistry

    from streams.config import Settings
    from streams.worker.app import create_app, wall_clock

    first = create_app(Settings(partitions=3, store="memory", topic_prefix="one."), wall_clock, CollectorRegistry())
    second = create_app(Settings(partitions=3, store="memory", topic_prefix="two."), wall_clock, CollectorRegistry())
    for app, prefix in ((first, "one."), (second, "two.")):
        scheduler = app.conf.ConsumerScheduler
        assert scheduler.app is app and scheduler.clock_topic == f"{prefix}clock"
        assert all(t.startswith(prefix) for t in scheduler.case_topics)
        assert app.transport.Consumer.merged == {*scheduler.case_topics, scheduler.clock_topic}
        assert app.conf.PartitionAssignor.case_topic == f"{prefix}jail.bookings"


def test_the_app_takes_its_metrics_registry_from_its_caller():
    from prometheus_client import CollectorRegistry

    from streams.config import Settings
    from streams.worker.app import create_app, wall_clock

    registry = CollectorRegistry()
    app = create_app(Settings(partitions=3, store="memory"), wall_clock, registry)
    assert app.metrics.registry is registry
    assert registry.get_sample_value("dt_reviews_total", {"rule": "review.detainers-alone"}) == 0
    # what runs: the release and the rule book it decides by, and the process's own metrics
    import platform

    from streams import __version__
    from streams.core.law import rulebook

    build = {"version": __version__, "rule_book": rulebook.load().digest, "python": platform.python_version()}
    assert registry.get_sample_value("dt_build_info", build) == 1
    assert registry.get_sample_value("process_cpu_seconds_total") is not None
    assert any(f.name == "python_info" for f in registry.collect())


def test_after_a_rebalance_input_partitions_never_committed_are_read_from_their_start():
    from aiokafka import TopicPartition

    committed = {TopicPartition("clock", 0): None, TopicPartition("clock", 1): 7, TopicPartition("bookings", 2): 0,
                 TopicPartition("cases-changelog", 0): None, TopicPartition("bookings", 0): 1}
    # aiokafka leaves these where a fetch dropped during the rebalance moved them (aiokafka #1003)
    assert scheduling.never_committed(committed, {"cases-changelog"}) == [TP("bookings", 2), TP("clock", 0)]

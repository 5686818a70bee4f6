"""The case processor on the real broker: live outputs equal `decide`, dead letters, duplicates, ticks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kafka import KafkaAdminClient, TopicPartition

from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor, run
from streams.tools.produce import EventProducer
from streams.wire.codec import Coordinates
from streams.wire.jsonlines import parse_line
from streams.wire.topics import CASE_INPUTS, partition_of
from tests.scenarios.loader import CASES, load
from tests.support.kafka import end_offsets, read_all, read_until
from tests.support.step import comparable
from tests.support.worker import WorkerProcess, outputs_on_kafka, tick_all, wait_processed

LIVE_SCENARIOS = [
    "s01_pre_trust_legacy_hold_skips_thanksgiving_and_the_weekend",
    "s02_trust_serious_felony_prior_mlk_weekend_ice_arrives_during_hold",
    "s08_a_trust_hold_ends_when_the_values_act_takes_effect",
    "s11_values_act_serious_felony_prior_notify_and_transfer_but_no_hold",
    "s16_trust_ice_lifts_the_detainer_mid_hold",
    "s25_trust_the_clock_starts_only_when_no_other_custody_basis_remains",
    "s32_values_act_status_may_be_shared_release_date_may_not",
    "x03_still_in_custody_after_the_release_deadline_is_a_violation",
]



def _live_scenarios(codec) -> tuple[list, datetime, list[dict]]:
    """The live scenarios' events in time order, a time ten days past the last, and what `decide` gives by then."""
    lines = []
    for name in LIVE_SCENARIOS:
        scenario = load(CASES / f"{name}.yaml")
        lines += [parse_line(i, line, codec) for i, line in enumerate(scenario.jsonl().splitlines(), 1)]
    lines.sort(key=lambda line: line.record["occurred_at"])
    end = lines[-1].record["occurred_at"] + timedelta(days=10)
    events = [ev.from_record(line.type_name, line.record) for line in lines]
    expected = [{"type": e.type_name, **e.record}
                for e in run(Processor(rulebook.load(), clets.load_rows()), events, end)]
    return lines, end, expected


def _assert_same_outputs(got: list[dict], expected: list[dict]) -> None:
    live_rows, decided_rows = set(map(comparable, got)), set(map(comparable, expected))
    assert live_rows == decided_rows, (f"only live: {sorted(live_rows - decided_rows)}\n"
                                       f"only decide: {sorted(decided_rows - live_rows)}")


def test_scenarios_produced_into_kafka_give_the_outputs_decide_gives(live, settings, kafka_codec):
    feed, worker = live
    lines, end, expected = _live_scenarios(kafka_codec)
    for line in lines:
        feed(line.type_name, line.record)
    tick_all(feed, settings, end)
    got = outputs_on_kafka(settings, kafka_codec)
    _assert_same_outputs(got, expected)
    assert len(got) == len(expected)
    assert len({o["output_id"] for o in got}) == len(got), "an output_id appears twice"


def test_poison_messages_become_dead_letters_and_later_events_still_count(live, settings, kafka_codec):
    from kafka import KafkaProducer

    feed, worker = live
    raw = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    poisoned = {}
    for i, topic_id in enumerate(("bookings", "biometrics", "detainers", "court", "clock")):
        topic = kafka_codec.topics.name(topic_id)
        meta = raw.send(topic, key=b"B-POISON", value=b"\x00garbage" + bytes([i]),
                        headers=[("dt-type", b"Released"), ("dt-version", b"1")]).get(timeout=30)
        poisoned[(meta.topic, meta.partition, meta.offset)] = topic_id
        wait_processed(admin, settings.app_id, {TopicPartition(meta.topic, meta.partition): meta.offset}, 120,
                       worker)
    raw.close()
    admin.close()
    at = datetime(2019, 6, 1, 16, tzinfo=UTC)
    feed("ReleaseBecameDue", {"event_id": "after-poison", "occurred_at": at, "source": "t",
                              "booking_id": "B-POISON", "reason": "BAIL_POSTED", "release_at": at})
    feed("Released", {"event_id": "after-poison-2", "occurred_at": at + timedelta(minutes=5), "source": "t",
                      "booking_id": "B-POISON"})
    letters = read_all(settings.bootstrap_servers, kafka_codec.topics.name("deadletter"))
    found = {}
    for m in letters:
        record = kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key).record
        found[(record["source_topic"], record["source_partition"], record["source_offset"])] = record
    assert set(found) == set(poisoned)
    for record in found.values():
        assert record["value"].startswith(b"\x00garbage")
        assert record["reason_code"] in ("MALFORMED", "WRONG_TOPIC")
        assert record["reason"]
    commands = [o for o in outputs_on_kafka(settings, kafka_codec) if o["booking_id"] == "B-POISON"]
    assert [o.get("directive") for o in commands if o["type"] == "CustodyCommand"] == ["RELEASE"]


def test_duplicate_input_events_give_no_duplicate_outputs(live, settings, kafka_codec):
    feed, worker = live
    at = datetime(2019, 6, 1, 16, tzinfo=UTC)
    lodged = {"event_id": "dup-1", "occurred_at": at, "source": "t", "booking_id": "B-DUP", "detainer_id": "D",
              "form": "I247A", "authority": "I200", "served_at": at}
    due = {"event_id": "dup-2", "occurred_at": at + timedelta(hours=1), "source": "t", "booking_id": "B-DUP",
           "reason": "BAIL_POSTED", "release_at": at + timedelta(hours=1)}
    gone = {"event_id": "dup-3", "occurred_at": at + timedelta(hours=1, minutes=5), "source": "t",
            "booking_id": "B-DUP"}
    for type_name, record in (("DetainerLodged", lodged), ("DetainerLodged", lodged), ("ReleaseBecameDue", due),
                              ("DetainerLodged", lodged), ("ReleaseBecameDue", due), ("Released", gone),
                              ("Released", gone)):
        feed(type_name, record)
    outputs = outputs_on_kafka(settings, kafka_codec)
    ids = [o["output_id"] for o in outputs]
    assert len(ids) == len(set(ids)) == 7  # notification, notice, civil arrest, hold, transfer, release x2


def test_a_release_fires_on_time_from_ticks_alone(settings, kafka_codec, tmp_path):
    worker = WorkerProcess(settings, tmp_path / "ticking", tmp_path / "ticking.log", ticker=True)
    try:
        release_at = datetime.now(UTC) + timedelta(seconds=20)
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            producer.send("ReleaseBecameDue", {"event_id": "tick-only", "occurred_at": datetime.now(UTC),
                                               "source": "t", "booking_id": "B-TICK", "reason": "SENTENCE_SERVED",
                                               "release_at": release_at}).get(timeout=30)
        deadline = datetime.now(UTC) + timedelta(seconds=120)
        commands = []
        while not commands and datetime.now(UTC) < deadline:
            commands = read_all(settings.bootstrap_servers, kafka_codec.topics.name("custody_commands"))
            time.sleep(0.2)
        assert commands, f"no release directive within 120 s\n{worker.tail()}"
        record = _decoded(kafka_codec, commands[0])
        assert record["directive"] == "RELEASE" and record["effective_at"] == release_at.replace(
            microsecond=release_at.microsecond // 1000 * 1000)
        assert record["decided_at"] >= record["effective_at"], "a release must not be decided before it is due"
    finally:
        worker.stop()


def test_a_deadline_gets_its_own_tick_when_it_comes_due(settings, kafka_codec, tmp_path):
    """With the regular ticks an hour apart, the release still fires: the worker writes a tick to the partition as
    soon as the wall clock passes the deadline, and that tick is what moves the partition's time past it."""
    worker = WorkerProcess(settings, tmp_path / "due", tmp_path / "due.log", ticker=True,
                           env={"DT_TICK_INTERVAL": "3600"})
    try:
        release_at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            producer.send("ReleaseBecameDue", {"event_id": "due-tick", "occurred_at": datetime.now(UTC),
                                               "source": "t", "booking_id": "B-DUE", "reason": "SENTENCE_SERVED",
                                               "release_at": release_at}).get(timeout=30)
        commands = read_until(settings.bootstrap_servers, kafka_codec.topics.name("custody_commands"), 1, timeout=120)
        record = _decoded(kafka_codec, commands[0])
        assert record["directive"] == "RELEASE" and record["effective_at"] == release_at
        assert record["decided_at"] >= release_at
        partition = partition_of(b"B-DUE", settings.partitions)
        clock = read_all(settings.bootstrap_servers, kafka_codec.topics.name("clock"))
        ticks = [_decoded(kafka_codec, m) for m in clock if m.partition == partition]
        late = [t for t in ticks if t["occurred_at"] >= release_at]
        assert late, f"no tick at or after the deadline on partition {partition}: {ticks}"
        assert all(t["event_id"].endswith(":due") for t in late), late
        assert commands[0].partition == partition
    finally:
        worker.stop()


def _decoded(codec, message) -> dict:
    return codec.decode(message.value, message.headers, Coordinates(message.topic, message.partition, 0),
                        message.key).record


def test_a_backlog_read_with_a_later_tick_gives_the_outputs_decide_gives(settings, kafka_codec, tmp_path):
    """A worker that starts on a backlog (after an outage, say) fetches the topics of a partition together; it
    takes each fetched batch in event-time order, so a tick far ahead on the clock fires no deadline before the
    inputs that precede it."""
    lines, end, expected = _live_scenarios(kafka_codec)
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for p in range(settings.partitions):  # the clock first: ticks written while the worker was away
            producer.send_encoded(kafka_codec.encode("ClockTicked", {
                "event_id": f"tick-{p}", "occurred_at": end, "source": "test", "partition": p}), p)
        producer.flush()
        for line in lines:
            producer.send(line.type_name, line.record)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    worker = WorkerProcess(settings, tmp_path / "backlog", tmp_path / "backlog.log")
    try:
        last = {tp: offset - 1 for tp, offset in end_offsets(
            settings.bootstrap_servers, [kafka_codec.topics.name(t) for t in (*CASE_INPUTS, "clock")]).items()}
        wait_processed(admin, settings.app_id, last, 180, worker)
    finally:
        worker.stop()
        admin.close()
    got = outputs_on_kafka(settings, kafka_codec)
    _assert_same_outputs(got, expected)

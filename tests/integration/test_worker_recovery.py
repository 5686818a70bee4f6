"""Recovery: a restart with the data dir intact reads only the changelog's tail; a survivor takes over a dead
worker's partitions and fires their deadlines once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaAdminClient, TopicPartition

from streams.tools.produce import EventProducer
from streams.wire.topics import partition_of
from tests.support.kafka import wait_until
from tests.support.worker import WorkerProcess, committed, outputs_on_kafka, wait_processed

AT = datetime(2019, 6, 3, 16, tzinfo=UTC)  # a Monday, Values Act


def _release_due(producer, codec, booking: str, at: datetime, release_at: datetime):
    return producer.send("ReleaseBecameDue", {"event_id": f"{booking}-due", "occurred_at": at, "source": "t",
                                              "booking_id": booking, "reason": "BAIL_POSTED",
                                              "release_at": release_at}).get(timeout=30)


def _positions(metas) -> dict[TopicPartition, int]:
    out: dict[TopicPartition, int] = {}
    for meta in metas:
        tp = TopicPartition(meta.topic, meta.partition)
        out[tp] = max(out.get(tp, -1), meta.offset)
    return out


def _restored(log: str, changelog: str) -> dict[int, int]:
    """The worker's restore line in its log: partition -> changelog records read before Faust's recovery."""
    found: dict[int, int] = {}
    for line in log.splitlines():
        if f"restored {changelog}: " in line:
            for partition, n in re.findall(r"partition (\d+): (\d+)", line):
                found[int(partition)] = found.get(int(partition), 0) + int(n)
    return found


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_restart_with_its_data_dir_reads_only_the_changelog_tail(settings, kafka_codec, tmp_path, guarantee):
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    changelog = f"{settings.app_id}-cases-changelog"
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        def run(data_dir: str, log: str, send) -> float | None:
            """A worker on `data_dir` until it has processed what `send()` produced, then a clean stop.

            Returns the worker's own figure for how long its recovery took."""
            worker = WorkerProcess(settings, tmp_path / data_dir, tmp_path / log, guarantee=guarantee)
            try:
                wait_processed(admin, settings.app_id, _positions(send()), 180, worker)
                return worker.metric("dt_state_recovery_seconds")
            finally:
                worker.stop()

        def due(prefix: str, n: int):
            return [_release_due(producer, kafka_codec, f"{prefix}{i}", AT, AT + timedelta(hours=2)) for i in range(n)]

        def ticks():
            return [producer.send_encoded(kafka_codec.encode("ClockTicked", {
                "event_id": f"tick-{p}", "occurred_at": AT + timedelta(hours=3), "source": "t", "partition": p}),
                p).get(timeout=30) for p in range(settings.partitions)]

        run("kept", "first.log", lambda: due("A", 300))
        recovered_in = run("other", "other.log", lambda: due("B", 100))  # another data dir writes more state
        run("kept", "again.log", ticks)  # back on the kept data dir: only the tail to read
    admin.close()
    log = (tmp_path / "again.log").read_text(errors="replace")
    first = _restored((tmp_path / "other.log").read_text(errors="replace"), changelog)
    tail = _restored(log, changelog)
    assert first and tail, log[-3000:]
    read, whole = sum(tail.values()), sum(first.values())
    if guarantee == "at_least_once":
        assert 0 < read <= 100 + settings.partitions, f"read {read} changelog records: {tail}"
    else:  # in transactions Faust keeps no changelog offset in the store: the whole changelog is read again
        assert read >= whole, f"read {read} changelog records: {tail}"
    assert whole >= 300  # a new data dir read the whole changelog (A's 300 cases); the kept one, only its tail
    assert recovered_in is not None and recovered_in > 0  # the recovery gauge counts the restore
    releases = [o for o in outputs_on_kafka(settings, kafka_codec)
                if o["type"] == "CustodyCommand" and o["directive"] == "RELEASE"]
    released = [o["booking_id"] for o in releases]
    everyone = {f"A{i}" for i in range(300)} | {f"B{i}" for i in range(100)}
    assert len(released) == len(set(released)) and set(released) == everyone, (
        f"missing {sorted(everyone - set(released))}")  # B's cases too, restored from the changelog's tail


def _stable_members(admin: KafkaAdminClient, group: str) -> int:
    """Members of a consumer group that is Stable (no rebalance under way), else 0."""
    try:
        info = admin.describe_groups([group]).get(group, {})
    except Exception:  # noqa: BLE001 - the coordinator may still be moving: ask again
        return 0
    return len(info.get("members") or []) if info.get("group_state", info.get("state")) == "Stable" else 0


def test_when_one_of_two_workers_dies_the_other_fires_its_deadlines_once(settings, kafka_codec, tmp_path):
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    first = WorkerProcess(settings, tmp_path / "w1", tmp_path / "w1.log")
    second = WorkerProcess(settings, tmp_path / "w2", tmp_path / "w2.log")
    bookings = [f"F{i}" for i in range(60)]
    assert {partition_of(b.encode(), settings.partitions) for b in bookings} == set(range(settings.partitions))
    try:
        wait_until(lambda: _stable_members(admin, settings.app_id) == 2, timeout=180,
                   describe="both workers in the group, its rebalance done")
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            metas = [_release_due(producer, kafka_codec, b, AT, AT + timedelta(hours=2)) for b in bookings]
            wait_processed(admin, settings.app_id, _positions(metas), 180)
            owners = {w: {int(m) for m in re.findall(r"partition (\d+): \d+ pending deadline",
                                                     (tmp_path / f"{w}.log").read_text(errors="replace"))}
                      for w in ("w1", "w2")}
            first.kill()  # SIGKILL: its partitions move after the session timeout
            ticks = [producer.send_encoded(kafka_codec.encode("ClockTicked", {
                "event_id": f"tick-{p}", "occurred_at": AT + timedelta(hours=3), "source": "t", "partition": p}),
                p).get(timeout=30) for p in range(settings.partitions)]
            wait_processed(admin, settings.app_id, _positions(ticks), 240, second)
        releases = [o for o in outputs_on_kafka(settings, kafka_codec)
                    if o["type"] == "CustodyCommand" and o["directive"] == "RELEASE"]
        assert sorted(o["booking_id"] for o in releases) == sorted(bookings)  # each once, none lost
        taken = {int(m) for m in re.findall(r"partition (\d+): \d+ pending deadline",
                                            (tmp_path / "w2.log").read_text(errors="replace"))}
        assert owners["w1"] and owners["w1"] <= taken, (owners, taken)
        assert committed(admin, settings.app_id)
    finally:
        first.kill()
        second.stop()
        admin.close()


def test_a_damaged_store_is_discarded_and_rebuilt_from_the_changelog_in_the_same_start(settings, kafka_codec,
                                                                                        tmp_path):
    """A clean stop, then the store's manifest overwritten (a damaged disk): the next start does not crash; it drops
    the store, rebuilds the cases from the changelog, says so in its log and its metrics, and their deadlines fire."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        first = WorkerProcess(settings, tmp_path / "kept", tmp_path / "first.log")
        try:
            sent = [_release_due(producer, kafka_codec, f"D{i}", AT, AT + timedelta(hours=2)) for i in range(60)]
            wait_processed(admin, settings.app_id, _positions(sent), 180, first)
        finally:
            first.stop()
        manifests = list((tmp_path / "kept").rglob("MANIFEST-*"))
        assert manifests and (tmp_path / "kept" / "CLEAN_STOP").exists()
        for manifest in manifests:
            manifest.write_bytes(b"\x00damaged" * 64)
        second = WorkerProcess(settings, tmp_path / "kept", tmp_path / "second.log")
        try:
            ticks = [producer.send_encoded(kafka_codec.encode("ClockTicked", {
                "event_id": f"tick-{p}", "occurred_at": AT + timedelta(hours=3), "source": "t", "partition": p}),
                p).get(timeout=30) for p in range(settings.partitions)]
            wait_processed(admin, settings.app_id, _positions(ticks), 180, second)
            assert second.proc.poll() is None, second.tail()
            assert second.metric("dt_state_rebuilt_total", reason="damaged") == 1
        finally:
            second.stop()
    admin.close()
    assert "cannot be opened" in (tmp_path / "second.log").read_text(errors="replace")
    released = {o["booking_id"] for o in outputs_on_kafka(settings, kafka_codec) if o.get("directive") == "RELEASE"}
    assert {f"D{i}" for i in range(60)} <= released

"""Scratch: two workers, one SIGKILLed; the survivor fires the dead one's deadlines once."""

from __future__ import annotations

import re
from datetime import timedelta

from kafka import KafkaAdminClient

from streams.produce import EventProducer
from streams.topics import partition_of
from tests.integration.test_worker_recovery import AT, _positions, _release_due
from tests.support.kafka import wait_until
from tests.support.worker import WorkerProcess, committed, outputs_on_kafka, wait_processed


def _stable_members(admin, group):
    try:
        info = admin.describe_groups([group]).get(group, {})
    except Exception:  # noqa: BLE001
        return 0
    return len(info.get("members") or []) if info.get("group_state", info.get("state")) == "Stable" else 0


def test_failover(settings, kafka_codec, tmp_path):
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    first = WorkerProcess(settings, tmp_path / "w1", tmp_path / "w1.log")
    second = WorkerProcess(settings, tmp_path / "w2", tmp_path / "w2.log")
    bookings = [f"F{i}" for i in range(60)]
    assert {partition_of(b.encode(), settings.partitions) for b in bookings} == set(range(settings.partitions))
    try:
        wait_until(lambda: _stable_members(admin, settings.app_id) == 2, timeout=180, describe="both in group")
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            metas = [_release_due(producer, kafka_codec, b, AT, AT + timedelta(hours=2)) for b in bookings]
            wait_processed(admin, settings.app_id, _positions(metas), 180)
            owners = {w: {int(m) for m in re.findall(r"partition (\d+): \d+ pending deadline",
                                                     (tmp_path / f"{w}.log").read_text(errors="replace"))}
                      for w in ("w1", "w2")}
            first.kill()
            ticks = [producer.send_encoded(kafka_codec.encode("ClockTicked", {
                "event_id": f"tick-{p}", "occurred_at": AT + timedelta(hours=3), "source": "t", "partition": p}),
                p).get(timeout=30) for p in range(settings.partitions)]
            wait_processed(admin, settings.app_id, _positions(ticks), 240, second)
        releases = [o for o in outputs_on_kafka(settings, kafka_codec)
                    if o["type"] == "CustodyCommand" and o["directive"] == "RELEASE"]
        assert sorted(o["booking_id"] for o in releases) == sorted(bookings)
        taken = {int(m) for m in re.findall(r"partition (\d+): \d+ pending deadline",
                                            (tmp_path / "w2.log").read_text(errors="replace"))}
        assert owners["w1"] and owners["w1"] <= taken, (owners, taken)
        assert committed(admin, settings.app_id)
    finally:
        first.kill()
        second.stop()
        admin.close()

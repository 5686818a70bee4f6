"""The Pierce County export through the whole pipeline: imported into Kafka with its column map, decided by a
worker, imported again without a single output more, and replayed from the topics with no difference."""

import os
import subprocess
import sys
from pathlib import Path

from kafka import KafkaAdminClient

from streams.wire.topics import CASE_INPUTS, CASE_OUTPUTS
from tests.support.kafka import end_offsets
from tests.support.worker import WorkerProcess, outputs_on_kafka, wait_processed

ROOT = Path(__file__).parents[2]
PIERCE = ROOT / "tests" / "data" / "pierce_county_allholds.csv.gz"  # see tests/data/README.md
MAP = ROOT / "deploy" / "imports" / "pierce-county-wa.yaml"


def _cli(settings, *args, timeout=300):
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "DT_TOPIC_PREFIX": settings.topic_prefix,
           "DT_PARTITIONS": str(settings.partitions)}
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _all_taken(settings, admin, worker):
    inputs = _names(settings, CASE_INPUTS)
    positions = {tp: o - 1 for tp, o in end_offsets(settings.bootstrap_servers, inputs).items() if o}
    wait_processed(admin, settings.app_id, positions, 300, worker)


def _names(settings, ids):
    from streams.wire.topics import Topics

    topics = Topics(settings)
    return [topics.name(i) for i in ids]


def test_the_pierce_export_is_imported_decided_and_replayed(settings, kafka_codec, tmp_path):
    first = _cli(settings, "import", str(PIERCE), "--map", str(MAP))
    assert first.returncode == 0, first.stderr
    assert "691 line(s) read, 204 booking(s); sent 822 event(s)" in first.stderr
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    worker = WorkerProcess(settings, tmp_path / "data", tmp_path / "worker.log")
    try:
        _all_taken(settings, admin, worker)
        outputs = outputs_on_kafka(settings, kafka_codec)
        released = {o["booking_id"] for o in outputs if o["type"] == "CustodyCommand"}
        assert len(released) == 204
        again = _cli(settings, "import", str(PIERCE), "--map", str(MAP))
        assert again.returncode == 0, again.stderr
        _all_taken(settings, admin, worker)
        written = sum(end_offsets(settings.bootstrap_servers, _names(settings, CASE_OUTPUTS)).values())
        assert written == len(outputs), "the second import made outputs: its events were not recognised"
    finally:
        worker.stop()
        admin.close()
    replay = _cli(settings, "replay", "--county", "Pierce", "--jurisdiction", "WA", "--summary")
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
    assert "204 booking(s); 0 difference(s)" in replay.stderr

"""`detainer-tracker state BOOKING` against the real broker: a worker decides a booking, and its state is read back
from the cases changelog as JSON an auditor can follow, events decoded; an unknown booking is exit 1."""

import json
import os
import subprocess
import sys

from kafka import KafkaAdminClient

from streams.wire.jsonlines import parse_line
from tests.scenarios.loader import CASES, load
from tests.support.worker import WorkerProcess, last_offsets, wait_processed

SCENARIO = "x16_values_act_a_conviction_the_offense_table_does_not_know_is_no_basis_and_goes_to_human_review"


def _state(settings, booking_id):
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "DT_TOPIC_PREFIX": settings.topic_prefix,
           "DT_PARTITIONS": str(settings.partitions)}
    return subprocess.run([sys.executable, "-m", "streams.cli", "state", booking_id], env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_booking_s_state_is_read_back_from_the_changelog(settings, kafka_codec, tmp_path):
    from streams.tools.produce import EventProducer

    scenario = load(CASES / f"{SCENARIO}.yaml")
    lines = [parse_line(i, t, kafka_codec) for i, t in enumerate(scenario.jsonl().splitlines(), 1)]
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    worker = WorkerProcess(settings, tmp_path / "data", tmp_path / "worker.log")
    try:
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            metas = [producer.send(line.type_name, line.record).get(timeout=30) for line in lines]
        wait_processed(admin, settings.app_id, last_offsets(metas), 180, worker)
    finally:
        worker.stop()
        admin.close()

    result = _state(settings, "X16")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    case = state["case"]
    assert case["booking_id"] == "X16" and case["facts"]["county"] == "Kern"
    assert [c["conviction"]["statute"] for c in case["facts"]["convictions"]] == ["PC 32"]
    assert [d["detainer_id"] for d in case["detainers"]] == ["D1"]
    assert case["left_custody"]["at"].startswith("2019-02-08T14:10")  # released 06:10 Pacific
    assert [e["type"] for e in state["events"]] == [line.type_name for line in
                                                   sorted(lines, key=lambda line: line.record["occurred_at"])]
    assert state["events"][0]["state"] == "CA" and state["events"][0]["schema_version"] == 1
    assert len(state["live"]) >= 9  # the outputs that stand, by id

    missing = _state(settings, "NO-SUCH-BOOKING")
    assert missing.returncode == 1 and "no state of booking 'NO-SUCH-BOOKING'" in missing.stderr

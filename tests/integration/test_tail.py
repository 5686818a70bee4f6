"""`detainer-tracker tail` against the real broker: every topic a worker wrote is read back decoded, a record that
does not decode is shown with its reason and its bytes, and --booking, --count, --from and --follow do what they
say; it never joins a consumer group."""

import json
import os
import subprocess
import sys
import time

from kafka import KafkaAdminClient, KafkaProducer

from streams.tools.produce import EventProducer
from streams.wire.jsonlines import parse_line
from streams.wire.topics import Topics
from tests.scenarios.loader import CASES, load
from tests.support.kafka import end_offsets
from tests.support.worker import WorkerProcess, last_offsets, wait_processed

SCENARIO = "x16_values_act_a_conviction_the_offense_table_does_not_know_is_no_basis_and_goes_to_human_review"


def _env(settings):
    return {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "DT_TOPIC_PREFIX": settings.topic_prefix, "DT_PARTITIONS": str(settings.partitions)}


def _tail(settings, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "streams.cli", "tail", *args], env=_env(settings),
                          capture_output=True, text=True, timeout=timeout)


def _groups(admin):
    return {g.get("group_id") or g.get("group") if isinstance(g, dict) else g[0] for g in admin.list_groups()}


def _lines(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_tail_reads_every_topic_decoded(settings, kafka_codec, tmp_path):
    scenario = load(CASES / f"{SCENARIO}.yaml")
    lines = [parse_line(i, t, kafka_codec) for i, t in enumerate(scenario.jsonl().splitlines(), 1)]
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    worker = WorkerProcess(settings, tmp_path / "data", tmp_path / "worker.log")
    bookings = kafka_codec.topics.name("bookings")
    try:
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            metas = [producer.send(line.type_name, line.record).get(timeout=30) for line in lines]
        raw = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        metas.append(raw.send(bookings, key=b"X16", value=b"\x00not avro at all").get(timeout=30))
        raw.close()
        wait_processed(admin, settings.app_id, last_offsets(metas), 180, worker)
    finally:
        worker.stop()
    groups_before = _groups(admin)

    # every declared topic, each record decoded or shown as unreadable with its reason
    ids = [t.spec.id for t in Topics(settings)]
    every = _lines(_tail(settings, *ids))
    written = sum(end_offsets(settings.bootstrap_servers, [t.name for t in Topics(settings)]).values())
    assert len(every) == written and written > len(lines)
    unreadable = [r for r in every if "error" in r]
    assert [(r["topic"], r["key"]) for r in unreadable] == [("bookings", "X16")]
    assert unreadable[0]["error"]["reason_code"] == "MISSING_HEADER" and unreadable[0]["value_hex"].startswith("00")
    kinds = {(r["topic"], r["type"]) for r in every if "type" in r}
    assert {("bookings", "BookingRecorded"), ("detainers", "DetainerLodged"), ("decisions", "Decision"),
            ("custody_commands", "CustodyCommand"), ("notices", "TruthActNotice"),
            ("deadletter", "DeadLetter")} <= kinds
    decision = next(r for r in every if r.get("type") == "Decision")
    assert decision["value"]["booking_id"] == "X16" and decision["value"]["rule_id"] and decision["version"] >= 1
    letter = next(r for r in every if r.get("type") == "DeadLetter")
    assert letter["value"]["source_topic"] == bookings and letter["value"]["reason_code"] == "MISSING_HEADER"

    # --booking and --count, --from end, a table
    two = _lines(_tail(settings, "decisions", "--booking", "X16", "--count", "2"))
    assert len(two) == 2 and {r["key"] for r in two} == {"X16"}
    assert _tail(settings, "decisions", "--from", "end").stdout == ""
    table = _tail(settings, "decisions", "--format", "table")
    assert table.returncode == 0 and "NOTIFICATION DENIED" in table.stdout and "decisions/" in table.stdout
    later = _lines(_tail(settings, "bookings", "--from", "2019-02-05T07:00:00-08:00"))
    assert {r["type"] for r in later if "type" in r} == {"CriminalHistoryRecorded", "ReleaseBecameDue", "Released"}

    # --follow sees what is written after it began
    follow = subprocess.Popen([sys.executable, "-m", "streams.cli", "tail", "court", "--from", "end", "--follow",
                               "--count", "1"], env=_env(settings), stdout=subprocess.PIPE, text=True)
    time.sleep(4)
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        producer.send("ChargeDismissed", {"event_id": "tail-late", "occurred_at": lines[-1].record["occurred_at"],
                                          "source": "t", "booking_id": "X16", "statute": "VC 12500"}).get(timeout=30)
    out, _ = follow.communicate(timeout=60)
    assert [json.loads(line)["value"]["event_id"] for line in out.splitlines()] == ["tail-late"]

    assert _groups(admin) == groups_before, "tail joined a consumer group"
    admin.close()
    bad = _tail(settings, "nosuch")
    assert bad.returncode == 2 and "no topic 'nosuch'" in bad.stderr

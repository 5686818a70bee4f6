"""`detainer-tracker simulate` into the real broker: every simulated event arrives on its topic."""

import os
import subprocess
import sys
from collections import Counter
from datetime import datetime

from streams.tools.simulate import SimConfig, Simulator
from streams.wire.codec import Coordinates, Decoded
from tests.support.kafka import read_until


def test_simulated_events_all_arrive_on_their_topics(settings, kafka_codec):
    start = "2019-06-03T00:00:00-07:00"
    config = SimConfig(start=datetime.fromisoformat(start), days=0.25, seed=4, counties=("Fresno", "Kern"))
    expected = Counter(t for _, t, _ in Simulator(config).events())
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "DT_TOPIC_PREFIX": settings.topic_prefix, "DT_PARTITIONS": str(settings.partitions)}
    result = subprocess.run([sys.executable, "-m", "streams.cli", "simulate", "--start", start, "--days", "0.25",
                             "--seed", "4", "--county", "Fresno", "--county", "Kern", "--speed", "0"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "events" in result.stderr  # the progress line
    per_topic = Counter()
    for type_name, n in expected.items():
        per_topic[kafka_codec.topics.for_event(type_name).name] += n
    got = Counter()
    for topic, n in per_topic.items():
        for m in read_until(settings.bootstrap_servers, topic, n):
            decoded = kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key)
            assert isinstance(decoded, Decoded), decoded
            got[decoded.type_name] += 1
    assert got == expected
    assert expected["BookingRecorded"] > 20

"""Bad messages of every kind, interleaved with a simulated backlog on the case topics of a real broker, and the
worker killed with SIGKILL in the middle: the worker never exits by itself, every bad message is one dead letter
(none twice) with its reason and source coordinates, and the valid events give exactly `decide`'s outputs.

DT_TEST_FUZZ bad messages (1,000 by default; `make bench` runs 10,000) among DT_TEST_BACKLOG valid events."""

from __future__ import annotations

import io
import json
import os
import random
from collections import Counter
from dataclasses import dataclass

import fastavro
from kafka.partitioner.default import murmur2

from streams.wire.codec import HEADER_SCHEMA, HEADER_TYPE, HEADER_VERSION, Coordinates, Decoded
from tests.integration.test_backlog_faults import SIZE, Backlog
from tests.support.kafka import read_all

BAD = int(os.environ.get("DT_TEST_FUZZ", "1000"))


@dataclass(frozen=True)
class Bad:
    """One bad message, what it is, and the reason code its dead letter must carry."""

    kind: str
    code: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None = None


class Fuzz:
    """Bad messages made from the valid events around them, seeded."""

    def __init__(self, codec, partitions: int, seed: int = 11) -> None:
        self.codec, self.partitions, self.rng = codec, partitions, random.Random(seed)
        self.kinds = [getattr(self, name) for name in sorted(dir(self)) if name.startswith("bad_")]

    def make(self, type_name: str, record: dict) -> Bad:
        return self.rng.choice(self.kinds)(type_name, record)

    def _encoded(self, type_name, record):
        return self.codec.encode(type_name, record, validate=False)

    def _like(self, message, kind, code, **change) -> Bad:
        fields = {"topic": message.topic, "key": message.key, "value": message.value,
                  "headers": list(message.headers), **change}
        return Bad(kind, code, **fields)

    def bad_random_bytes(self, type_name, record):
        m = self._encoded(type_name, record)
        return self._like(m, "random bytes", "MALFORMED", value=self.rng.randbytes(self.rng.randint(1, 300)))

    def bad_truncated(self, type_name, record):
        m = self._encoded(type_name, record)
        return self._like(m, "truncated Avro", "MALFORMED", value=m.value[: self.rng.randint(0, len(m.value) - 1)])

    def bad_no_type(self, type_name, record):
        m = self._encoded(type_name, record)
        return self._like(m, "no dt-type header", "MISSING_HEADER",
                          headers=[h for h in m.headers if h[0] != HEADER_TYPE])

    def bad_unknown_type(self, type_name, record):
        m = self._encoded(type_name, record)
        return self._like(m, "unknown type", "UNKNOWN_EVENT_TYPE",
                          headers=[(HEADER_TYPE, b"BookingDeleted"), (HEADER_VERSION, b"1")])

    def bad_version(self, type_name, record):
        m = self._encoded(type_name, record)
        headers = [(HEADER_TYPE, type_name.encode()), (HEADER_VERSION, self.rng.choice([b"42", b"0", b"x"]))]
        return self._like(m, "wrong schema version", "UNKNOWN_SCHEMA_VERSION", headers=headers)

    def bad_mislabelled(self, type_name, record):
        m = self._encoded(type_name, record)
        topic = self.codec.topics.by_name(m.topic).spec
        others = [t for t in topic.event_types if t != type_name]
        if not others:
            return self.bad_random_bytes(type_name, record)
        other = self.codec.registry.latest(self.rng.choice(others))
        headers = [(HEADER_TYPE, other.type_name.encode()), (HEADER_VERSION, str(other.version).encode()),
                   *[h for h in m.headers if h[0] == HEADER_SCHEMA]]
        return self._like(m, "payload under another type", "TYPE_MISMATCH", headers=headers)

    def bad_key(self, type_name, record):
        m = self._encoded(type_name, record)
        if self.rng.random() < 0.5:
            return self._like(m, "no key", "KEY_MISMATCH", key=None, partition=self.rng.randrange(self.partitions))
        home = (murmur2(m.key) & 0x7FFFFFFF) % self.partitions
        return self._like(m, "key on another partition", "KEY_MISMATCH", partition=(home + 1) % self.partitions)

    def bad_huge(self, type_name, record):
        m = self._encoded(type_name, record)
        return self._like(m, "near the broker's size limit", "TOO_LARGE",
                          value=m.value + b"\x00" * self.rng.randint(200_000, 1_000_000 - len(m.value)))

    def bad_year(self, type_name, record):
        year = self.rng.choice([1, 9999])
        field = "occurred_at" if year == 1 or type_name != "ReleaseBecameDue" else "release_at"
        changed = {**record, field: record["occurred_at"].replace(year=year)}
        code = "OUT_OF_RANGE" if year == 1 or field == "release_at" else "FUTURE_EVENT"
        return self._like(self._encoded(type_name, changed), f"{field} in year {year}", code)

    def bad_empty(self, type_name, record):
        return self._like(self._encoded(type_name, {**record, "event_id": ""}), "empty event_id", "MISSING_FIELD")

    def bad_enum(self, type_name, record):
        """A writer with one more symbol in an enum than ours knows, the new symbol written."""
        schema = self.codec.registry.latest(type_name)
        raw = json.loads(json.dumps(schema.raw))
        for field in raw["fields"]:
            if isinstance(field["type"], dict) and field["type"].get("type") == "enum":
                field["type"]["symbols"].append("FROM_THE_FUTURE")
                changed = {**record, field["name"]: "FROM_THE_FUTURE"}
                buf = io.BytesIO()
                fastavro.schemaless_writer(buf, fastavro.parse_schema(raw), changed)
                m = self._encoded(type_name, record)
                return self._like(m, "unknown enum symbol", "MALFORMED", value=buf.getvalue(),
                                  headers=[h for h in m.headers if h[0] != HEADER_SCHEMA])
        return self.bad_truncated(type_name, record)


def test_bad_messages_among_a_backlog_with_a_kill_are_each_one_dead_letter_and_change_nothing(settings, kafka_codec,
                                                                                               tmp_path):
    fuzz = Fuzz(kafka_codec, settings.partitions)
    sent: dict[tuple[str, int, int], Bad] = {}
    every = max(1, SIZE // BAD)
    pending = []

    def between(producer, i, type_name, record):
        if i % every or len(pending) >= BAD:
            return
        bad = fuzz.make(type_name, record)
        future = producer._producer.send(bad.topic, key=bad.key, value=bad.value, headers=bad.headers,
                                         partition=bad.partition)
        pending.append((bad, future))

    backlog = Backlog(settings, kafka_codec, tmp_path, between=between)
    for bad, future in pending:
        meta = future.get(timeout=60)
        sent[(meta.topic, meta.partition, meta.offset)] = bad
    worker = backlog.worker()
    backlog.wait_done(0.5, worker)
    worker.kill()  # SIGKILL in the middle
    worker = backlog.worker()
    outputs = backlog.finish(worker)
    assert backlog.runs == 2

    letters = []
    for m in read_all(settings.bootstrap_servers, kafka_codec.topics.name("deadletter")):
        decoded = kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key)
        assert isinstance(decoded, Decoded), decoded
        letters.append(decoded.record)
    at = Counter((r["source_topic"], r["source_partition"], r["source_offset"]) for r in letters)
    twice = [c for c, n in at.items() if n > 1]
    kinds = Counter(b.kind for b in sent.values())
    wrong = [(sent[c].kind, sent[c].code, r["reason_code"], r["reason"][:120]) for r in letters
             if (c := (r["source_topic"], r["source_partition"], r["source_offset"])) in sent
             and r["reason_code"] != sent[c].code]
    print(f"fuzz: {len(sent)} bad messages of {len(kinds)} kinds ({dict(kinds)}), {len(letters)} dead letters, "
          f"{len(twice)} written twice, {len(wrong)} with another reason; {len(backlog.events)} valid events")
    assert len(sent) >= min(BAD, len(backlog.events) // every) and len(kinds) >= 10
    assert not twice, f"{len(twice)} dead letters written twice, e.g. {twice[:3]}"
    assert set(at) == set(sent), (f"{len(set(sent) - set(at))} bad messages without a dead letter, e.g. "
                                  f"{[sent[c].kind for c in list(set(sent) - set(at))[:5]]}; "
                                  f"{len(set(at) - set(sent))} dead letters of valid events")
    assert not wrong, wrong[:5]
    for r in letters:
        assert r["value_size"] is None or r["value_size"] >= len(r["value"] or b"")
        assert r["reason"]
    backlog.check(outputs)

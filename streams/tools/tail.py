"""`detainer-tracker tail`: read any of our topics decoded, as kcat reads them raw.

Every topic holds Avro without a schema registry, so `kcat -C` shows bytes. `tail` assigns the partitions itself
(it never joins a consumer group and commits nothing), reads `read_committed`, decodes each record with the
project's schemas (whatever version it was written in) and prints one JSON object per line, or a table:

    {"topic": "decisions", "partition": 0, "offset": 12, "ts": "2019-05-06T19:00:00+00:00", "key": "B-1",
     "type": "Decision", "version": 2, "value": {...}}

A record that does not decode is printed with `"error"` (its reason code and reason) and the first bytes of its
value in hex, and reading goes on. Without `--follow` it stops at the end offsets it found when it began.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.config import Settings
from streams.errors import ConfigError, KafkaUnavailable
from streams.replay.analysis import describe
from streams.replay.selection import parse_bound
from streams.wire.codec import Codec, Coordinates, DeadLetter
from streams.wire.reach import check
from streams.wire.schemas import to_json
from streams.wire.topics import partition_of

#: how many bytes of a value that does not decode are shown
RAW_SHOWN = 64


def add_parser(sub: Any, handler: Any) -> None:
    """`tail TOPIC... [--from WHERE] [--booking ID] [--partition N] [--count N] [--follow] [--format]`."""
    p = sub.add_parser(
        "tail", help="read topics decoded (JSON lines or a table), like kcat -C -J; never joins a group",
        description="Print the records of one or more of the project's topics decoded with its schemas: one JSON "
                    "object per line (topic, partition, offset, ts, key, type, version, value), or a table. A "
                    "record that does not decode is shown with its reason and its first bytes. Reads "
                    "read_committed, assigns partitions itself and commits nothing. Without --follow it stops at "
                    "the end it found when it began.")
    p.add_argument("topics", nargs="+", metavar="TOPIC",
                   help="a topic id (bookings, detainers, decisions, deadletter, ...; see `topics list --declared`) "
                        "or its full name")
    p.add_argument("--from", dest="start", default="beginning",
                   help="where to start on every partition: beginning (default), end, an offset, or an ISO date "
                        "or instant (by record time)")
    p.add_argument("--booking", action="append", default=[], help="only records with this key (repeatable)")
    p.add_argument("--partition", type=int, action="append", default=[], help="only this partition (repeatable)")
    p.add_argument("--count", type=int, help="stop after this many records")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading new records until interrupted")
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl", help="output format (default jsonl)")
    p.add_argument("--zone", default="America/Los_Angeles",
                   help="time zone of the table's times and of a --from date without offset (default "
                        "America/Los_Angeles)")
    p.set_defaults(handler=handler)


def run(args: argparse.Namespace, settings: Settings, codec: Codec) -> int:
    """Read and print; exit 0 (or 130 on Ctrl-C, which ends a --follow)."""
    try:
        zone = ZoneInfo(args.zone)
    except (KeyError, ValueError):
        raise ConfigError(f"--zone {args.zone!r} is not a time zone (e.g. America/Los_Angeles)") from None
    if args.count is not None and args.count < 1:
        raise ConfigError("--count must be at least 1")
    names = [_name(codec, t) for t in args.topics]
    check(settings.kafka_client_config())
    try:
        consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                                 client_id="detainer-tracker-tail", **settings.kafka_client_config())
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        records = read(consumer, names, args, zone)
        shown = 0
        for record in records:
            _print(sys.stdout, record, codec, args.format, zone)
            shown += 1
            if args.count is not None and shown >= args.count:
                break
    except KafkaError as exc:
        raise KafkaUnavailable(f"reading from Kafka at {settings.bootstrap_servers} failed: {exc}") from exc
    finally:
        consumer.close()
    return 0


def _name(codec: Codec, topic: str) -> str:
    ids = {t.spec.id: t.name for t in codec.topics}
    if topic in ids:
        return ids[topic]
    if topic in ids.values():
        return topic
    raise ConfigError(f"no topic {topic!r}: one of {', '.join(ids)} (or its full name)")


def read(consumer: KafkaConsumer, names: list[str], args: argparse.Namespace, zone: ZoneInfo) -> Iterator[Any]:
    """The raw records of the topics' chosen partitions, from `--from`, to the end (or on, with --follow)."""
    keys = {b.encode() for b in args.booking}
    tps = []
    for name in names:
        partitions = sorted(consumer.partitions_for_topic(name) or ())
        if not partitions:
            raise ConfigError(f"topic {name} does not exist on the broker (detainer-tracker topics create)")
        chosen = set(args.partition) if args.partition else set(partitions)
        if keys:  # a keyed record lives on its key's partition
            chosen &= {partition_of(k, len(partitions)) for k in keys}
        tps.extend(TopicPartition(name, p) for p in partitions if p in chosen)
    consumer.assign(tps)
    ends = consumer.end_offsets(tps)
    _seek(consumer, tps, args.start, zone, ends)
    while True:
        if not args.follow and all(consumer.position(tp) >= ends[tp] for tp in tps):
            return
        batch = consumer.poll(timeout_ms=500)
        for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
            for r in batch[tp]:
                if not args.follow and r.offset >= ends[tp]:
                    continue
                if keys and r.key not in keys:
                    continue
                yield r
        if not batch and args.follow:
            time.sleep(0.05)


def _seek(consumer: KafkaConsumer, tps: list[TopicPartition], start: str, zone: ZoneInfo,
          ends: dict[TopicPartition, int]) -> None:
    if start == "beginning":
        consumer.seek_to_beginning(*tps)
    elif start == "end":
        for tp in tps:
            consumer.seek(tp, ends[tp])
    elif start.isdigit():
        for tp in tps:
            consumer.seek(tp, min(int(start), ends[tp]))
    else:
        at = parse_bound(start, zone)
        found = consumer.offsets_for_times({tp: int(at.timestamp() * 1000) for tp in tps})
        for tp in tps:
            consumer.seek(tp, found[tp].offset if found.get(tp) is not None else ends[tp])


def _print(out: TextIO, r: Any, codec: Codec, fmt: str, zone: ZoneInfo) -> None:
    decoded = codec.decode(r.value, r.headers, Coordinates(r.topic, r.partition, r.offset, r.timestamp), r.key)
    ts = datetime.fromtimestamp(r.timestamp / 1000, UTC) if r.timestamp is not None and r.timestamp >= 0 else None
    key = r.key.decode(errors="replace") if r.key is not None else None
    topic = next((t.spec.id for t in codec.topics if t.name == r.topic), r.topic)
    if fmt == "table":
        when = ts.astimezone(zone).isoformat(sep=" ", timespec="seconds") if ts else "-"
        what = (f"UNREADABLE {decoded.reason_code}: {decoded.reason}" if isinstance(decoded, DeadLetter)
                else describe(decoded.type_name, decoded.record, zone))
        out.write(f"{when}  {topic}/{r.partition}@{r.offset}  {key or '-'}  {what}\n")
        return
    line: dict[str, Any] = {"topic": topic, "partition": r.partition, "offset": r.offset,
                            "ts": ts.isoformat() if ts else None, "key": key}
    if isinstance(decoded, DeadLetter):
        line["error"] = {"reason_code": decoded.reason_code, "reason": decoded.reason}
        line["value_hex"] = r.value[:RAW_SHOWN].hex() if r.value is not None else None
    else:
        line.update(type=decoded.type_name, version=decoded.version,
                    value=to_json(codec.registry.latest(decoded.type_name), decoded.record))
    out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    out.flush()

"""The agency registry: a compacted topic of agency entries (latest per agency), kept from a file.

`detainer-tracker agencies load FILE` reads a YAML file of agencies, compares each with the registry as the
topic holds it, and produces only what is new or changed (so loading the same file twice writes nothing).
Entries are never deleted: an agency that loses access gets `revoked_at`, so old queries still replay
against the agreement that stood when they were made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, TopicPartition

from streams.core import events as ev
from streams.errors import ConfigError, EventValidationError
from streams.wire.codec import Codec, Coordinates, DeadLetter
from streams.wire.reach import check
from streams.wire.schemas import from_json

TYPE = "AgencyAgreementRecorded"
#: What an entry says about an agency (event_id, occurred_at and source only say when and who wrote it).
MEANING = ("agency_id", "name", "kind", "clets_access", "agreement_signed_at", "revoked_at")


def read_file(path: Path, codec: Codec, source: str, now: datetime) -> list[dict[str, Any]]:
    """Agency entries of a YAML file (`agencies:` list) as Avro-ready records; errors name the entry."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    items = data.get("agencies") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: needs a non-empty `agencies:` list")
    schema = codec.registry.latest(TYPE)
    records, seen = [], set()
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: agency {i} is not a mapping")
        label = f"{path}: agency {i} ({item.get('agency_id', 'no agency_id')})"
        fields = {k: _json(v) for k, v in item.items() if k != "recorded_at"}
        fields.setdefault("clets_access", True)
        fields.update(source=source, event_id="-", occurred_at=_json(item.get("recorded_at") or now))
        try:
            record = from_json(schema, fields)
            codec.validate(TYPE, record)
        except EventValidationError as exc:
            raise ConfigError(f"{label}: {exc}") from exc
        if record["agency_id"] in seen:
            raise ConfigError(f"{label}: agency_id appears twice in the file")
        seen.add(record["agency_id"])
        record["event_id"] = f"agency:{record['agency_id']}:{fingerprint(record)}"
        records.append(record)
    return records


def _json(value: Any) -> Any:
    # YAML parses unquoted timestamps itself; the schema's JSON form wants ISO strings
    return value.isoformat() if isinstance(value, datetime) else value


def fingerprint(record: dict[str, Any]) -> str:
    """A short digest of what an entry says (instants by the instant)."""
    def plain(v: Any) -> str:
        return v.astimezone(UTC).isoformat() if isinstance(v, datetime) else repr(v)
    return hashlib.sha256("\x1f".join(plain(record.get(k)) for k in MEANING).encode()).hexdigest()[:16]


def read_registry(client_config: dict[str, Any], codec: Codec, topic: str) -> dict[str, dict[str, Any]]:
    """The registry as the topic holds it now: the latest readable entry of each agency, read to the end offsets."""
    check(client_config)
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None, auto_offset_reset="earliest",
                             client_id="detainer-tracker-agencies", **client_config)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            raise ConfigError(f"topic {topic} does not exist (run `detainer-tracker topics create`)")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        registry: dict[str, dict[str, Any]] = {}
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=1000).values():
                for r in records:
                    decoded = codec.decode(r.value, list(r.headers or []),
                                           Coordinates(r.topic, r.partition, r.offset, r.timestamp), r.key)
                    if not isinstance(decoded, DeadLetter):
                        registry[decoded.record["agency_id"]] = decoded.record
        return registry
    finally:
        consumer.close()


@dataclass(frozen=True)
class LoadPlan:
    """What loading a file changes in the registry."""

    added: tuple[dict[str, Any], ...]
    changed: tuple[dict[str, Any], ...]
    unchanged: tuple[str, ...]
    only_in_registry: tuple[str, ...]

    @property
    def to_send(self) -> tuple[dict[str, Any], ...]:
        """The entries to produce."""
        return self.added + self.changed


def plan(entries: Iterable[dict[str, Any]], registry: dict[str, dict[str, Any]]) -> LoadPlan:
    """Compare file entries with the registry by what they say."""
    added, changed, unchanged = [], [], []
    entries = list(entries)
    for entry in entries:
        have = registry.get(entry["agency_id"])
        if have is None:
            added.append(entry)
        elif fingerprint(have) != fingerprint(entry):
            changed.append(entry)
        else:
            unchanged.append(entry["agency_id"])
    in_file = {e["agency_id"] for e in entries}
    return LoadPlan(tuple(added), tuple(changed), tuple(unchanged),
                    tuple(sorted(set(registry) - in_file)))


def as_event(record: dict[str, Any]) -> ev.AgencyAgreementRecorded:
    """The registry entry as the gate reads it."""
    return ev.from_record(TYPE, record)  # type: ignore[return-value]

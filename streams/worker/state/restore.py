"""Restoring a table's partitions from its changelog in whole fetched batches, before Faust's own recovery.

Faust's recovery hands each changelog record through its consumer, a queue and per-record bookkeeping: about
10,000 records a second here, so a worker with a wiped data dir needs minutes for a million open cases before it
answers again. `restore_changelog` reads the partitions a worker has just been given as an active owner with a
plain aiokafka consumer, writes each fetched batch to the partition's store at once, and records the last offset
it wrote, the way Faust does. Faust's recovery then starts from that offset and finds only what came after.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Record counts between progress lines in the log
PROGRESS_EVERY = 200_000

#: (partition, [(key, value or None for a deletion)], offset of the last record) -> write them, remember the offset
WriteBatch = Callable[[int, list[tuple[bytes, bytes | None]], int], None]


async def restore_changelog(client_config: Mapping[str, Any], topic: str, starts: Mapping[int, int],
                            write: WriteBatch, still_wanted: Callable[[], bool] = lambda: True,
                            isolation_level: str = "read_committed") -> dict[int, int]:
    """Read `topic`'s partitions from `starts` (partition -> first offset to read) to their current end.

    Every fetched batch goes to `write` whole. Reading stops early when `still_wanted()` turns false (a new
    rebalance): what was written is correct as far as it goes, and the offset it stops at is recorded with it.
    Returns how many records were read per partition.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    counts = dict.fromkeys(starts, 0)
    if not starts:
        return counts
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level=isolation_level, client_id="detainer-tracker-restore",
                                max_partition_fetch_bytes=4 * 1024 * 1024, **client_config)
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): p for p in starts}
        consumer.assign(list(tps))
        ends = await consumer.end_offsets(list(tps))
        firsts = await consumer.beginning_offsets(list(tps))
        pending = {}
        for tp, partition in tps.items():
            start = max(starts[partition], firsts[tp])
            if start < ends[tp]:
                consumer.seek(tp, start)
                pending[tp] = ends[tp]
        began, total, shown = time.monotonic(), 0, 0
        while pending and still_wanted():
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=20_000)
            for tp, records in batches.items():
                write(tps[tp], [(r.key, r.value) for r in records], records[-1].offset)
                counts[tps[tp]] += len(records)
                total += len(records)
            for tp in list(pending):
                if await consumer.position(tp) >= pending[tp]:
                    del pending[tp]
            if total - shown >= PROGRESS_EVERY:
                shown = total
                log.info("restoring %s: %d records read in %.1f s", topic, total, time.monotonic() - began)
        if total:
            log.info("restored %s: %d records in %.1f s (%s)", topic, total, time.monotonic() - began,
                     ", ".join(f"partition {p}: {n}" for p, n in sorted(counts.items())))
    finally:
        await consumer.stop()
    return counts


def rocksdb_writer(store: Any, topic: str) -> WriteBatch:
    """Write batches to Faust's rocksdict store of a table, one RocksDB write per batch, as Faust's recovery does."""
    import rocksdict
    from faust.types import TP

    from streams.worker.faust_compat import partition_db

    def write(partition: int, records: list[tuple[bytes, bytes | None]], last_offset: int) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in records:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        partition_db(store, partition).write(batch)
        store.set_persisted_offset(TP(topic, partition), last_offset)

    return write


def first_offsets(store: Any, topic: str, partitions: list[int]) -> dict[int, int]:
    """Where reading each partition's changelog begins: just after what the store says it holds."""
    from faust.types import TP

    out = {}
    for p in partitions:
        persisted = store.persisted_offset(TP(topic, p))
        out[p] = 0 if persisted is None else persisted + 1
    return out


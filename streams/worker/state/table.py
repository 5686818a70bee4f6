"""The cases table: raw bytes in RocksDB and its changelog, restored fast; each partition's queue rebuilt from it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from streams.config import Settings
from streams.wire.topics import partition_of
from streams.worker.faust_compat import partition_items
from streams.worker.state.restore import first_offsets, restore_changelog, rocksdb_writer
from streams.worker.step import CaseWork

log = logging.getLogger(__name__)


class BytesTable(faust.Table):
    """A table whose keys and values are bytes we encode ourselves (booking ids; `CaseState` records).

    Faust derives a table's serializers from its key and value types and falls back to json, which cannot carry
    our values; here both are raw, for the store and the changelog alike.
    """

    #: set by create_app for a RocksDB store: restores newly assigned active partitions before Faust's recovery
    restore: Callable[[set, int], Awaitable[None]] | None = None
    #: when the last rebalance reached the table, where its recovery begins (monotonic clock)
    rebalance_began: float | None = None

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"

    async def on_rebalance(self, assigned: set, revoked: set, newly_assigned: set, generation_id: int = 0) -> None:
        """Faust's rebalance (the store opens the partitions), then the fast restore of what the store lacks."""
        self.rebalance_began = time.monotonic()
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        if self.restore is not None:
            await self.restore(newly_assigned, generation_id)


def changelog_restorer(app: faust.App, table: BytesTable, settings: Settings) -> Any:
    """Restore the newly assigned active partitions of the cases table from its changelog (`state.restore`)."""
    changelog = table.changelog_topic.get_topic_name()

    async def restore(newly_assigned: set, generation_id: int) -> None:
        standbys = app.assignor.assigned_standbys()
        partitions = sorted(tp.partition for tp in newly_assigned if tp.topic == changelog and tp not in standbys)
        if partitions:
            await restore_changelog(settings.aiokafka_client_config(), changelog,
                                    first_offsets(table.data, changelog, partitions),
                                    rocksdb_writer(table.data, changelog),
                                    still_wanted=lambda: app.consumer_generation_id == generation_id)

    return restore


def ensure_loaded(work: CaseWork, table: Any, partition: int, partitions: int) -> None:
    """After a partition is assigned (and its table restored), rebuild its engine's queue from the table."""
    if work.has_partition(partition):
        return
    pending = work.load_partition(partition, partition_items_of(table, partition, partitions))
    log.info("partition %d: %d pending deadline(s) loaded from the cases table", partition, pending)


def partition_items_of(table: Any, partition: int, partitions: int) -> Any:
    """The cases of one partition: its own RocksDB (Faust keeps one per partition), else a filtered scan."""
    own = partition_items(table.data, partition)
    if own is not None:
        return ((k, v) for k, v in own if v is not None)
    return ((k, v) for k, v in table.items() if v is not None and partition_of(k, partitions) == partition)

"""Every place the project reaches into Faust's or aiokafka's private names, and only here.

Checked with faust-streaming 0.15.3 and aiokafka 0.14.0 (pyproject.toml pins faust-streaming <0.16 and aiokafka
<0.15). When either is upgraded, this module is what to read again; a test keeps every other module off their
private names. Each entry says what it relies on and why the public API does not serve:

- `aiokafka_consumer(app)`: the aiokafka consumer inside Faust's consumer thread (`Consumer._thread`,
  `ConsumerThread._ensure_consumer`), for the scheduler's view of fetch positions;
- `fetch_state(consumer, tp)`: aiokafka's per-partition fetch state (`_subscription...state_value`): position
  and high watermark without a request to the broker; `assigned_fetch_state(app, tp)` and
  `fetch_position(app, tp)` the same through the app, for the scheduler and the stall watchdog;
- `committed_offsets(consumer)`: the offsets Faust's consumer last committed (`Consumer._committed_offset`),
  which the stall watchdog starts from without asking the broker;
- `BriefFetchWaitThread`: Faust's consumer thread building its aiokafka consumer (`_create_worker_consumer`),
  whose fetch wait (`_fetch_max_wait_ms`) Faust does not expose;
- `partition_db(store, partition)`: the RocksDB database of one partition of a Faust rocksdict table
  (`Store._db_for_partition`), written a whole batch at a time by the changelog restore;
- `partition_items(store, partition)`: the visible items of one partition's database (`Store._dbs`,
  `Store._visible_items`), read without scanning every partition;
- `CaseAssignor`: Faust's assignor with its assignment (`_perform_assignment`) asked for no more standbys than
  the group can hold;
- `flush_before_commit`, `drain_before_flush`: Faust's producer methods wrapped, so a transaction holds what is
  still in Faust's buffer and a flush waits for the states behind outputs;
- `IdempotentProducer`: Faust's aiokafka producer with the settings it builds its client from
  (`Producer._settings_extra`) asking for idempotence whatever the processing guarantee; Faust asks for it only
  under exactly-once and has no setting for it.
"""

from __future__ import annotations

from typing import Any

from faust.assignor import PartitionAssignor
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer

#: the longest the broker holds a fetch that finds nothing new (Faust asks aiokafka for 1,500 ms)
FETCH_MAX_WAIT_MS = 50


def aiokafka_consumer(app: Any) -> Any:
    """The aiokafka consumer of the app's consumer thread (made when the thread starts)."""
    return app.consumer._thread._ensure_consumer()


def fetch_state(consumer: Any, tp: Any) -> Any:
    """Aiokafka's fetch state of an assigned topic-partition (position, highwater, has_valid_position), or None."""
    return consumer._subscription.subscription.assignment.state_value(tp)


def assigned_fetch_state(app: Any, tp: Any) -> Any:
    """The fetch state of a topic-partition the app's consumer has assigned, or None (not assigned, not started)."""
    try:
        return fetch_state(aiokafka_consumer(app), tp)
    except Exception:  # noqa: BLE001 - not assigned (any more), or the consumer not started
        return None


def fetch_position(app: Any, tp: Any) -> int | None:
    """The app's consumer's fetch position of an assigned topic-partition, or None when it has none (yet)."""
    state = assigned_fetch_state(app, tp)
    if state is None or not state.has_valid_position:
        return None
    return state.position


def committed_offsets(consumer: Any) -> dict[Any, int]:
    """The offsets Faust's consumer last committed, by topic-partition (its own record of them)."""
    return dict(getattr(consumer, "_committed_offset", {}))


def partition_db(store: Any, partition: int) -> Any:
    """The RocksDB database holding one partition of a Faust rocksdict table."""
    return store._db_for_partition(partition)


def partition_items(store: Any, partition: int) -> Any:
    """The (key, value) items of one partition's own database of a rocksdict store, or None when it has none."""
    db = getattr(store, "_dbs", {}).get(partition)
    if db is None or not hasattr(store, "_visible_items"):
        return None
    return store._visible_items(db)


def fetch_max_wait_ms(consumer: Any) -> int:
    """The fetch wait an aiokafka consumer was built with."""
    return consumer._fetch_max_wait_ms


class BriefFetchWaitThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer lets the broker hold a fetch FETCH_MAX_WAIT_MS at most.

    aiokafka fetches a partition again only once its last fetch has been handed over; after 100 ms it fetches
    the broker's other partitions without it, and sends nothing more until that fetch comes back. A fetch of idle
    partitions comes back when one of them gets a record (a tick, once a second) or after the fetch's maximum wait.
    With Faust's 1,500 ms, every batch that took the worker more than 100 ms to take in held the next one for a
    second or more, so the next batch was larger still: at 1,000 events/s a worker with cores to spare could
    stay seconds behind. A short wait bounds that hold-up at 50 ms, for twenty idle fetches a second: measured on
    an idle worker, 3.5% of a core instead of 1.8%, and 8.8% of the broker's instead of 5.1%.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts and builds its fetcher
        return consumer


class IdempotentProducer(AIOKafkaProducer):
    """Faust's producer, idempotent at least once too: a retried send is written once.

    A send whose request reached the broker but whose answer was lost (the broker killed, a connection cut) is
    sent again by the client. Without idempotence the broker appends it a second time, and an output, a dead
    letter or a state stands twice on its topic; the worker's check of the outputs' recent tail cannot see a
    repeat made below it. With idempotence the broker knows the batch by its producer id and sequence and
    keeps one copy. On Kafka 3 and later the producer needs only its topics' WRITE to be idempotent.
    """

    def _settings_extra(self) -> Any:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


def flush_before_commit(producer: Any) -> None:
    """Make every transaction commit include what is still in Faust's producer buffer.

    Table changelog writes and our outputs are queued in Faust's buffer when an event is handled; Faust commits
    a transaction without draining it, so state and outputs could commit apart from the offsets they belong to.
    Draining first puts each event's writes, all queued in one synchronous step, in one transaction.
    The offsets are handed on keyed by aiokafka's own TopicPartition: aiokafka 0.14 refuses Faust's TP tuples
    ("Key should be TopicPartition instance"), which stopped the worker at its first commit.
    """
    if getattr(producer, "_dt_flushes_before_commit", False):
        return
    from aiokafka import TopicPartition

    commit = producer.commit_transactions

    async def commit_transactions(tid_to_offset_map: Any, *args: Any, **kwargs: Any) -> Any:
        await producer.buffer.flush()
        offsets = {tid: {TopicPartition(tp.topic, tp.partition): offset for tp, offset in tps.items()}
                   for tid, tps in tid_to_offset_map.items()}
        return await commit(offsets, *args, **kwargs)

    producer.commit_transactions = commit_transactions
    producer._dt_flushes_before_commit = True


def drain_before_flush(producer: Any, writes: Any) -> None:
    """Make the producer flush that precedes each commit (at least once) wait for the states behind outputs."""
    if getattr(producer, "_dt_drains_before_flush", False):
        return
    flush = producer.flush

    async def flush_after_states(*args: Any, **kwargs: Any) -> Any:
        await writes.drain()
        return await flush(*args, **kwargs)

    producer.flush = flush_after_states
    producer._dt_drains_before_flush = True


class CaseAssignor(PartitionAssignor):
    """Faust's assignor, with the write-only topics in the case topics' group and no worker its own standby.

    Under exactly-once Faust routes each send through the transaction of `group_for_topic(topic)` and the
    partition; for a topic the app does not consume that lookup fails (faust-streaming #177). Our outputs share
    the case topics' partitions, so they belong in the case topics' transactions.
    """

    case_topic: str = ""

    def group_for_topic(self, topic: str) -> int:
        """The copartitioned group of a topic; the case topics' group for topics the app only writes."""
        try:
            return super().group_for_topic(topic)
        except KeyError:
            return super().group_for_topic(self.case_topic)

    def _perform_assignment(self, cluster: Any, member_metadata: Any) -> Any:
        # With fewer workers than copies of each table (active + standbys), Faust's assignor makes a lone
        # survivor both the active and the standby of a partition it takes over; that worker restores the table
        # and then never reads the partition's input. Ask only for the standbys the group can hold.
        replicas = self.replicas
        self.replicas = min(replicas, max(len(member_metadata) - 1, 0))
        try:
            return super()._perform_assignment(cluster, member_metadata)
        finally:
            self.replicas = replicas

"""From outside the event loop, whether the worker is still taking its input.

After a broker outage the worker has been seen alive, answering `/metrics` and owning its partitions, while it
read and committed nothing for many minutes: its consumer stuck, its event loop still turning, its timers (the
stall watchdog among them) waiting on a broker call that never returned. So this guard is a plain thread with a
Kafka client of its own. Every `every` seconds it asks the broker for the end offsets of the partitions the worker
owns and for the group's committed offsets. When some of them have messages past what is committed and the worker
has handled nothing for `patience` seconds (or committed nothing for twice that), the worker exits with status 75
without committing, and resumes where it was when its supervisor starts it again. While the broker cannot be
reached the guard only waits: an outage is not a stall, and the patience runs from when the broker answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

log = logging.getLogger(__name__)
#: how long the worker may hold input it has not handled before it is stopped
PATIENCE_SECONDS = 60.0
#: the same while a partition's cases are being restored from the changelog (a million cases take half a minute)
RECOVERY_PATIENCE_SECONDS = 600.0
CHECK_SECONDS = 10.0
class ProgressGuard(threading.Thread):
    """Stops the worker when it has unread input and has handled nothing for a while (see the module)."""

    def __init__(self, client_config: dict[str, Any], group: str, on_stuck: Callable[[str], None],
                 recovering: Callable[[], bool] = lambda: False, patience: float = PATIENCE_SECONDS,
                 every: float = CHECK_SECONDS, observe: Callable[[float, int], None] | None = None) -> None:
        """Bind the client settings, the consumer group, what to do when stuck and how long to wait.

        `observe(seconds_since_progress, unhandled)` is told what each check found (for the metrics).
        """
        super().__init__(name="progress-guard", daemon=True)
        self.client_config, self.group, self.on_stuck = client_config, group, on_stuck
        self.recovering, self.patience, self.every, self.observe = recovering, patience, every, observe
        self._last = time.monotonic()
        self._committed: tuple[int, float] = (-1, time.monotonic())  # the committed sum, and since when
        self._owned: frozenset[tuple[str, int]] = frozenset()
        self._stop = threading.Event()
        self._clients: tuple[KafkaConsumer, KafkaAdminClient] | None = None

    def handled(self) -> None:
        """The worker handled a message."""
        self._last = time.monotonic()

    def owns(self, partitions: Iterable[tuple[str, int]]) -> None:
        """The input partitions the worker owns now (a new assignment gives it a fresh start)."""
        self._owned = frozenset(partitions)
        self._last = time.monotonic()

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()

    def unhandled(self, now: float | None = None) -> int | None:
        """Messages past the committed offsets of the partitions owned; None when the broker does not answer."""
        owned = [TopicPartition(t, p) for t, p in self._owned]
        if not owned:
            return 0
        now = time.monotonic() if now is None else now
        try:
            consumer, admin = self._clients or self._connect()
            ends = consumer.end_offsets(owned)
            committed = admin.list_group_offsets(self.group).get(self.group, {})
        except Exception as exc:  # noqa: BLE001 - the broker away: wait for it, with a fresh client next time
            log.info("progress guard: no answer from the broker (%r)", exc)
            self._close()
            return None
        done = {tp: committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0 for tp in owned}
        total = sum(done.values())
        if total != self._committed[0]:
            self._committed = (total, now)
        return sum(max(0, ends.get(tp, 0) - done[tp]) for tp in owned)

    def check(self, now: float) -> str | None:
        """One check: why the worker is stuck, or None."""
        waiting = self.unhandled(now)
        if waiting is None:  # an outage is not a stall: the patience runs from when the broker answers again
            self._last = now
            self._committed = (self._committed[0], now)
            return None
        idle = now - self._last
        if self.observe is not None:
            self.observe(idle, waiting)
        patience = RECOVERY_PATIENCE_SECONDS if self.recovering() else self.patience
        if waiting and idle > patience:
            return (f"{waiting} message(s) of its partitions are past the committed offsets and the worker has "
                    f"handled nothing for {idle:.0f} s")
        uncommitted = now - self._committed[1]
        if waiting and uncommitted > 2 * patience:
            return (f"{waiting} message(s) of its partitions are past the committed offsets and the worker has "
                    f"committed nothing for {uncommitted:.0f} s")
        return None

    def run(self) -> None:
        """Check every `every` seconds until stopped; act once on a stall."""
        while not self._stop.wait(self.every):
            why = self.check(time.monotonic())
            if why is not None:
                self.on_stuck(why)
                return

    def _connect(self) -> tuple[KafkaConsumer, KafkaAdminClient]:
        config = {k: v for k, v in self.client_config.items() if k != "client_id"}
        self._clients = (KafkaConsumer(client_id="dt-progress-guard", request_timeout_ms=10_000, **config),
                         KafkaAdminClient(client_id="dt-progress-guard", request_timeout_ms=10_000, **config))
        return self._clients

    def _close(self) -> None:
        if self._clients is not None:
            for client in self._clients:
                try:
                    client.close()
                except Exception:  # noqa: BLE001, S110 - closing a client of a broker that is away
                    pass
        self._clients = None

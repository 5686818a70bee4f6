"""The ticker: the wall clock onto every clock partition each interval, and at once when a deadline comes due."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import faust

from streams.config import Settings
from streams.wire.codec import Codec
from streams.worker.runtime import Clock, seconds
from streams.worker.step import CaseWork

#: how often the worker looks for deadlines that have come due on its partitions
DUE_CHECK_SECONDS = 0.1
#: the least time between two ticks a partition is sent at once after a message: on a busy partition the next
#: message completes the instant anyway, and a tick per message would double what the worker reads
NUDGE_SPACING = timedelta(milliseconds=50)


def add_ticker(app: faust.App, settings: Settings, partitions: int, codec: Codec, work: CaseWork,
                clock: Clock) -> Callable[[int], Awaitable[None]]:
    """Clock ticks to every partition each interval, and one more to a partition as soon as its deadline is due.

    Returns `when_due(partition)`, for the case processor to call after each message: a deadline that message left
    due by the wall clock (a release due at the instant of the event that made it due) gets its tick at once,
    instead of at the next look of the due-ticker (up to DUE_CHECK_SECONDS later).
    """

    async def send_tick(p: int, now: datetime, kind: str) -> None:
        record = {"event_id": f"tick:{settings.source}:{p}:{int(now.timestamp() * 1000)}{kind}",
                  "occurred_at": now, "source": settings.source, "partition": p}
        message = codec.encode("ClockTicked", record, validate=False)
        await app.producer.send(message.topic, message.key, message.value, p, seconds(message.timestamp_ms),
                                message.headers)

    @app.timer(settings.tick_interval, name="ticker")
    async def tick() -> None:
        now = clock()
        for p in range(partitions):
            await send_tick(p, now, "")

    ticked: dict[int, datetime] = {}

    async def tick_if_due(p: int, due: datetime | None, now: datetime) -> None:
        # one tick per partition for each deadline the wall clock has passed
        if due is not None and due <= now and (p not in ticked or ticked[p] < due):
            ticked[p] = now
            await send_tick(p, now, ":due")

    @app.timer(DUE_CHECK_SECONDS, name="due-ticker")
    async def tick_when_due() -> None:
        # Between ticks a deadline would wait up to a whole interval: as soon as the wall clock passes the
        # earliest pending deadline of a partition this worker owns, one more tick goes to that partition.
        now = clock()
        for p, due in work.earliest_due().items():
            await tick_if_due(p, due, now)

    async def when_due(p: int) -> None:
        now = clock()
        if p not in ticked or now - ticked[p] >= NUDGE_SPACING:
            await tick_if_due(p, work.earliest_due_on(p), now)

    return when_due

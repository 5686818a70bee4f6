"""What the worker's agents share: the injected wall clock, the exit that commits nothing, Faust's timestamps, lag."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from streams.worker.metrics import Metrics
from streams.worker.state.local import EXIT_INFRASTRUCTURE

log = logging.getLogger(__name__)

#: the worker's wall clock: injected, so that nothing in the worker reads the time but through it
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def stop_uncommitted(why: str) -> None:
    """Exit at once, committing nothing more: the input whose writes failed is read again by the next start.

    A graceful stop would commit the offsets of what was handed to the agent, the failed input's among them, and
    the input would be lost without a trace; the offsets committed so far are all of inputs whose outputs and states
    are in Kafka (`OrderedWrites.drain` runs before every commit), so nothing is lost by not stopping gracefully.
    """
    log.critical("%s; the worker exits without committing (status %d) and resumes from its last commit when "
                 "restarted", why, EXIT_INFRASTRUCTURE)
    logging.shutdown()
    os._exit(EXIT_INFRASTRUCTURE)


def seconds(timestamp_ms: int | None) -> float | None:
    """A record timestamp as Faust takes it: seconds, from our milliseconds."""
    return timestamp_ms / 1000 if timestamp_ms is not None else None


def behind(app: faust.App, msg: Any) -> int | None:
    """Messages after this one on its topic-partition (by the high watermark the fetch saw), or None if not known."""
    try:
        highwater = app.consumer.highwater(msg.tp)
    except (AttributeError, KeyError):
        return None
    return None if highwater is None else max(highwater - msg.offset - 1, 0)


def count_lag(metrics: Metrics, msg: Any, topic_ids: dict[str, str], lag: int | None) -> None:
    """The gauge of messages behind the end of the message's partition (`behind`), when that is known."""
    if lag is not None:
        metrics.lag.labels(topic_ids.get(msg.topic, "unknown"), str(msg.partition)).set(lag)

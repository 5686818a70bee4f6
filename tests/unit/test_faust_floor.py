"""The benchmark's do-nothing Faust agent reads as the worker does, so the ratio between them is the worker's own."""

from __future__ import annotations

import pytest

from benchmarks.faust_floor import create_app
from streams.worker.app import consumer_options
from streams.worker.scheduling import EventTimeScheduler, SteadyFetchConsumer


@pytest.mark.parametrize("merged", [False, True])
def test_the_floor_has_the_workers_consumer_settings(tmp_path, merged):
    app = create_app("127.0.0.1:9", "floor-test", str(tmp_path), ["a", "b"], merged)
    options = consumer_options(0.2)
    assert app.conf.consumer_max_fetch_size == options["consumer_max_fetch_size"] == 64 * 1024
    assert app.conf.broker_commit_interval == 0.2
    assert app.conf.producer_linger == options["producer_linger"]
    assert app.conf.broker_session_timeout == options["broker_session_timeout"]
    assert issubclass(app.conf.ConsumerScheduler, EventTimeScheduler) is merged
    assert issubclass(app.transport.Consumer, SteadyFetchConsumer) is merged

"""The agency registry's reader waits for a broker that does not answer; it never crashes the worker."""

import asyncio
import logging
import socket

from streams.worker import gate


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_broker_that_does_not_answer_is_waited_for(caplog, monkeypatch):
    monkeypatch.setattr(gate, "REREAD_MAX_SECONDS", 0.5)
    config = {"bootstrap_servers": f"127.0.0.1:{_closed_port()}", "request_timeout_ms": 1000,
              "retry_backoff_ms": 50}
    reader = gate.RegistryReader(config, "t.clets.agreements", 1, gate=None, dead_letter=None)

    async def scenario() -> bool:
        task = asyncio.ensure_future(reader.run())
        await asyncio.sleep(4)
        alive = not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return alive

    with caplog.at_level(logging.WARNING, logger="streams.worker.gate"):
        assert asyncio.run(scenario()), "the reader stopped when Kafka did not answer"
    retries = [r for r in caplog.records if "reading it again" in r.getMessage()]
    assert len(retries) >= 2, [r.getMessage() for r in caplog.records]

"""The rate Faust itself allows: an agent that does nothing, over the same topics as the worker.

The worker is a Faust agent; every message it takes passes through Faust's consumer thread, conductor, stream and
acknowledgement and commit machinery before and after our code runs. This agent subscribes to the same case topics
with the worker's consumer settings and does nothing with what it gets, so its rate on the same backlog is the
ceiling of any Faust agent on this machine, measured in the same run as the raw clients and the worker.

Run as `python -m benchmarks.faust_floor [--merged] BOOTSTRAP APP_ID DATA_DIR TOPIC...`; it stops on SIGTERM. With
`--merged` it also reads with the worker's consumer and scheduler, which take the topics in event-time order.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

COMMIT_INTERVAL = 0.2  # as the benchmark's worker (tests.support.worker.WorkerProcess)


class FloorProcess:
    """The do-nothing agent in a subprocess, with a log."""

    def __init__(self, bootstrap: str, app_id: str, data_dir: Path, topics: list[str], log: Path,
                 merged: bool = False) -> None:
        self.log = log
        flags = ["--merged"] if merged else []
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.faust_floor", *flags, bootstrap, app_id,
                                          str(data_dir), *topics], stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def create_app(bootstrap: str, app_id: str, data_dir: str, topics: list[str], merged: bool = False) -> Any:
    """A Faust app with one agent that takes every message of `topics` and does nothing with it.

    It fetches, commits and produces with the worker's own settings (`streams.worker.app.consumer_options`);
    `merged` also gives it the worker's consumer and scheduler (event-time order over the topics; no clock topic).
    """
    import faust

    from streams.worker.app import consumer_options
    from streams.worker.scheduling import merged_for

    scheduler, consumer = merged_for(tuple(topics), f"{app_id}-no-clock") if merged else (None, None)
    app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://", datadir=data_dir,
                    autodiscover=False, web_enabled=False, **consumer_options(COMMIT_INTERVAL),
                    **({"ConsumerScheduler": scheduler} if merged else {}))
    if merged:
        scheduler.app = app
        app.transport.Consumer = consumer
    channel = app.topic(*topics, key_serializer="raw", value_serializer="raw", allow_empty=True)

    @app.agent(channel, name="nothing", concurrency=1)
    async def nothing(stream: Any) -> None:
        async for _ in stream.events():
            pass

    return app


def main(argv: list[str]) -> None:
    """Run the agent until stopped."""
    import faust

    merged = argv[:1] == ["--merged"]
    bootstrap, app_id, data_dir, *topics = argv[1:] if merged else argv
    faust.Worker(create_app(bootstrap, app_id, data_dir, topics, merged), loglevel="warning", quiet=True
                 ).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])

"""Throughput of the pure decision core on a simulated statewide event file, with and without JSON I/O."""

from __future__ import annotations

import io
import json
import statistics
import time
from datetime import UTC, datetime
from itertools import islice

from streams.config import Settings
from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor, decide_file, run
from streams.tools.simulate import SimConfig, Simulator
from streams.wire.codec import Codec
from streams.wire.schemas import SchemaRegistry, to_json
from streams.wire.topics import Topics

START = datetime(2019, 6, 2, 7, tzinfo=UTC)


def simulated(n: int) -> tuple[list[ev.Event], str]:
    """The first n events of a statewide simulation, as dataclasses and as JSON lines."""
    registry = SchemaRegistry(Settings().schemas_dir)
    records = list(islice(Simulator(SimConfig(start=START, seed=7)).events(), n))
    events = [ev.from_record(t, r) for _, t, r in records]
    lines = "".join(json.dumps({"type": t, **to_json(registry.latest(t), r)}) + "\n" for _, t, r in records)
    return events, lines


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def measure(n: int = 100_000, repeats: int = 3) -> dict:
    """Events per second: the core alone (dataclass events in, outputs out) and the whole `decide` command."""
    events, lines = simulated(n)
    book, rows = rulebook.load(), clets.load_rows()
    codec = Codec(SchemaRegistry(Settings().schemas_dir), Topics(Settings()))
    outputs = sum(1 for _ in run(Processor(book, rows), events))

    def core() -> None:
        for _ in run(Processor(book, rows), events):
            pass

    def command() -> None:
        decide_file(io.StringIO(lines), io.StringIO(), codec)

    result = {"events": len(events), "outputs": outputs}
    for name, fn in (("core", core), ("decide_command", command)):
        rates = [len(events) / _timed(fn) for _ in range(repeats)]
        result[name] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}
    return result


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))

"""Putting inputs and recorded decisions on the topics the way a worker would, and running the replay command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from streams.cli import main
from streams.config import Settings
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Emitted, Processor, run
from streams.tools.produce import EventProducer
from streams.wire.codec import Codec
from streams.wire.jsonlines import Line


def produce_lines(settings: Settings, codec: Codec, lines: Iterable[Line]) -> None:
    """Produce input lines (record timestamps are their occurred_at)."""
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        for line in lines:
            producer.send(line.type_name, line.record)


def decided(lines: Iterable[Line], until: Any = None) -> list[Emitted]:
    """What `decide` gives for the lines, under the law of the day."""
    events = [ev.from_record(line.type_name, line.record) for line in lines]
    return list(run(Processor(rulebook.load(), ()), events, until))


def record_outputs(settings: Settings, codec: Codec, outputs: Iterable[Emitted],
                   tamper: Callable[[Emitted], dict | None] = lambda e: e.record) -> None:
    """Write outputs onto the output topics as the worker would (record timestamp: the decided instant).

    `tamper` may return a changed record, or None to leave an output out.
    """
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        for e in outputs:
            record = tamper(e)
            if record is not None:
                producer.send_encoded(codec.encode(e.type_name, record, False, e.record["decided_at"]))


def replay(settings: Settings, out: Path, *args: str) -> tuple[int, str]:
    """Run `detainer-tracker replay ARGS -o OUT --quiet`; return the exit code and what it wrote."""
    code = main(["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
                 "--partitions", str(settings.partitions), "replay", *args, "-o", str(out), "--quiet"])
    return code, out.read_text(encoding="utf-8") if out.exists() else ""


def jsonl(text: str) -> list[dict]:
    """Parse JSON lines."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]

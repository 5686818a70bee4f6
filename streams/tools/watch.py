"""`detainer-tracker watch`: a live summary of what flows, for `make run` and operators at a terminal.

It reads the case inputs and the outputs with a consumer of its own (no group, never disturbing the workers)
and prints, every few seconds, one line: the latest event time (California time), events in, decisions out
(with the holds permitted among the hold decisions), release and transfer directives, holds open, releases due in
the next hour of event time, overdue releases, all violations, CLETS queries denied and dead letters.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from kafka import KafkaConsumer, TopicPartition

from streams.wire.codec import Codec, Coordinates, Decoded
from streams.wire.reach import check
from streams.wire.topics import CASE_INPUTS

#: the zone the summary shows times in (California's, as replay shows them)
ZONE = ZoneInfo("America/Los_Angeles")


@dataclass
class Summary:
    """Running counts and the open holds and pending releases they imply."""

    events_in: int = 0
    decisions: Counter = field(default_factory=Counter)
    directives: Counter = field(default_factory=Counter)
    violations: Counter = field(default_factory=Counter)
    dead_letters: int = 0
    clets: Counter = field(default_factory=Counter)
    holds: set[str] = field(default_factory=set)
    due: dict[str, datetime] = field(default_factory=dict)
    latest: datetime | None = None

    def add(self, decoded: Decoded) -> None:
        """Fold one decoded message into the summary."""
        r, t = decoded.record, decoded.type_name
        if t == "Decision":
            self.decisions[f"{r['kind']} {r['outcome']}"] += 1
        elif t == "CustodyCommand":
            self.directives[r["directive"]] += 1
            if r["directive"] == "HOLD_UNTIL":
                self.holds.add(r["booking_id"])
            else:
                self.holds.discard(r["booking_id"])
        elif t == "Violation":
            self.violations[r["kind"]] += 1
        elif t == "DeadLetter":
            self.dead_letters += 1
        elif t == "CletsDecision":
            self.clets[r["outcome"]] += 1
        else:
            self._input(t, r)

    def _input(self, type_name: str, r: dict[str, Any]) -> None:
        self.events_in += 1
        if self.latest is None or r["occurred_at"] > self.latest:
            self.latest = r["occurred_at"]
        if type_name == "ReleaseBecameDue":
            self.due[r["booking_id"]] = r["release_at"]
        elif type_name in ("Released", "Transferred"):
            self.due.pop(r["booking_id"], None)
            self.holds.discard(r["booking_id"])

    def line(self, zone: tzinfo = ZONE) -> str:
        """One summary line, about 160 characters: the latest event time in `zone`, every count in one format.

        Decisions are counted with the holds among them (permitted / all); `overdue` counts the OVERDUE_RELEASE
        violations, `violations` all of them.
        """
        now = self.latest
        soon = sum(1 for at in self.due.values() if now and now <= at < now + timedelta(hours=1))
        holds = sum(n for k, n in self.decisions.items() if k.startswith("HOLD "))
        when = now.astimezone(zone).isoformat(sep=" ", timespec="minutes") if now else "-"
        return (f"[{when}] in {self.events_in:,} | decisions {sum(self.decisions.values()):,} (holds "
                f"{self.decisions['HOLD PERMITTED']:,}/{holds:,}) | releases {self.directives['RELEASE']:,} "
                f"transfers {self.directives['TRANSFER_TO_IMMIGRATION']:,} | open {len(self.holds):,} | due 1h "
                f"{soon:,} | overdue {self.violations['OVERDUE_RELEASE']:,} | violations "
                f"{sum(self.violations.values()):,} | CLETS denied {self.clets['DENIED']:,} of "
                f"{sum(self.clets.values()):,} | dead {self.dead_letters:,}")


def watch(client_config: dict[str, Any], codec: Codec, every: float, report: Callable[[str], None],
          stop_after: float | None = None) -> Summary:
    """Read inputs and outputs from the beginning, reporting a line every `every` seconds until interrupted."""
    topics = [codec.topics.name(t) for t in (*CASE_INPUTS, "decisions", "custody_commands", "violations",
                                             "clets_decisions", "deadletter")]
    check(client_config)
    consumer = KafkaConsumer(client_id="detainer-tracker-watch", group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed", **client_config)
    summary = Summary()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        began = last = time.monotonic()
        while stop_after is None or time.monotonic() - began < stop_after:
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                for r in records:
                    decoded = codec.decode(r.value, r.headers, Coordinates(tp.topic, tp.partition, r.offset), r.key)
                    if isinstance(decoded, Decoded):
                        summary.add(decoded)
            if time.monotonic() - last >= every:
                report(summary.line())
                last = time.monotonic()
    finally:
        consumer.close()
    return summary

"""The worker's step without Faust or a broker: messages encoded as producers write them, taken one at a time by
`CaseWork` (and the CLETS gate), their outputs decoded back as a consumer reads them."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core import clets
from streams.core.law import rulebook
from streams.replay.analysis import net
from streams.wire.codec import Codec, Coordinates
from streams.worker.gate import GateWork
from streams.worker.step import CaseWork

Out = namedtuple("Out", "type_name record")
#: the worker's wall clock in these tests: later than every event they send
WALL = datetime(2026, 11, 30, tzinfo=UTC)


class Step:
    """One worker's step over one partition, fed encoded messages in the order given."""

    def __init__(self, codec: Codec, settle: timedelta = timedelta(minutes=5), wall: datetime = WALL) -> None:
        self.codec, self.wall = codec, wall
        self.work = CaseWork(rulebook.load(), codec, "test", settle=settle)
        self.gate = GateWork(clets.load_rows(), codec, "test")
        self.store: dict[bytes, bytes] = {}
        self.outputs: list[Out] = []
        self.dead: list[Any] = []
        self._offset = 0

    def send(self, type_name: str, record: dict[str, Any]) -> list[Out]:
        """One input message, as a producer writes it; returns what it gave."""
        message = self.codec.encode(type_name, record)
        where = Coordinates(message.topic, 0, self._offset, message.timestamp_ms)
        self._offset += 1
        if type_name == "AgencyAgreementRecorded":
            self.gate.record_agency(where, message.key, message.value, message.headers, self.wall)
            return []
        if type_name == "CletsQueryMade":
            result, _ = self.gate.handle_query(where, message.key, message.value, message.headers, self.wall)
        else:
            result = self.work.handle(self.store, where, message.key, message.value, message.headers, self.wall)
            self.store.update(result.writes)
        if result.dead_letter is not None:
            self.dead.append(result.dead_letter)
        got = [Out(m.headers[0][1].decode(), self._read(m)) for m in result.messages if result.dead_letter is None]
        self.outputs += got
        return got

    def _read(self, message: Any) -> dict[str, Any]:
        return self.codec.decode(message.value, message.headers, Coordinates(message.topic, 0, 0), message.key).record

    def tick(self, at: datetime) -> list[Out]:
        """A clock tick: instant `at` is complete."""
        return self.send("ClockTicked", {"event_id": f"tick-{at.isoformat()}", "occurred_at": at, "source": "test",
                                         "partition": 0})

    def standing(self) -> list[Out]:
        """The outputs net of corrections."""
        return net(self.outputs)

    def corrections(self) -> list[Out]:
        """The corrections sent."""
        return [o for o in self.outputs if o.type_name == "Correction"]


def comparable(record: dict[str, Any]) -> tuple:
    """An output's fields but decided_at, instants in UTC, in a form that sorts and compares."""
    def plain(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.astimezone(UTC).isoformat()
        if isinstance(v, dict):  # a nested record (a request copy's parts)
            return tuple(sorted((k, plain(x)) for k, x in v.items()))
        return tuple(plain(x) for x in v) if isinstance(v, list) else v
    return tuple(sorted((k, plain(v)) for k, v in record.items() if k != "decided_at"))

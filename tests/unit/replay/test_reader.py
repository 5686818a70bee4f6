"""The replay reader's choice of records, on records as kafka-python gives them (the broker's side is in
tests/integration/test_replay.py): what is kept, what is only counted, and how far stream time had come."""

from datetime import UTC, datetime, timedelta
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord

from streams.replay.capture import Capture
from streams.replay.reader import Reader
from streams.replay.selection import Selection
from tests.support.records import example_record

T = datetime(2019, 2, 5, 18, 0, tzinfo=UTC)


class _Listed(Reader):
    """The reader's two passes over records it is handed by topic id, one batch per topic and partition."""

    def __init__(self, codec: Any, records: dict[str, list[ConsumerRecord]]) -> None:
        super().__init__({}, codec.topics, codec)
        self.records = records

    def _consumer(self) -> Any:
        return _Closable()

    def _partitions(self, consumer: Any, selection: Selection) -> list[int]:
        return [0, 1]

    def _ranges(self, consumer: Any, topic_ids: Any, partitions: list[int], selection: Selection) -> dict:
        return {self.topics.name(t): (0, len(self.records.get(t, ()))) for t in topic_ids}

    def _scan(self, consumer: Any, ranges: dict, visit: Any, capture: Capture) -> None:
        for name in ranges:
            topic_id = self._topic_id(name)
            records = self.records.get(topic_id, [])
            for p in (0, 1):
                batch = [r for r in records if r.partition == p]
                if batch:
                    visit(topic_id, batch)
            capture.records_read[topic_id] += len(records)

    def _last_ticks(self, consumer: Any, partitions: list[int], capture: Capture) -> None:
        pass


class _Closable:
    def close(self) -> None:
        pass


def _record(codec: Any, type_name: str, booking: str, partition: int, at: datetime, **fields: Any) -> ConsumerRecord:
    stamp = "decided_at" if type_name == "Decision" else "occurred_at"
    record = {**example_record(codec.registry.latest(type_name), key=booking), stamp: at, **fields}
    message = codec.encode(type_name, record, at=at)
    offset = _record.offsets.setdefault((message.topic, partition), 0)
    _record.offsets[(message.topic, partition)] += 1
    return ConsumerRecord(message.topic, partition, 0, offset, message.timestamp_ms, 0, message.key, message.value,
                          list(message.headers), None, 0, 0, 0)


_record.offsets = {}


def test_a_county_keeps_its_bookings_whole_even_events_written_before_their_booking_record(codec):
    hour = timedelta(hours=1)
    early = _record(codec, "CriminalHistoryRecorded", "K-1", 0, T + 2 * hour)  # written before its booking
    records = {
        "bookings": [early,
                     _record(codec, "BookingRecorded", "K-1", 0, T, county="Kern"),
                     _record(codec, "BookingRecorded", "F-1", 0, T + 5 * hour, county="Fresno"),
                     _record(codec, "CriminalHistoryRecorded", "F-1", 0, T + 6 * hour),
                     _record(codec, "BookingRecorded", "K-2", 1, T + hour, county="KERN")],
        "decisions": [_record(codec, "Decision", "K-1", 0, T + 9 * hour),
                      _record(codec, "Decision", "F-1", 0, T + 9 * hour)],
    }
    capture = _Listed(codec, records).read(Selection(county="kern"))
    assert sorted(capture.bookings) == ["K-1", "K-2"]
    assert sorted((r.offset, r.type_name) for r in capture.inputs["K-1"]) == [
        (early.offset, "CriminalHistoryRecorded"), (early.offset + 1, "BookingRecorded")]
    assert [r.type_name for r in capture.outputs["K-1"]] == ["Decision"]
    assert "F-1" not in capture.inputs and "F-1" not in capture.outputs
    # decoded: the three booking records and the records of Kern's bookings; the rest only counted
    assert capture.decoded == 3 + 2 and sum(capture.records_read.values()) == 7
    # stream time: the latest input on each partition, whoever's booking it is; outputs do not move it
    assert capture.stream_time == {0: T + 6 * hour, 1: T + hour}


def test_an_unreadable_booking_record_is_kept_as_unreadable_and_selects_nothing(codec):
    good = _record(codec, "BookingRecorded", "K-3", 0, T, county="Kern")
    garbled = good._replace(value=good.value[:7])
    capture = _Listed(codec, {"bookings": [garbled]}).read(Selection(county="Kern"))
    assert not capture.bookings and not capture.inputs
    assert [d.reason_code for d in capture.unreadable] == ["MALFORMED"]
    assert capture.unreadable[0].coordinates.offset == garbled.offset

"""The worker's metrics, fed by the real case step: what they count for known scenarios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from streams.core.law import rulebook
from streams.wire.codec import Coordinates
from streams.wire.jsonlines import parse_line
from streams.worker.metrics import Metrics
from streams.worker.step import CaseWork
from tests.scenarios.loader import CASES, load

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def run(codec, name: str, until: datetime | None = None) -> tuple[Metrics, CaseWork]:
    metrics = Metrics(CollectorRegistry(), ["MALFORMED", "MISSING_HEADER"])
    work, store = CaseWork(rulebook.load(), codec, "t"), {}
    lines = [parse_line(i, t, codec) for i, t in enumerate(load(CASES / f"{name}.yaml").jsonl().splitlines(), 1)]
    messages = [codec.encode(line.type_name, line.record) for line in lines]
    if until is not None:
        messages.append(codec.encode("ClockTicked", {"event_id": "tick", "occurred_at": until, "source": "t",
                                                     "partition": 0}))
    for offset, m in enumerate(messages):
        result = work.handle(store, Coordinates(m.topic, 0, offset), m.key, m.value, m.headers, NOW)
        store.update(result.writes)
        metrics.case_step(result, "bookings", NOW, 0.03)
    metrics.set_gauges(work.gauges())
    return metrics, work


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_an_overdue_release_is_counted_as_a_violation_and_a_late_release(codec):
    metrics, _ = run(codec, "x03_still_in_custody_after_the_release_deadline_is_a_violation")
    assert value(metrics, "dt_violations_total", kind="OVERDUE_RELEASE", county="Sacramento") == 1
    assert value(metrics, "dt_releases_total", timing="late", county="Sacramento") == 1
    assert value(metrics, "dt_custody_directives_total", directive="RELEASE", county="Sacramento") == 1
    # what the deadlines fired: the release decision and directive, then the overdue violation
    assert value(metrics, "dt_deadline_lateness_seconds_count") == 3
    assert value(metrics, "dt_releases_overdue", county="Sacramento") == 0  # released since


def test_a_permitted_hold_and_its_detainer_are_measured(codec):
    name = "s02_trust_serious_felony_prior_mlk_weekend_ice_arrives_during_hold"
    metrics, work = run(codec, name)
    assert value(metrics, "dt_hold_duration_seconds_count", regime="CA_TRUST") == 1
    hours = value(metrics, "dt_hold_duration_seconds_sum", regime="CA_TRUST") / 3600
    assert 48 <= hours <= 5 * 24  # 48 counted hours across a holiday weekend
    detainers = [s for f in metrics.registry.collect() if f.name == "dt_detainers_received" for s in f.samples
                 if s.name.endswith("_total")]
    assert [(s.value, s.labels["form"]) for s in detainers] == [(1.0, "I247_LEGACY")]
    assert value(metrics, "dt_processing_latency_seconds_count") > 0


def test_releases_still_owed_are_overdue_by_stream_time(codec):
    name = "x03_still_in_custody_after_the_release_deadline_is_a_violation"
    lines = [line for line in load(CASES / f"{name}.yaml").jsonl().splitlines() if "ReleaseBecameDue" in line]
    due = parse_line(1, lines[0], codec).record["release_at"]
    metrics = Metrics(CollectorRegistry())
    work, store = CaseWork(rulebook.load(), codec, "t"), {}
    for offset, record in enumerate([parse_line(1, lines[0], codec).record,
                                     {"event_id": "tick", "occurred_at": due + timedelta(minutes=5), "source": "t",
                                      "partition": 0}]):
        m = codec.encode("ReleaseBecameDue" if offset == 0 else "ClockTicked", record)
        result = work.handle(store, Coordinates(m.topic, 0, offset), m.key, m.value, m.headers, NOW)
        store.update(result.writes)
    gauges = work.gauges()
    assert (gauges.open_cases, gauges.releases_overdue, gauges.releases_due_next_hour) == (1, 1, 0)
    metrics.set_gauges(gauges)
    # no booking record was seen: the county is not known, and the series says so
    assert value(metrics, "dt_releases_overdue", county="unknown") == 1


def test_the_case_gauges_are_by_county_and_a_county_with_no_one_left_has_no_series(codec):
    from streams.worker.step import Gauges

    metrics = Metrics(CollectorRegistry())
    metrics.set_gauges(Gauges(3, 1, 0, 1, by_county={"Kern": (2, 1, 0, 1), "Fresno": (1, 0, 0, 0)}))
    assert value(metrics, "dt_open_cases", county="Kern") == 2 and value(metrics, "dt_open_cases", county="Fresno") == 1
    assert value(metrics, "dt_releases_overdue", county="Kern") == 1
    metrics.set_gauges(Gauges(1, 0, 0, 0, by_county={"Fresno": (1, 0, 0, 0)}))
    assert metrics.registry.get_sample_value("dt_open_cases", {"county": "Kern"}) is None
    assert metrics.registry.get_sample_value("dt_releases_overdue", {"county": "Kern"}) is None


def test_a_dead_letter_is_counted_by_reason_and_nothing_else(codec):
    metrics = Metrics(CollectorRegistry(), ["MISSING_HEADER"])
    work = CaseWork(rulebook.load(), codec, "t")
    result = work.handle({}, Coordinates(codec.topics.name("bookings"), 0, 9), b"X", b"\x00", [], NOW)
    metrics.case_step(result, "bookings", NOW, 0.0)
    assert value(metrics, "dt_dead_letters_total", reason="MISSING_HEADER") == 1
    assert value(metrics, "dt_events_consumed_total", topic="bookings", event_type="unknown") == 0


def test_a_review_is_counted_by_its_rule(codec):
    name = "x07_held_on_a_detainer_alone_with_no_release_due_goes_to_human_review"
    metrics, _ = run(codec, name, until=load(CASES / f"{name}.yaml").until)
    assert value(metrics, "dt_reviews_total", rule="review.detainers-alone") == 1
    assert value(metrics, "dt_reviews_total", rule="review.undecidable") == 0

"""BENCHMARKS.md is written from the results alone: every target with its verdict, and why where one is missed."""

from __future__ import annotations

import pytest

from benchmarks.run import report


def _stats(median: float) -> dict:
    return {"median": median, "min": median * 0.9, "max": median * 1.1}


def _latency(rate: int, p99_ms: float, late_p99_s: float, mix: str = "booked and released") -> dict:
    return {"rate": rate, "mix": mix, "events": rate * 20, "runs": 3,
            "latency_ms": {"p50": p99_ms / 3, "p99": p99_ms, "max": p99_ms * 1.2, "n": rate * 18},
            "lateness_s": {"p50": late_p99_s / 3, "p99": late_p99_s, "max": late_p99_s * 1.2, "n": rate * 2},
            "spread": {"latency_ms.p50": (1, 2), "latency_ms.p99": (p99_ms * 0.8, p99_ms * 1.5),
                       "lateness_s.p50": (0.1, 0.2), "lateness_s.p99": (late_p99_s * 0.8, late_p99_s * 1.5)},
            "cores": {"worker": 0.61, "broker": 0.72, "load": 0.43}}


def results(worker_ratio: float, replay_ratio: float, restore_s: float, p99_ms: float) -> dict:
    raw = 80_000.0
    return {
        "machine": {"date": "2026-11-30T00:00:00+00:00", "python": "3.11.7", "cpu": "test cpu", "cores": 2,
                    "detainer_tracker": "0.1.0"},
        "decide": {"events": 100_000, "outputs": 22_000, "core": _stats(70_000), "decide_command": _stats(19_000)},
        "worker": {"events": 1_000_000, "raw_aiokafka_consume_decode": raw, "raw_kafka_python_consume_decode": 42_000,
                   "raw_produce_kafka_python": 18_000, "faust_floor": 11_000, "floor_ratio": 11_000 / raw,
                   "worker_backlog": worker_ratio * raw, "ratio": worker_ratio,
                   "worker_to_floor": worker_ratio * raw / 11_000, "open_cases": 100_000,
                   "profile": {"inclusive": [("_run_code (<frozen runpy>)", 0.7), ("CaseWork.handle (streams/"
                                             "worker/step.py)", 0.286)], "self": []},
                   "restore_and_answer_seconds": 12.0, "intact_restart_and_answer_seconds": 3.0,
                   "rss_loaded_bytes": 175 * 2**20, "rss_idle_bytes": 79 * 2**20, "rss_per_open_case_bytes": 1009,
                   "state_keys": 100_000, "state_bytes_per_case": 516},
        "million": {"open_cases": 1_000_000, "written_seconds": 40.0, "restore_and_answer_seconds": restore_s,
                    "intact_restart_and_answer_seconds": 4.0},
        "latency": {"runs": [_latency(100, 30, 0.1), _latency(1000, p99_ms, p99_ms / 1000),
                             _latency(1000, 20_000, 19.0, "releases of people never booked")],
                    "round_trip": [{"rate": 100, "records": 2000, "latency_ms": {"p50": 7.4, "p99": 61.0}},
                                   {"rate": 1000, "records": 20000, "latency_ms": {"p50": 5.2, "p99": 14.2}}]},
        "replay": {"events": 360_000, "outputs": 116_000, "records_on_partitions": 476_000, "selected_bookings": 30_000,
                   "decoded": 271_000, "raw_read": _stats(60_000), "raw_read_decode": _stats(33_000),
                   "replay_read": _stats(replay_ratio * 60_000), "replay_audit": _stats(20_000),
                   "ratio_read": replay_ratio, "ratio_audit": 0.33, "summary_csv": "section,item,count,note\n"},
    }


def _verdict(text: str, figure: str) -> str:
    row = next(line for line in text.splitlines() if line.startswith(f"| {figure}"))
    return row.rsplit("|", 2)[-2].strip()


def test_missed_targets_are_marked_and_explained_from_the_figures():
    text = report(results(worker_ratio=0.025, replay_ratio=0.55, restore_s=99.6, p99_ms=5_000))
    for figure in ("worker on a backlog", "replay read", "latency p99", "deadline lateness",
                   "recovery of 1M open cases"):
        assert _verdict(text, figure) == "**missed**", figure
    assert _verdict(text, "`decide` core") == "met" and _verdict(text, "state per open case") == "met"
    assert "Why the worker misses 0.5 of the do-nothing agent: it reaches 0.18 of it" in text
    assert "`CaseWork.handle` 29%" in text
    assert "Why the recovery of 1,000,000 open cases misses 60 s" in text and "about 10,040 records/s" in text
    assert "Why 1,000 events/s misses" in text and "used 1.76 of the machine's 2 cores" in text
    assert "Why the replay misses 0.7" in text
    assert "| 1,000 events/s, booked and released | 20,000 | 1,667 / 5,000 / 6,000 ms | 4,000–7,500 ms |" in text
    assert "| 1,000 events/s, releases of people never booked | 20,000 | 6,667 / 20,000 / 24,000 ms |" in text
    assert "takes at 100 records/s p50 7 ms, p99 61 ms; at 1,000 records/s p50 5 ms, p99 14 ms;" in text


def test_a_worker_that_keeps_up_but_misses_100_ms_is_not_said_to_queue():
    text = report(results(worker_ratio=0.03, replay_ratio=0.5, restore_s=90, p99_ms=160))
    assert _verdict(text, "latency p99") == "**missed**" and _verdict(text, "deadline lateness") == "met"
    assert "Why 1,000 events/s misses 100 ms: the worker kept up" in text and "its latency is the" not in text


@pytest.mark.parametrize("why", ["Why the worker", "Why the recovery", "Why 1,000 events/s", "Why the replay"])
def test_a_met_target_needs_no_explanation(why):
    text = report(results(worker_ratio=0.6, replay_ratio=0.8, restore_s=45, p99_ms=80))
    assert why not in text
    assert "**missed**" not in text


@pytest.mark.parametrize(("stalls", "said"), [
    ({"resumed": 0.0, "stopped": 0.0}, "The stall watchdog found no partition left unread during the backlog."),
    ({"resumed": 3.0, "stopped": 1.0}, "found a partition left unread 3 time(s) and resumed it, and stopped the "
                                       "worker 1 time(s)"),
])
def test_the_backlog_says_what_the_stall_watchdog_did(stalls, said):
    figures = results(worker_ratio=0.03, replay_ratio=0.5, restore_s=90, p99_ms=160)
    figures["worker"]["stalls"] = stalls
    assert said in " ".join(report(figures).split())

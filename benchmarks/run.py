"""`make bench`: run every benchmark, write BENCHMARKS.md and benchmarks/results.json."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import decide_bench, replay_bench, worker_bench
from streams import __version__

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """What the figures were measured on."""
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpu": _cpu(), "cores": _cores(), "detainer_tracker": __version__}


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _cores() -> int:
    return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    """Run, then write the results down."""
    print("decide: 100k simulated events, 3 runs ...", flush=True)
    results = {"machine": machine(), "decide": decide_bench.measure()}
    print("worker: 100k simulated events on a backlog, raw aiokafka limit, 100k open cases restored ...", flush=True)
    results["worker"] = worker_bench.measure()
    print("replay: a simulated year of two counties, one county's audit against the raw read, 3 runs ...", flush=True)
    results["replay"] = replay_bench.measure()
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "BENCHMARKS.md").write_text(report(results))
    print((ROOT / "BENCHMARKS.md").read_text())


def _rate(r: dict) -> str:
    return f"{r['median']:,.0f} events/s (min {r['min']:,.0f}, max {r['max']:,.0f})"


def report(results: dict) -> str:
    """BENCHMARKS.md from the results."""
    m, d, w = results["machine"], results["decide"], results["worker"]
    return f"""# Benchmarks

Written by `make bench` ({m['date']}): {m['cpu']}, {m['cores']} cores, Python {m['python']},
detainer-tracker {m['detainer_tracker']}. Decision-core figures are the median of 3 runs, with min and max; the
Kafka figures come from one run. The machines are shared: compare figures measured in the same run, not
across runs.

## The decision core

{d['events']:,} events of a simulated statewide California stream (seed 7, from 2019-06-02), giving
{d['outputs']:,} outputs.

| path | throughput | target |
|---|---|---|
| core only: dataclass events through `cases.apply` / `fire` by stream time | {_rate(d['core'])} | >= 50,000 events/s |
| `detainer-tracker decide`: JSON lines parsed, validated, decided, rendered | {_rate(d['decide_command'])} | - |

## The case processor on Kafka

One run against the local broker (6 partitions): {w['events']:,} simulated statewide events on the four case
topics, read once by a raw aiokafka consumer that decodes every message with our codec (the limit), then
processed as a backlog by one `detainer-tracker worker` (at least once, rocksdict store), timed from its start
until its committed offsets reach the end.

| figure | value |
|---|---|
| raw aiokafka consume + decode | {w['raw_aiokafka_consume_decode']:,.0f} events/s |
| worker on the backlog | {w['worker_backlog']:,.0f} events/s |
| worker / raw | {w['ratio']:.3f} (target >= 0.5) |
| {w['open_cases']:,} open cases: a new worker with a wiped data dir restores them and answers a new event \
| {w['restore_and_answer_seconds']:.1f} s |
{_replay(results["replay"])}"""


def _replay(r: dict) -> str:
    def rate(x: dict) -> str:
        return f"{x['median']:,.0f} records/s (min {x['min']:,.0f}, max {x['max']:,.0f})"

    return f"""
## Replay

A simulated year (2017) of Kern and Fresno counties on 6 partitions: {r['events']:,} input events and the
{r['outputs']:,} outputs `decide` gives for them, written as a worker writes them. Each figure is the median of 3
runs (min, max), all in the same run against the same broker. The limit is a raw kafka-python consumer (the
replay's client) reading every record of the same topics and partitions. The replay (`--county Kern --from
2017-01-01 --to 2018-01-01`) reads {r['records_on_partitions']:,} records and decodes the {r['decoded']:,} of
Kern's {r['selected_bookings']:,} bookings (booking records of both counties included).

| figure | rate | / raw read |
|---|---|---|
| raw read, no decoding (the limit) | {rate(r['raw_read'])} | 1 |
| raw read, decoding every record | {rate(r['raw_read_decode'])} | \
{r['raw_read_decode']['median'] / r['raw_read']['median']:.2f} |
| replay: reading the county's year | {rate(r['replay_read'])} | {r['ratio_read']:.2f} (target >= 0.7) |
| replay: the whole audit (read, re-decide, compare, count) | {rate(r['replay_audit'])} | \
{r['ratio_audit']:.2f} |

The audit's CSV:

```
{r['summary_csv'].strip()}
```
"""


if __name__ == "__main__":
    main()

"""`make bench`: run every benchmark, write BENCHMARKS.md and benchmarks/results.json."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import decide_bench, faults_bench, latency_bench, replay_bench, worker_bench
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


def main(argv: list[str] | None = None) -> None:
    """Run, then write the results down; `--report-only` writes BENCHMARKS.md again from results.json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: write BENCHMARKS.md from the last benchmarks/results.json")
    if parser.parse_args(argv).report_only:
        (ROOT / "BENCHMARKS.md").write_text(report(json.loads((ROOT / "benchmarks" / "results.json").read_text())))
        return
    print("decide: 100k simulated events, 3 runs ...", flush=True)
    results = {"machine": machine(), "decide": decide_bench.measure()}
    print("worker: 1M simulated events on a backlog against the raw clients and Faust; 100k open cases ...",
          flush=True)
    results["worker"] = worker_bench.measure()
    print("recovery: 1M open cases, data dir wiped and intact ...", flush=True)
    results["million"] = worker_bench.restore_million()
    print("latency: a live worker at 100 and 1,000 events/s ...", flush=True)
    results["latency"] = latency_bench.measure()
    print("replay: a simulated year of two counties, one county's audit against the raw read, 3 runs ...", flush=True)
    results["replay"] = replay_bench.measure()
    print("faults: a 50k backlog on a busy machine, with five worker kills, with a broker kill ...", flush=True)
    results["faults"] = faults_bench.measure()
    print("fuzz: 10,000 bad messages among a 50k backlog with a SIGKILL; five broker outages under a live worker ...",
          flush=True)
    results["fuzz"] = faults_bench.measure_fuzz()
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "BENCHMARKS.md").write_text(report(results))
    print((ROOT / "BENCHMARKS.md").read_text())


FAULT_RUNS = ("busy machine", "records stamped with the producer's clock", "five worker kills",
              "broker killed and restarted")


def _fault_targets(faults: dict | None) -> list[tuple]:
    """One target row per backlog run: its outputs net of corrections equal `decide`'s (0 missing, 0 false)."""
    if not faults:
        return []
    rows = []
    for i, name in enumerate(FAULT_RUNS):
        run = faults["runs"][i] if i < len(faults["runs"]) else None
        value = (f"{run['missing']} missing, {run['false']} false of {run['outputs']:,}; {run['corrections']} "
                 f"correction(s), {run['worker_runs']} worker run(s)" if run else f"no result: {faults['summary']}")
        rows.append((f"backlog of {faults['size']:,} events, {name}: net of corrections = `decide`", value,
                     "0 missing, 0 false", run is not None and run["missing"] == run["false"] == 0))
    return rows


def _faults(faults: dict | None) -> str:
    if not faults:
        return ""
    lines = "\n".join(f"| {name} | {r['events']:,} | {r['outputs']:,} | {r['missing']} | {r['false']} | "
                      f"{r['sent']:,} | {r['corrections']} ({r['withdrawn']} withdrawn) | {r['worker_runs']} |"
                      for name, r in zip(FAULT_RUNS, faults["runs"], strict=False))
    return f"""## Backlogs with faults

`{faults_bench.TESTS}` at {faults['size']:,} events ({faults['seconds'] / 60:.0f} min, {faults['summary']}): the
whole stories of a sample of four simulated days' bookings, written to the case topics before the worker starts;
outputs read back `read_committed`, taken net of corrections and compared with `decide`'s field for field but
`decided_at`. The busy machine has two processes burning a core each beside the worker and the broker.

| run | events | outputs (`decide`) | missing | false | sent | corrections | worker runs |
|---|---|---|---|---|---|---|---|
{lines}

"""


def _fuzz_targets(fuzz: dict | None) -> list[tuple]:
    """The fuzz run: every bad message one dead letter, none twice, and the broker outages each resumed."""
    if not fuzz or fuzz.get("bad") is None:
        return [("bad messages among a backlog", f"no result: {fuzz['summary']}" if fuzz else "not run",
                 "each one dead letter", False)] if fuzz else []
    b = fuzz["backlog"] or {}
    return [
        (f"{fuzz['bad']:,} bad messages of {fuzz['kinds']} kinds among {fuzz['valid']:,} events, one SIGKILL",
         f"{fuzz['dead_letters']:,} dead letters, {fuzz['twice']} twice, {fuzz['other_reason']} with another reason; "
         f"{b.get('missing')} missing, {b.get('false')} false outputs", "each one dead letter; outputs = `decide`",
         fuzz["dead_letters"] == fuzz["bad"] and fuzz["twice"] == fuzz["other_reason"] == 0
         and b.get("missing") == b.get("false") == 0),
        (f"broker killed and restarted 35 s later, {fuzz['outages']} times", f"{fuzz['resumed']} resumed, the "
         f"slowest {fuzz.get('slowest_resume_seconds')} s after the broker answered again "
         f"({fuzz['restarts']} by the progress guard's restart)", "each resumed within 90 s",
         fuzz["resumed"] == fuzz["outages"]),
    ]


def _fuzz(fuzz: dict | None) -> str:
    if not fuzz:
        return ""
    return f"""## Bad input and broker outages

`tests/integration/test_fuzz.py` and `tests/integration/test_broker_outages.py` at full size
({fuzz['seconds'] / 60:.0f} min, {fuzz['summary']}): bad messages of every kind (random bytes, truncated Avro,
missing and unknown headers, wrong schema versions, payloads under another type's header, no key or a key on another
partition, values near the broker's size limit, instants in year 1 and 9999, empty ids, unknown enum symbols)
interleaved with a simulated backlog, the worker killed with SIGKILL halfway; then a live worker under a broker
killed with SIGKILL and started again 35 s later, {fuzz['outages']} times (`make test` runs 1,000 bad messages and
2 outages).

"""


def _rate(r: dict, unit: str = "events/s") -> str:
    return f"{r['median']:,.0f} {unit} (min {r['min']:,.0f}, max {r['max']:,.0f})"


def _met(ok: bool | None) -> str:
    return "not measured at that size" if ok is None else "met" if ok else "**missed**"


def report(results: dict) -> str:
    """BENCHMARKS.md from the results."""
    m, d, w, lat, r, mil = (results[k] for k in ("machine", "decide", "worker", "latency", "replay", "million"))
    thousand = next(x for x in lat["runs"] if x["rate"] == 1000)
    targets = [
        ("worker on a backlog / a Faust agent that does nothing, same consumer", f"{w['worker_to_floor']:.2f}",
         ">= 0.5", w["worker_to_floor"] >= 0.5),
        ("replay read / raw read of the same partitions", f"{r['ratio_read']:.2f}", ">= 0.7", r["ratio_read"] >= 0.7),
        ("`decide` core on one core", f"{d['core']['median']:,.0f} events/s", ">= 50,000 events/s",
         d["core"]["median"] >= 50_000),
        ("latency p99 at 1,000 events/s", f"{thousand['latency_ms']['p99']:,.0f} ms", "< 100 ms",
         thousand["latency_ms"]["p99"] < 100),
        ("deadline lateness p99 (at 1,000 events/s)", f"{thousand['lateness_s']['p99']:.2f} s", "< 1 s",
         thousand["lateness_s"]["p99"] < 1),
        ("recovery of 1M open cases, wiped data dir",
         f"{mil['restore_and_answer_seconds']:.1f} s for {mil['open_cases']:,}", "< 60 s",
         mil["restore_and_answer_seconds"] < 60 if mil["open_cases"] >= 1_000_000 else None),
        ("state per open case (changelog value)", f"{w['state_bytes_per_case']:,.0f} bytes", "< 1 KB",
         w["state_bytes_per_case"] < 1024),
        *_fault_targets(results.get("faults")),
        *_fuzz_targets(results.get("fuzz")),
    ]
    rows = "\n".join(f"| {name} | {value} | {target} | {_met(ok)} |" for name, value, target, ok in targets)
    return f"""# Benchmarks

Written by `make bench` ({m['date']}): {m['cpu']}, {m['cores']} cores, Python {m['python']},
detainer-tracker {m['detainer_tracker']}. Decision-core and latency figures are the median of 3 runs, replay
figures of {r.get('runs', 3)}, with min and max; the other Kafka figures come from one run. The machines are
shared: compare figures measured in the same run (the ratios), not across runs.

## Targets

| figure | measured | target | |
|---|---|---|---|
{rows}

## The decision core

{d['events']:,} events of a simulated statewide California stream (seed 7, from 2019-06-02), giving
{d['outputs']:,} outputs.

| path | throughput | target |
|---|---|---|
| core only: dataclass events through `cases.apply` / `fire` by stream time | {_rate(d['core'])} | >= 50,000 events/s |
| `detainer-tracker decide`: JSON lines parsed, validated, decided, rendered | {_rate(d['decide_command'])} | - |

{_faults(results.get("faults"))}{_fuzz(results.get("fuzz"))}## The case processor on Kafka

One run against the local broker (6 partitions): {w['events']:,} simulated statewide events on the four case
topics. The limits are raw consumers reading them once and decoding every message with our codec, and a Faust
agent that does nothing with what it reads (`benchmarks/faust_floor.py`: the same topics, fetch size, commit
interval, producer linger and timeouts as the worker, from `streams.worker.app.consumer_options`), run once with
Faust's own consumer and once with the worker's (its event-time scheduler over the case topics, as the worker reads
them): the second is the one the worker is held to. Then one `detainer-tracker worker` (at least once, rocksdict
store) processes
them as a backlog. The agent and the worker are timed from their start until their committed offsets reach the
end. {_stall_sentence(w)}

| figure | value |
|---|---|
| raw produce (kafka-python, idempotent, acks=all, already encoded) | {w['raw_produce_kafka_python']:,.0f} events/s |
| raw aiokafka consume + decode | {w['raw_aiokafka_consume_decode']:,.0f} events/s |
| raw kafka-python consume + decode | {w['raw_kafka_python_consume_decode']:,.0f} events/s |
| a Faust agent that does nothing, Faust's consumer | {_floor_plain(w)} |
| a Faust agent that does nothing, the worker's consumer | {w['faust_floor']:,.0f} events/s \
({w['floor_ratio']:.3f} of raw aiokafka) |
| worker on the backlog | {w['worker_backlog']:,.0f} events/s |
| worker / raw aiokafka | {w['ratio']:.3f} |
| worker / the do-nothing Faust agent, Faust's consumer | {_ratio_plain(w)} |
| worker / the do-nothing Faust agent, the worker's consumer | {w['worker_to_floor']:.2f} |
| {w['open_cases']:,} open cases: a new worker with a wiped data dir restores them and answers a new event \
| {w['restore_and_answer_seconds']:.1f} s |
| the same, restarted on its data dir after a clean stop | {w['intact_restart_and_answer_seconds']:.1f} s |
| {mil['open_cases']:,} open cases, wiped data dir: restored from the changelog, a new event answered \
| {mil['restore_and_answer_seconds']:.1f} s |
| the same, restarted on its data dir after a clean stop | {mil['intact_restart_and_answer_seconds']:.1f} s |
| worker RSS with {w['open_cases']:,} open cases / with none | {w['rss_loaded_bytes'] / 2**20:,.0f} MiB / \
{w['rss_idle_bytes'] / 2**20:,.0f} MiB |
| RSS per open case | {w['rss_per_open_case_bytes']:,.0f} bytes |
| state per open case (latest changelog value of {w['state_keys']:,} cases) | {w['state_bytes_per_case']:,.0f} bytes |

The {w['open_cases']:,} open cases are booked through the worker. The {mil['open_cases']:,} are written straight
to the table's changelog ({mil['written_seconds']:.0f} s): for each booking, the bytes the worker stores after its
booking record (`worker.step.dump` of the core's case), on the booking's partition; booking them through the worker
would take longer than the restore being measured. A worker given a partition reads its changelog with a plain
aiokafka consumer and writes each fetched batch to RocksDB at once (`streams/worker/state/restore.py`), from where
its data dir
left off; Faust's own recovery, one record at a time, then has only what came after.

{_why_worker(w, mil, d['core']['median'])}
{_profile(w.get('profile'))}
## Latency and lateness of a live worker

One worker with its ticker on, 6 partitions. The input books people and releases them: every other event books
a new person, the others make the release of a person booked about a second before due at once (latency: produce
call to the RELEASE directive visible to a `read_committed` consumer) or, one release in ten, three seconds later
(lateness: visible minus the directive's `effective_at`, the moment the release became due); the targets are
measured on it. The last row is the worst case: every event a release of a person never booked, so each also
brings a review of its unknown jurisdiction. Each row runs {lat['runs'][0]['runs']}
times for 20 s; the row is the run with the median latency p99, with the range of p99 over the runs. Cores: the
CPU the worker, the broker and the benchmark itself (the load and the watching consumer) used during the run, on
a machine of {m['cores']} cores.

| input rate | events | latency p50 / p99 / max | p99 over the runs | lateness p50 / p99 / max | \
p99 over the runs | cores: worker / broker / load |
|---|---|---|---|---|---|---|
{_latency_rows(lat)}
{_round_trips(lat)}{_why_latency(lat, m, w)}
{_replay(r)}"""


def _floor_plain(w: dict) -> str:
    rate = w.get("faust_floor_faust_consumer")
    return "not measured" if rate is None else f"{rate:,.0f} events/s"


def _ratio_plain(w: dict) -> str:
    ratio = w.get("worker_to_floor_faust_consumer")
    return "not measured" if ratio is None else f"{ratio:.2f}"


def _latency_rows(lat: dict) -> str:
    def ms(x: dict) -> str:
        return f"{x['p50']:,.0f} / {x['p99']:,.0f} / {x['max']:,.0f} ms" if x else "-"

    def s(x: dict) -> str:
        return f"{x['p50']:.2f} / {x['p99']:.2f} / {x['max']:.2f} s" if x else "-"

    def row(x: dict) -> str:
        lat_lo, lat_hi = x["spread"]["latency_ms.p99"]
        late_lo, late_hi = x["spread"]["lateness_s.p99"]
        cores = " / ".join(f"{x['cores'][k]:.2f}" for k in ("worker", "broker", "load"))
        return (f"| {x['rate']:,.0f} events/s, {x.get('mix', 'releases of people never booked')} | {x['events']:,} "
                f"| {ms(x['latency_ms'])} | {lat_lo:,.0f}–{lat_hi:,.0f} ms | {s(x['lateness_s'])} "
                f"| {late_lo:.2f}–{late_hi:.2f} s | {cores} |")

    return "\n".join(row(x) for x in lat["runs"])


def _round_trips(lat: dict) -> str:
    """What the benchmark's own clients take through the broker with no worker (runs from before had none)."""
    trips = lat.get("round_trip")
    if not trips:
        return ""
    each = "; ".join(f"at {t['rate']:,.0f} records/s p50 {t['latency_ms']['p50']:,.0f} ms, p99 "
                     f"{t['latency_ms']['p99']:,.0f} ms" for t in trips)
    when = f" (these rows measured {lat['date']}, apart from the rest of this file)" if lat.get("date") else ""
    return (f"\nWith no worker, a plain record from the load's producer to the watching consumer through the broker "
            f"takes {each}{when}; an event above crosses the broker twice, in to the worker and out to the watcher.\n")


def _profile(profile: dict | None) -> str:
    if not profile or not profile.get("inclusive"):
        return ""
    lines = "\n".join(f"| {name} | {share:.0%} |" for name, share in profile["inclusive"])
    own = "\n".join(f"| {name} | {share:.0%} |" for name, share in profile["self"][:8])
    return f"""### Where the worker's time goes

py-spy sampled the worker for 30 s of the backlog run. Share of samples with the function on the stack:

| function | share |
|---|---|
{lines}

Share of samples running in the function itself:

| function | share |
|---|---|
{own}
"""


def _replay(r: dict) -> str:
    def rate(x: dict) -> str:
        return f"{x['median']:,.0f} records/s (min {x['min']:,.0f}, max {x['max']:,.0f})"

    when = f"\nThese figures were measured {r['date']}, apart from the rest of this file." if r.get("date") else ""
    return f"""
## Replay

A simulated year (2017) of Kern and Fresno counties on 6 partitions: {r['events']:,} input events and the
{r['outputs']:,} outputs `decide` gives for them, written as a worker writes them. Each figure is the median of
{r.get('runs', 3)} runs (min, max), all in the same run against the same broker. The limit is a raw kafka-python
consumer (the replay's client) reading every record of the same topics and partitions, with Python's cyclic
garbage collector paused as the replay reads (`replay.reader.collector_paused`). The replay (`--county Kern --from
2017-01-01 --to 2018-01-01`) reads {r['records_on_partitions']:,} records and decodes the {r['decoded']:,} of
Kern's {r['selected_bookings']:,} bookings (booking records of both counties included).{when}

| figure | rate | / raw read |
|---|---|---|
| raw read, no decoding (the limit) | {rate(r['raw_read'])} | 1 |
| raw read, decoding every record | {rate(r['raw_read_decode'])} | \
{r['raw_read_decode']['median'] / r['raw_read']['median']:.2f} |
| replay: reading the county's year | {rate(r['replay_read'])} | {r['ratio_read']:.2f} (target >= 0.7) |
| replay: the whole audit (read, re-decide, compare, count) | {rate(r['replay_audit'])} | \
{r['ratio_audit']:.2f} |

{_why_replay(r)}
The audit's CSV:

```
{r['summary_csv'].strip()}
```
"""


def _stall_sentence(w: dict) -> str:
    stalls = w.get("stalls")
    if stalls is None:
        return ""
    resumed, stopped = int(stalls.get("resumed", 0)), int(stalls.get("stopped", 0))
    if not resumed and not stopped:
        return "The stall watchdog found no partition left unread during the backlog."
    return (f"During the backlog the stall watchdog found a partition left unread {resumed} time(s) and resumed it, "
            f"and stopped the worker {stopped} time(s): the worker figure includes those waits.")


#: how the project's own frames are named in a profile (results of runs before names kept the package's path
#: name the layer's folder alone)
_OURS = ("(streams/", "(worker/", "(core/", "(wire/", "(replay/", "(tools/")


def _profile_words(profile: dict) -> str:
    """The project's own frames with the largest share of the worker's samples, in words."""
    ours = [(name, share) for name, share in profile.get("inclusive", []) if name.split(" ")[-1].startswith(_OURS)
            and not name.startswith("run (")][:6]
    if not ours:
        return ""
    shares = ", ".join(f"`{name.split(' (')[0]}` {share:.0%}" for name, share in ours)
    return f"In the worker's profile (py-spy, share of samples with each frame on the stack): {shares}."


def _why_worker(w: dict, mil: dict, core_rate: float) -> str:
    text = ""
    if w["worker_to_floor"] < 0.5:
        text += f"""Why the worker misses 0.5 of the do-nothing agent: it reaches {w['worker_to_floor']:.2f} of it \
(and the do-nothing agent itself {w['floor_ratio']:.2f} of the raw aiokafka rate). Per message, the do-nothing agent
takes {1e6 / w['faust_floor']:,.0f} µs and the worker {1e6 / w['worker_backlog']:,.0f} µs: what the worker adds is \
{1e6 / w['worker_backlog'] - 1e6 / w['faust_floor']:,.0f} µs (its step, and the writes it gives Faust's and aiokafka's
producers to carry), of which the decision core's part is about {1e6 / core_rate:,.0f} µs (the `decide` core above).
Faust hands each message through its consumer thread, conductor, stream, acknowledgement and commit bookkeeping
one at a time; the worker adds its own step (decode, read the case, the core, write the case and its changelog
record, the outputs, the metrics), and each send of an output or a changelog record is another turn of the event
loop through Faust's and aiokafka's producers. {_profile_words(w.get("profile") or {})}
What would reach 0.5 is a case processor without Faust's per-message path: a loop on aiokafka that takes each
fetched batch whole, steps every booking in it, writes each booking's state once per batch and sends the outputs
as record batches, with the changelog, standby and rebalance handling Faust now gives written for it.
"""
    if mil["restore_and_answer_seconds"] >= 60:
        rate = mil["open_cases"] / mil["restore_and_answer_seconds"]
        text += f"""
Why the recovery of {mil['open_cases']:,} open cases misses 60 s: from start to answer, the worker took in
about {rate:,.0f} records/s of changelog, against the {w['raw_aiokafka_consume_decode']:,.0f} records/s a raw aiokafka
consumer reads and decodes ({mil['open_cases'] / w['raw_aiokafka_consume_decode']:.0f} s for {mil['open_cases']:,}
records). The restore writes each fetched batch whole to RocksDB (`streams/worker/state/restore.py`); the rest is the
worker's start, its group join and the first event's step. A restarted worker whose data dir is intact reads only the
changelog after its last write ({mil['intact_restart_and_answer_seconds']:.1f} s above), and with two or more
workers each partition has a standby (`table_standby_replicas=1`) that holds its state already, so a failover
restores only what the standby lags. Only a worker that loses its disk and has no standby restores from zero.
"""
    return text


def _why_latency(lat: dict, m: dict, w: dict) -> str:
    thousand = next(x for x in lat["runs"] if x["rate"] == 1000)
    if thousand["latency_ms"]["p99"] < 100 and thousand["lateness_s"]["p99"] < 1:
        return ""
    used = sum(thousand["cores"].values())
    if thousand["lateness_s"]["p99"] < 1:
        return f"""
Why 1,000 events/s misses 100 ms: the worker kept up (deadline lateness p99 {thousand['lateness_s']['p99']:.2f} s,
latency p50 {thousand['latency_ms']['p50']:,.0f} ms), so its p99 is not a queue but the pauses of one event loop
that also fetches, commits (every 0.2 s in this benchmark, each commit draining the producer first) and writes the
ticks, and a fetch of the idle topics that may hold the busy topic's next records for up to 50 ms
(`faust_compat.FETCH_MAX_WAIT_MS`), on cores it shares: the worker, the broker and the benchmark's own producer and
consumer used {used:.2f} of the machine's {m['cores']} cores during that run, the worker
{thousand['cores']['worker']:.2f} of them. Half the events here are releases due at once: a decode, the case read,
the deadline fired, one state and two outputs written. What would reach it: more work per await and
fewer writes per event (the faster case processor described above), or a worker with cores of its own.
"""
    return f"""
Why 1,000 events/s misses: the worker fell behind in that run, and its latency is the queue. The worker, the broker
and the benchmark's own producer and consumer used {used:.2f} of the machine's {m['cores']} cores, the worker
{thousand['cores']['worker']:.2f} of them. Half the events here are releases due at once: a decode, the case read,
the deadline fired, one state and two outputs written; on the backlog above, where an event brings a
quarter of an output on average, the worker takes {w['worker_backlog']:,.0f} events/s. The faster case processor
described above, or a worker with cores of its own, would reach it.
"""


def _why_replay(r: dict) -> str:
    if r["ratio_read"] >= 0.7:
        return ""
    return f"""Why the replay misses 0.7: decoding a record (fastavro, schema resolution, our checks) costs
{_decode_us(r):.1f} µs here against {1e6 / r['raw_read']['median']:.1f} µs to read one, and a county's replay must
decode {r['decoded'] / r['records_on_partitions']:.0%} of what it reads (every booking record, to know its county,
and every record of the county's bookings). Reading everything and decoding only those allows at most
{_replay_bound(r):.2f} of the raw read; the replay reaches {r['ratio_read']:.2f}. Reaching 0.7 would take a decoder
{_decoder_speedup(r):.1f} times as fast, or decoding fewer records (knowing a booking's county without decoding its
record, from a header say, would spare the other county's booking records, a few percent of what is read).
"""


def _decoder_speedup(r: dict) -> float:
    """How many times faster decoding must be for the bound on the replay to reach 0.7 of the raw read."""
    read_us, share = 1e6 / r["raw_read"]["median"], r["decoded"] / r["records_on_partitions"]
    return _decode_us(r) * share / (read_us * (1 / 0.7 - 1))


def _decode_us(r: dict) -> float:
    """Microseconds to decode one record: reading and decoding everything, less reading alone."""
    return 1e6 / r["raw_read_decode"]["median"] - 1e6 / r["raw_read"]["median"]


def _replay_bound(r: dict) -> float:
    """The best replay/raw-read ratio when the replay's share of records must be decoded."""
    read_us = 1e6 / r["raw_read"]["median"]
    return read_us / (read_us + _decode_us(r) * r["decoded"] / r["records_on_partitions"])


if __name__ == "__main__":
    main()

"""`detainer-tracker replay` against the real broker: timelines, windows, partitions read, --as-if, tampering,
the HTML report in headless Chromium, and a county's audit counts."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streams import __version__
from streams.cli import main
from streams.core.law import rulebook
from streams.replay.reader import Reader
from streams.replay.selection import Selection
from streams.tools.produce import EventProducer
from streams.tools.simulate import SimConfig, Simulator
from streams.wire.jsonlines import Line, parse_line
from streams.wire.topics import partition_of
from tests.scenarios.loader import CASES, load
from tests.support.browser import Browser
from tests.support.records import example_record
from tests.support.replay import decided, jsonl, produce_lines, record_outputs, replay
from tests.support.worker import outputs_on_kafka, tick_all

S02 = "s02_trust_serious_felony_prior_mlk_weekend_ice_arrives_during_hold"
S11 = "s11_values_act_serious_felony_prior_notify_and_transfer_but_no_hold"
X03 = "x03_still_in_custody_after_the_release_deadline_is_a_violation"


def lines_of(*names: str, codec) -> list[Line]:
    lines = []
    for name in names:
        text = load(CASES / f"{name}.yaml").jsonl()
        lines += [parse_line(i, line, codec) for i, line in enumerate(text.splitlines(), 1)]
    return sorted(lines, key=lambda line: line.record["occurred_at"])


def bookings_of(lines: list[Line]) -> list[str]:
    return sorted({line.record["booking_id"] for line in lines if "booking_id" in line.record})


def test_a_bookings_replayed_timeline_equals_what_was_produced_and_decided_live(live, settings, kafka_codec,
                                                                                 tmp_path):
    feed, _ = live
    lines = lines_of(S02, S11, X03, codec=kafka_codec)
    for line in lines:
        feed(line.type_name, line.record)
    tick_all(feed, settings, lines[-1].record["occurred_at"] + timedelta(days=10))
    recorded = outputs_on_kafka(settings, kafka_codec)
    for booking in bookings_of(lines):
        code, text = replay(settings, tmp_path / f"{booking}.jsonl", "--booking", booking, "--format", "jsonl")
        rows = jsonl(text)
        assert code == 0, [r for r in rows if "difference" in r]
        inputs = [r["id"] for r in rows if r["side"] == "input"]
        outputs = [r["id"] for r in rows if r["side"] == "output"]
        assert inputs == [line.record["event_id"] for line in lines if line.record.get("booking_id") == booking]
        assert sorted(outputs) == sorted(o["output_id"] for o in recorded if o["booking_id"] == booking)
        assert len(outputs) > 2
        times = [datetime.fromisoformat(r["at"]) for r in rows]
        assert times == sorted(times)
        by_id = {o["output_id"]: o for o in recorded}
        for r in rows:
            if r["side"] == "output":  # the very record the worker wrote, field for field
                assert r["record"]["rule_id"] == by_id[r["id"]]["rule_id"]
                assert r["record"]["decided_at"] == by_id[r["id"]]["decided_at"].astimezone(UTC).isoformat()


def test_a_time_window_selects_exactly_the_events_inside_it_at_both_edges(settings, kafka_codec, tmp_path):
    start = datetime(2017, 3, 1, 8, tzinfo=UTC)  # 2017-03-01 local midnight in California (PST)
    end = datetime(2017, 3, 4, 8, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    instants = [start - timedelta(days=2), start - ms, start, start + ms, start + timedelta(days=1), end - ms, end,
                end + ms, end + timedelta(days=3)]
    kinds = ["FingerprintsSubmitted", "IceInquiryReceived", "ProbableCauseFound"]  # three topics
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for i, at in enumerate(instants):
            type_name = kinds[i % len(kinds)]
            record = {**example_record(kafka_codec.registry.latest(type_name), key="B-WIN", n=i),
                      "event_id": f"e{i}", "occurred_at": at}
            producer.send(type_name, record)
    inside = {f"e{i}" for i, at in enumerate(instants) if start <= at < end}
    assert len(inside) == 4
    for window in (["--from", "2017-03-01", "--to", "2017-03-04"],
                   ["--from", "2017-03-01T00:00:00-08:00", "--to", "2017-03-04T08:00:00Z"]):
        code, text = replay(settings, tmp_path / "w.jsonl", "--booking", "B-WIN", *window, "--format", "jsonl",
                            "--no-diff")
        assert code == 0
        assert {r["id"] for r in jsonl(text)} == inside, window


def test_finding_one_booking_among_100k_reads_only_its_partition(settings, kafka_codec):
    schema = kafka_codec.registry.latest("BookingRecorded")
    template = example_record(schema, key="X", n=1)
    at = datetime(2019, 1, 1, tzinfo=UTC)
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for i in range(100_000):
            producer.send("BookingRecorded", {**template, "booking_id": f"B-{i:06d}", "event_id": f"b{i}",
                                              "occurred_at": at + timedelta(seconds=i)}, validate=False)
    wanted = "B-042424"
    p = partition_of(wanted.encode(), settings.partitions)
    tp = TopicPartition(kafka_codec.topics.name("bookings"), p)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    on_partition = consumer.end_offsets([tp])[tp]
    consumer.close()
    capture = Reader(settings.kafka_client_config(), kafka_codec.topics, kafka_codec).read(
        Selection(frozenset({wanted})))
    assert capture.partitions == (p,)
    assert sum(capture.records_read.values()) == on_partition
    assert on_partition < 45_000  # about a third of 100k
    assert capture.decoded == 1  # only its own record was decoded; the others were skipped by key
    assert [r.record["event_id"] for r in capture.inputs[wanted]] == ["b42424"]


def test_as_if_gives_the_outputs_decide_gives_with_that_regime(settings, kafka_codec, tmp_path, capsys):
    lines = lines_of(S02, codec=kafka_codec)
    produce_lines(settings, kafka_codec, lines)
    (booking,) = bookings_of(lines)
    code, text = replay(settings, tmp_path / "asif.jsonl", "--booking", booking, "--as-if", "CA_VALUES",
                        "--format", "jsonl")
    assert code == 1  # nothing was recorded, so every re-decided output is missing from the topics
    redecided = {r["redecided"]["output_id"]: r["redecided"] for r in jsonl(text) if r.get("difference")}
    source = tmp_path / "in.jsonl"
    source.write_text(load(CASES / f"{S02}.yaml").jsonl(), encoding="utf-8")
    capsys.readouterr()
    assert main(["decide", str(source), "--as-if", "CA_VALUES"]) == 0
    expected = {r["output_id"]: r for r in jsonl(capsys.readouterr().out)}
    assert set(redecided) == set(expected)
    for output_id, want in expected.items():
        got = redecided[output_id]
        for name, value in want.items():
            if name == "type":
                continue
            assert _same(got[name], value), (output_id, name, got[name], value)
    law_of_the_day = {e.record["output_id"] for e in decided(lines)}
    assert law_of_the_day != set(expected)  # SB 54 in 2016 decides differently: the flag matters


def _same(a, b) -> bool:
    try:
        return datetime.fromisoformat(a) == datetime.fromisoformat(b)
    except (TypeError, ValueError):
        return a == b


def test_a_tampered_decision_topic_is_reported_precisely(settings, kafka_codec, tmp_path):
    lines = lines_of(S02, S11, codec=kafka_codec)
    produce_lines(settings, kafka_codec, lines)
    outputs = decided(lines)
    s02_booking = next(line.record["booking_id"] for line in lines_of(S02, codec=kafka_codec))
    hold = [e for e in outputs if e.type_name == "Decision" and e.record["booking_id"] == s02_booking]
    removed, altered = hold[0].record["output_id"], hold[1].record["output_id"]

    def tamper(e):
        if e.record["output_id"] == removed:
            return None
        if e.record["output_id"] == altered:
            return {**e.record, "outcome": "DENIED" if e.record["outcome"] != "DENIED" else "PERMITTED"}
        return e.record

    record_outputs(settings, kafka_codec, outputs, tamper)
    args = [a for b in bookings_of(lines) for a in ("--booking", b)]
    code, text = replay(settings, tmp_path / "t.jsonl", *args, "--format", "jsonl")
    found = [r for r in jsonl(text) if r.get("difference")]
    assert code == 1
    assert [(d["difference"], d["booking_id"]) for d in found] == [("missing", s02_booking),
                                                                   ("different", s02_booking)] or \
           sorted((d["difference"], d["booking_id"]) for d in found) == [("different", s02_booking),
                                                                         ("missing", s02_booking)]
    missing = next(d for d in found if d["difference"] == "missing")
    different = next(d for d in found if d["difference"] == "different")
    assert missing["redecided"]["output_id"] == removed and missing["recorded"] is None
    assert different["fields"] == ["outcome"]
    assert different["recorded"]["output_id"] == different["redecided"]["output_id"] == altered
    assert different["recorded"]["outcome"] != different["redecided"]["outcome"]
    code, table = replay(settings, tmp_path / "t.txt", *args)
    assert code == 1 and "MISSING from the topic" in table and "DIFFERENT Decision" in table


#: every text box of the timelines: none may overlap another or leave its drawing
_LAYOUT = """
const out = [];
for (const svg of document.querySelectorAll('svg.timeline')) {
  const frame = svg.getBoundingClientRect();
  const boxes = Array.from(svg.querySelectorAll('text')).map(t => [t.textContent, t.getBoundingClientRect()]);
  for (const [text, r] of boxes) {
    if (r.left < frame.left - 0.5 || r.right > frame.right + 0.5 || r.top < frame.top - 0.5
        || r.bottom > frame.bottom + 0.5) out.push('outside: ' + text);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, r] = boxes[i], [b, q] = boxes[j];
    if (r.left < q.right - 0.5 && q.left < r.right - 0.5 && r.top < q.bottom - 0.5 && q.top < r.bottom - 0.5)
      out.push('overlap: ' + a + ' / ' + b);
  }
}
return out;"""


def test_the_html_report_fits_its_labels_names_things_in_words_and_marks_differences(settings, kafka_codec,
                                                                                     tmp_path):
    lines = lines_of(S02, codec=kafka_codec)
    produce_lines(settings, kafka_codec, lines)
    outputs = decided(lines)
    altered = next(e for e in outputs if e.type_name == "Decision").record["output_id"]
    record_outputs(settings, kafka_codec, outputs, lambda e: {**e.record, "outcome": "DENIED"}
                   if e.record["output_id"] == altered else e.record)
    (booking,) = bookings_of(lines)
    page = tmp_path / "report.html"
    code, text = replay(settings, page, "--booking", booking, "--format", "html")
    assert code == 1  # the altered decision is a difference
    rows = jsonl(replay(settings, tmp_path / "same.jsonl", "--booking", booking, "--format", "jsonl")[1])
    rows = [r for r in rows if not r.get("difference")]
    assert "http://" not in text and "https://" not in text and "<script" not in text
    browser = Browser()
    seen, shots = {}, {}
    try:
        browser.open(page)
        for width in (1280, 720):
            browser.resize(width, 1600)
            seen[width] = browser.run("""return {
                standards: document.compatMode, title: document.title,
                facts: Object.fromEntries(Array.from(document.querySelectorAll('body > dl.facts dt')).map(
                    dt => [dt.textContent, dt.nextElementSibling.textContent])),
                timelines: document.querySelectorAll('svg.timeline').length,
                marks: document.querySelectorAll('svg.timeline circle').length,
                holds: document.querySelectorAll('svg.timeline rect.hold').length,
                differences: document.querySelectorAll('svg.timeline g.difference').length,
                rows: document.querySelectorAll('table.steps tbody tr').length,
                what: Array.from(document.querySelectorAll('table.steps td:nth-child(3)')).map(td => td.textContent),
                cited: Array.from(document.querySelectorAll('table.steps td:nth-child(5)')).filter(
                    td => td.textContent.trim()).length,
                fetched: performance.getEntriesByType('resource').length,
                width: document.querySelector('svg.timeline').getBoundingClientRect().width};""")
            seen[width]["layout"] = browser.run(_LAYOUT)
            shots[width] = tmp_path / f"report-{width}.png"
            browser.screenshot(shots[width])
    finally:
        browser.close()
    for width, got in seen.items():
        assert got["standards"] == "CSS1Compat" and booking in got["title"]
        assert got["timelines"] == 1 and got["holds"] >= 1 and got["marks"] >= 5 and got["differences"] == 1
        assert got["rows"] == len(rows) and got["cited"] == sum(1 for r in rows if r["side"] == "output")
        assert got["fetched"] == 0 and got["layout"] == [], (width, got["layout"])
        raw = [w for w in got["what"] if re.search(r"\b[A-Z]+_[A-Z_]+\b|\b(PERMITTED|DENIED|HOLD|RELEASE)\b", w)]
        assert not raw, raw[:3]  # kinds and outcomes in words, not enum values
        facts = got["facts"]
        assert facts["Tool"] == f"detainer-tracker {__version__}"
        assert facts["Rule book"] == f"digest {rulebook.load().digest}"
        generated = datetime.fromisoformat(facts["Generated"].split(" (")[1].rstrip(")"))
        assert abs((datetime.now(UTC) - generated).total_seconds()) < 600
        assert booking in facts["Selection"]
    assert seen[720]["width"] < seen[1280]["width"]
    for shot in shots.values():
        if os.environ.get("DT_KEEP_SCREENSHOTS"):
            shutil.copy(shot, os.environ["DT_KEEP_SCREENSHOTS"])
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_selection_that_matches_nothing_says_so_and_exits_3(settings, kafka_codec, tmp_path, capsys):
    lines = lines_of(S02, codec=kafka_codec)
    produce_lines(settings, kafka_codec, lines)
    code, text = replay(settings, tmp_path / "none.html", "--booking", "NOPE-00000", "--format", "html")
    assert code == 3
    assert "no booking matched booking NOPE-00000" in capsys.readouterr().err
    assert "(no booking matched)" in text  # the report written says so too


def test_a_county_year_summary_counts_what_the_topics_hold(settings, kafka_codec, tmp_path):
    config = SimConfig(start=datetime.fromisoformat("2017-05-01T00:00:00-07:00"), days=20, seed=7,
                       counties=("Fresno", "Kern"), detainers_per_day=25)
    simulated = [(t, r) for _, t, r in Simulator(config).events() if "booking_id" in r]
    lines = [Line(i, t, r) for i, (t, r) in enumerate(simulated, 1)]
    produce_lines(settings, kafka_codec, lines)
    outputs = decided(lines)
    record_outputs(settings, kafka_codec, outputs)
    start, end = datetime(2017, 5, 8, 7, tzinfo=UTC), datetime(2017, 5, 15, 7, tzinfo=UTC)  # local midnights
    county = {r["booking_id"]: r["county"] for t, r in simulated if t == "BookingRecorded"}
    inside = [(t, r) for t, r in simulated if county.get(r["booking_id"]) == "Kern" and start <= r["occurred_at"] < end]
    out_in = [e for e in outputs if county.get(e.record["booking_id"]) == "Kern"
              and start <= e.record["decided_at"] < end]
    code, text = replay(settings, tmp_path / "kern.csv", "--county", "kern", "--from", "2017-05-08",
                        "--to", "2017-05-15", "--summary", "--format", "csv")
    assert code == 0, text
    got = {(row["section"], row["item"]): int(row["count"]) for row in csv.DictReader(io.StringIO(text))}
    want = Counter()
    for t, r in inside:
        if t == "DetainerLodged":
            want[("detainers by form", r["form"])] += 1
        if t == "Transferred":
            want[("transfers by authority", r.get("authority") or "NONE")] += 1
    for e in out_in:
        rec = e.record
        if e.type_name == "Decision" and rec["kind"] == "HOLD":
            want[("holds by rule", f"{rec['outcome']} {rec['rule_id']}")] += 1
        if e.type_name == "Violation":
            want[("violations", rec["kind"])] += 1
        if e.type_name == "CustodyCommand":
            want[("directives", rec["directive"])] += 1
    sections = {"detainers by form", "transfers by authority", "holds by rule", "violations", "directives"}
    assert {k: v for k, v in got.items() if k[0] in sections} == dict(want)
    assert sum(v for k, v in want.items() if k[0] == "detainers by form") >= 5
    assert got[("differences", "missing")] == got[("differences", "extra")] == got[("differences", "different")] == 0
    assert got[("bookings", "selected")] == len({b for b, c in county.items() if c == "Kern"})
    releases = got[("releases", "on time")] + got[("releases", "late")]
    assert releases > 0


def test_replay_says_what_is_wrong_with_its_arguments(settings, tmp_path, capsys):
    assert main(["--bootstrap-servers", settings.bootstrap_servers, "replay"]) == 2
    assert "say what to replay" in capsys.readouterr().err
    assert main(["--bootstrap-servers", settings.bootstrap_servers, "replay", "--county", "Kern", "--from",
                 "2017-13-01"]) == 2
    assert "neither an ISO date" in capsys.readouterr().err
    assert main(["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
                 "replay", "--booking", "B", "--as-if", "NOPE", "--quiet"]) == 2
    assert "no regime 'NOPE'" in capsys.readouterr().err


def test_replay_never_joins_a_consumer_group_nor_moves_one(settings, kafka_codec, tmp_path):
    lines = lines_of(S11, codec=kafka_codec)
    produce_lines(settings, kafka_codec, lines)
    bookings = TopicPartition(kafka_codec.topics.name("bookings"), 0)
    group = consumer = None
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        group = f"{settings.topic_prefix}watchers"
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group,
                                 enable_auto_commit=False)
        consumer.assign([bookings])
        consumer.commit({bookings: OffsetAndMetadata(1, "", -1)})
        before = (sorted(g["group_id"] for g in admin.list_groups()), admin.list_group_offsets(group))
        for booking in bookings_of(lines):
            assert replay(settings, tmp_path / "g.txt", "--booking", booking, "--no-diff")[0] == 0
        assert replay(settings, tmp_path / "c.txt", "--from", "2010-01-01", "--summary", "--no-diff")[0] == 0
        after = (sorted(g["group_id"] for g in admin.list_groups()), admin.list_group_offsets(group))
    finally:
        if consumer is not None:
            consumer.close()
        admin.close()
    assert after == before
    assert before[1][group][bookings].offset == 1, before


def test_a_bookings_events_written_before_its_booking_record_are_still_found_by_person(settings, kafka_codec,
                                                                                       tmp_path):
    at = datetime(2018, 2, 1, 17, tzinfo=UTC)
    release = {**example_record(kafka_codec.registry.latest("Released"), key="B-LATE", n=1), "event_id": "r1",
               "occurred_at": at + timedelta(days=2)}
    booked = {**example_record(kafka_codec.registry.latest("BookingRecorded"), key="B-LATE", n=2),
              "event_id": "b1", "occurred_at": at, "person_id": "P-LATE"}
    other = {**booked, "booking_id": "B-OTHER", "event_id": "b2", "person_id": "P-OTHER"}
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        producer.send("Released", release)  # the jail system sent the release first
        producer.send("BookingRecorded", booked)
        producer.send("BookingRecorded", other)
    code, text = replay(settings, tmp_path / "p.jsonl", "--person", "P-LATE", "--format", "jsonl", "--no-diff")
    assert code == 0
    assert [(r["booking_id"], r["id"]) for r in jsonl(text)] == [("B-LATE", "b1"), ("B-LATE", "r1")]

"""The CLETS gate on the real broker: the agency registry kept from a file, and queries decided live."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from streams.cli import main
from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools import agencies
from streams.tools.decide import Processor, run
from streams.tools.produce import EventProducer
from streams.wire.codec import Coordinates, Decoded
from streams.wire.jsonlines import parse_line
from tests.scenarios.loader import CASES, load
from tests.support.kafka import read_all, read_until
from tests.support.worker import WorkerProcess

CLETS_SCENARIOS = sorted(p.stem for p in CASES.glob("*.yaml") if "CletsQueryMade" in p.read_text())


def _cli(settings, *args: str) -> int:
    return main(["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
                 "--partitions", str(settings.partitions), *args])


def _write(tmp_path, text: str):
    path = tmp_path / "agencies.yaml"
    path.write_text(text)
    return path


ONE = """agencies:
  - {agency_id: CA0190000, name: Los Angeles County Sheriff, kind: LOCAL_CA, recorded_at: "2016-01-01T00:00:00Z"}
  - {agency_id: ICEHSI01, name: ICE HSI, kind: ICE_HSI, agreement_signed_at: "2019-09-01T00:00:00-07:00"}
"""


def test_agencies_load_sends_only_what_is_new_or_changed(settings, kafka_codec, tmp_path, capsys):
    topic = kafka_codec.topics["clets_agreements"].name
    assert _cli(settings, "agencies", "load", str(_write(tmp_path, ONE))) == 0
    assert "2 new, 0 changed, 0 unchanged" in capsys.readouterr().out
    assert _cli(settings, "agencies", "load", str(_write(tmp_path, ONE))) == 0
    assert "0 new, 0 changed, 2 unchanged" in capsys.readouterr().out
    revoked = ONE.replace('agreement_signed_at: "2019-09-01T00:00:00-07:00"',
                          'agreement_signed_at: "2019-09-01T00:00:00-07:00", revoked_at: "2021-01-01T00:00:00Z"')
    assert _cli(settings, "agencies", "load", str(_write(tmp_path, revoked))) == 0
    out = capsys.readouterr().out
    assert "sent changed  ICEHSI01" in out and "0 new, 1 changed, 1 unchanged" in out
    assert len(read_all(settings.bootstrap_servers, topic)) == 3
    registry = agencies.read_registry(settings.kafka_client_config(), kafka_codec, topic)
    assert registry["ICEHSI01"]["revoked_at"] == datetime(2021, 1, 1, tzinfo=UTC)
    assert _cli(settings, "agencies", "list") == 0
    listed = capsys.readouterr().out
    assert "ICEHSI01" in listed and "revoked 2021-01-01" in listed and "2 agencies" in listed
    assert _cli(settings, "agencies", "list", "--json") == 0
    shown = {a["agency_id"]: a for a in map(json.loads, capsys.readouterr().out.splitlines())}
    assert len(shown) == 2 and shown["ICEHSI01"]["revoked_at"].startswith("2021-01-01")


def test_a_bad_agency_file_is_refused_naming_the_entry(settings, tmp_path, capsys):
    bad = _write(tmp_path, "agencies:\n  - {agency_id: X1, name: Somebody, kind: MARTIAN}\n")
    assert _cli(settings, "agencies", "load", str(bad)) == 2
    err = capsys.readouterr().err
    assert "agency 1 (X1)" in err and "kind" in err


def test_clets_scenarios_decided_live_equal_decide(settings, kafka_codec, tmp_path):
    """Every CLETS scenario of the law spec, through the worker's gate, gives what `decide` gives."""
    assert len(CLETS_SCENARIOS) >= 5
    lines = []
    for name in CLETS_SCENARIOS:
        scenario = load(CASES / f"{name}.yaml")
        lines += [parse_line(i, line, kafka_codec) for i, line in enumerate(scenario.jsonl().splitlines(), 1)
                  if '"AgencyAgreementRecorded"' in line or '"CletsQueryMade"' in line]
    lines.sort(key=lambda line: line.record["occurred_at"])
    events = [ev.from_record(line.type_name, line.record) for line in lines]
    expected = [e.record for e in run(Processor(rulebook.load(), clets.load_rows()), events,
                                      lines[-1].record["occurred_at"] + timedelta(days=1))]
    assert {r["outcome"] for r in expected} == {"PERMITTED", "DENIED"}
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log")
    try:
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            for line in lines:  # registry entries and queries in event-time order, as `decide` reads them
                producer.send(line.type_name, line.record)
        got_messages = read_until(settings.bootstrap_servers, kafka_codec.topics["clets_decisions"].name,
                                  len(expected), timeout=180)
    finally:
        worker.stop()
    got = []
    for m in got_messages:
        decoded = kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key)
        assert isinstance(decoded, Decoded), decoded
        got.append(decoded.record)

    def comparable(r):
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in r.items() if k != "decided_at"))

    assert sorted(map(comparable, got)) == sorted(map(comparable, expected))


def test_a_query_from_an_unknown_agency_does_not_wait_out_the_registry_readers_poll(settings, kafka_codec):
    """Each refusal of an unknown agency asks for the registry's end; the reader's long poll must not hold it."""
    import asyncio

    from streams.worker.gate import GateWork, RegistryReader

    registry = kafka_codec.topics["clets_agreements"]
    gate = GateWork(clets.load_rows(), kafka_codec, "test")

    async def dead_letter(result) -> None:
        raise AssertionError(f"unexpected dead letter: {result}")

    async def scenario() -> tuple[list[bool], int]:
        reader = RegistryReader(settings.aiokafka_client_config(), registry.name, registry.partitions, gate,
                                dead_letter)
        polls = 0
        read = reader._read

        async def counted(*args):
            nonlocal polls
            polls += 1
            await read(*args)

        reader._read = counted
        task = asyncio.create_task(reader.run())
        try:
            await asyncio.wait_for(reader.ready.wait(), 30)
            before = polls
            answers = [await reader.catch_up() for _ in range(10)]
            # a burst of queries received before a catch-up began asks the broker for the registry's end once
            asked = 0
            ends = reader._ends.end_offsets

            async def counted_ends(*args):
                nonlocal asked
                asked += 1
                return await ends(*args)

            reader._ends.end_offsets = counted_ends
            received = time.monotonic()
            burst = [await reader.catch_up(received=received) for _ in range(20)]
            later = await reader.catch_up(received=time.monotonic() + 1)  # after every catch-up so far: asks again
            assert burst == [True] * 20 and later and asked == 2, (burst, asked)
            return answers, polls - before
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    answers, polls = asyncio.run(scenario())
    assert answers == [True] * 10
    # the reader's empty poll lasts half a second: ten catch-ups that each waited for one would span ten polls
    assert polls <= 3, f"10 catch-ups spanned {polls} polls of the registry reader"

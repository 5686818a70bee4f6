"""`detainer-tracker report transfers --year Y` against the real broker: a worker decides four bookings, and the
report lists each hand-over to immigration authorities in that year once, with the decision that permitted it or
the violation that says none did; a hand-over in another year, or to another agency, is not in it."""

import csv
import io
import os
import subprocess
import sys

from kafka import KafkaAdminClient

from streams.tools.produce import EventProducer
from streams.wire.jsonlines import parse_line
from tests.scenarios.loader import load
from tests.support.worker import WorkerProcess, last_offsets, wait_processed

BOOKED = '[BookingRecorded, "{day}T09:00:00-07:00", {{state: CA, person_id: P{b}, county: Kern, facility: Lerdo, ' \
         'charges: [{{statute: "VC 23152(a)", level: MISDEMEANOR}}]}}]'
ROBBERY = '[CriminalHistoryRecorded, "{day}T09:30:00-07:00", {{person_id: P{b}, convictions: [{{statute: "NRS ' \
          '200.380", level: FELONY, conviction_date: "2012-02-01", jurisdiction: OTHER_STATE, ' \
          'california_equivalent: "PC 211"}}]}}]'
LODGED = '[DetainerLodged, "{day}T10:00:00-07:00", {{detainer_id: D1, form: I247A, authority: I200, ' \
         'served_at: "{day}T10:00:00-07:00"}}]'
DUE = '[ReleaseBecameDue, "{day}T12:00:00-07:00", {{reason: BAIL_POSTED, release_at: "{day}T12:00:00-07:00"}}]'
ARRIVED = '[IceArrived, "{day}T12:00:00-07:00", {{agency: ICE ERO}}]'
HANDED = '[Transferred, "{day}T12:20:00-07:00", {{destination: {to}, agency: {agency}}}]'


def _booking(tmp_path, b, day, *lines, to="IMMIGRATION_AUTHORITY", agency="ICE ERO"):
    events = "\n".join(f"  - {line.format(day=day, b=b, to=to, agency=agency)}" for line in lines)
    path = tmp_path / f"{b}.yaml"
    path.write_text(f'name: "{b}"\nlaw: extra\nbooking: {b}\nevents:\n{events}\nexpect: []\n')
    return load(path)


def _report(settings, *args):
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "DT_TOPIC_PREFIX": settings.topic_prefix,
           "DT_PARTITIONS": str(settings.partitions)}
    return subprocess.run([sys.executable, "-m", "streams.cli", "report", "transfers", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_the_transfer_report_lists_each_hand_over_of_the_year_with_its_basis(settings, kafka_codec, tmp_path):
    bookings = [
        _booking(tmp_path, "T-PERMITTED", "2019-05-06", BOOKED, ROBBERY, LODGED, DUE, ARRIVED, HANDED),
        _booking(tmp_path, "T-NO-BASIS", "2019-07-01", BOOKED, LODGED, DUE, HANDED),
        _booking(tmp_path, "T-LAST-YEAR", "2018-12-31", BOOKED, ROBBERY, LODGED, DUE, ARRIVED, HANDED),
        _booking(tmp_path, "T-COUNTY", "2019-08-01", BOOKED, DUE, HANDED, to="OTHER_AGENCY", agency="Fresno SO"),
    ]
    lines = [parse_line(i, t, kafka_codec) for s in bookings for i, t in enumerate(s.jsonl().splitlines(), 1)]
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    worker = WorkerProcess(settings, tmp_path / "data", tmp_path / "worker.log")
    try:
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            metas = [producer.send(line.type_name, line.record).get(timeout=30) for line in lines]
        wait_processed(admin, settings.app_id, last_offsets(metas), 180, worker)
    finally:
        worker.stop()
        admin.close()

    result = _report(settings, "--year", "2019", "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["booking_id"] for r in rows] == ["T-PERMITTED", "T-NO-BASIS"]
    permitted, unlawful = rows
    assert permitted["permitted"] == "yes" and permitted["basis_rule"] == "transfer.values-criterion"
    assert "7282.5(a)(1)" in permitted["basis"] and "PC 211" in permitted["basis"]
    assert permitted["transferred_at"] == "2019-05-06T12:20:00-07:00" and permitted["county"] == "Kern"
    assert permitted["decision_id"] and not permitted["violation_id"]
    assert unlawful["permitted"] == "no" and unlawful["violation_id"]
    assert unlawful["basis_rule"] in ("", "transfer.values-denied")
    assert "2 hand-over(s) to immigration authorities, 1 with a decision permitting it, 1 without" in result.stderr

    last = _report(settings, "--year", "2018", "--format", "jsonl", "--no-progress")
    assert last.returncode == 0, last.stderr
    assert [line.count('"T-LAST-YEAR"') for line in last.stdout.splitlines()] == [1]
    bad = _report(settings, "--year", "19")
    assert bad.returncode == 2 and "four-digit year" in bad.stderr

"""`make run`'s script: broker, topics and simulated traffic flowing; Ctrl-C stops everything it started."""

import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from streams.tools.localbroker import LocalBroker, free_port
from streams.wire.reach import WrongProtocol, check
from tests.support.kafka import wait_until

ROOT = Path(__file__).parents[2]


def _decisions_flowing(text: str) -> bool:
    """A summary line that counts events in and decisions out, both above zero."""
    for match in re.finditer(r"\] in ([\d,]+) \| decisions ([\d,]+)", text):
        if int(match.group(1).replace(",", "")) > 0 and int(match.group(2).replace(",", "")) > 0:
            return True
    return False


def _clets_decided(text: str) -> bool:
    return any(int(m.group(1).replace(",", "")) > 0 for m in re.finditer(r"CLETS denied [\d,]+ of ([\d,]+)", text))


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secured"])
def test_run_shows_events_flowing_and_ctrl_c_stops_what_it_started(tmp_path, secure):
    port, controller = free_port(), free_port()
    home = tmp_path / "broker"
    env = {**os.environ, "DT_BROKER_PORT": str(port), "DT_CONTROLLER_PORT": str(controller),
           "DT_BROKER_HOME": str(home), "DT_SIM_SPEED": "600", "DT_SIM_BACKFILL_DAYS": "0.05",
           "DT_WEB_PORT": str(free_port()), "DT_DATA_DIR": str(tmp_path / "worker"), "DT_SECURE": str(int(secure)),
           "DT_PROMETHEUS_PORT": str(free_port()), "DT_MTLS_PORT": str(free_port())}
    env.pop("DT_BOOTSTRAP_SERVERS", None)
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "deploy/local/run.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    broker = LocalBroker(home=home, port=port, controller_port=controller)
    try:
        wait_until(lambda: _decisions_flowing(log.read_text()) and _clets_decided(log.read_text()), timeout=240,
                   describe=f"decisions and CLETS decisions flowing in the live summary (log: {log})")
        text = log.read_text()
        assert "created  dt.jail.bookings (6 partitions)" in text
        assert "agency registry: 7 new, 0 changed, 0 unchanged" in text
        metrics_url = re.search(r"metrics at (http://\S+/metrics)", text).group(1)
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            assert b"dt_events_consumed_total{" in response.read()
        prometheus = re.search(r"Prometheus with the alert rules at (http://\S+) ", text).group(1)
        alerts = re.search(r"\(alerts: (http://\S+);", text).group(1)
        with urllib.request.urlopen(alerts, timeout=10) as page:  # the address printed is a page that exists
            assert page.status == 200 and b"ReleaseOverdue" in page.read()
        query = urllib.parse.urlencode({"query": 'up{job="detainer-tracker-worker"}'})
        wait_until(lambda: '"1"]' in urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}").read().decode(),
                   timeout=60, describe="Prometheus scraping the worker")
        if secure:
            assert "secured: SASL_SSL" in text and "ACL(s) created" in text
            assert (home / "credentials" / "worker.env").stat().st_mode & 0o077 == 0
            # every listener is TLS: a plain client is told so, and nothing in the clear is offered
            protocols = next(line for line in (home / "server.properties").read_text().splitlines()
                             if line.startswith("listener.security.protocol.map="))
            assert "PLAINTEXT" not in protocols, protocols
            with pytest.raises(WrongProtocol, match="it speaks TLS"):
                check({"bootstrap_servers": f"127.0.0.1:{port}"})
        assert broker.pid() is not None
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert proc.wait(timeout=90) == 0, "Ctrl-C is how a run ends: exit 0"
        assert "stopped the broker" in log.read_text()
        assert broker.pid() is None and not broker.pid_file.exists()
        if not secure:
            proc = _second_run(env, home, port, tmp_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        broker.stop()


def _second_run(env, home, port, tmp_path):
    """A second run on the same broker goes on with the simulation: new events, none of the first run's again."""
    import json
    import sys

    state = json.loads((home / "simulation.json").read_text())
    assert state["sent_through"], state
    log = tmp_path / "run2.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "deploy/local/run.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: "resuming the simulation" in log.read_text() and _decisions_flowing(log.read_text()),
               timeout=240, describe=f"the second run resuming and deciding (log: {log})")
    wait_until(lambda: json.loads((home / "simulation.json").read_text())["sent_through"] > state["sent_through"],
               timeout=120, describe="the resumed simulation sending events past where the first run stopped")
    read = subprocess.run([sys.executable, "-m", "streams.cli", "tail", "bookings", "biometrics", "detainers",
                           "court"], env={**env, "DT_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}, capture_output=True,
                          text=True, timeout=180)
    assert read.returncode == 0, read.stderr
    ids = [json.loads(line)["value"]["event_id"] for line in read.stdout.splitlines()]
    assert ids and len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} event id(s) sent twice"
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=90) == 0
    return proc


def test_run_leaves_a_broker_it_did_not_start_running(broker, tmp_path):
    env = {**os.environ, "DT_BROKER_PORT": str(broker.port), "DT_CONTROLLER_PORT": str(broker.controller_port),
           "DT_BROKER_HOME": str(broker.home), "DT_SIM_SPEED": "600", "DT_SIM_BACKFILL_DAYS": "0.01",
           "DT_TOPIC_PREFIX": f"run{int(time.time())}.", "DT_WEB_PORT": str(free_port()),
           "DT_PROMETHEUS_PORT": str(free_port()),
           "DT_DATA_DIR": str(tmp_path / "worker")}
    env.pop("DT_BOOTSTRAP_SERVERS", None)
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "deploy/local/run.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "already running" in log.read_text() and "] in " in log.read_text(), timeout=120,
                   describe=f"the script to reuse the running broker (log: {log})")
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        assert broker.pid() is not None, "a broker the script did not start must be left running"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

"""The real thing: a broker, a worker and simulated traffic, scraped by a real Prometheus with our config and
rules; every dashboard query and every alert expression returns data, and an overdue release fires its alert."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from streams.tools.localbroker import free_port
from streams.tools.produce import EventProducer
from streams.wire.jsonlines import parse_line
from tests.scenarios.loader import CASES, load
from tests.support.kafka import wait_until
from tests.support.worker import WorkerProcess

ROOT = Path(__file__).parents[2]
PROM = ROOT / "deploy" / "prometheus"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
#: what Grafana puts in for its built-in variables, and "all" for ours
SUBSTITUTE = {"$__rate_interval": "1m", "$__range": "15m", "$county": ".*", "$regime": ".*"}


class Prometheus:
    """A real Prometheus with deploy/prometheus's config, pointed at the test's worker, scraping every second."""

    def __init__(self, target: str, home: Path) -> None:
        config = yaml.safe_load((PROM / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(PROM / f) for f in config["rule_files"]]
        config["scrape_configs"][0]["static_configs"] = [{"targets": [target]}]
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.log = home / "prometheus.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [shutil.which("prometheus") or "prometheus", f"--config.file={home / 'prometheus.yml'}",
                 f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list:
        return self.api("query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def panel_queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for name, value in SUBSTITUTE.items():
                    expr = expr.replace(name, value)
                out.append((f"{path.stem}: {panel['title']}", expr))
    return out


def alert_operands(expr: str) -> list[str]:
    """The measured side of each condition of an alert: `A > 3 and B > 0` gives A and B, `absent(X)` gives X.

    An alert expression returns data only while it fires; what must exist is what it compares.
    """
    operands = []
    for part in _top_level(expr):
        part = re.split(r"\s*(?:>|<|==|!=|>=|<=)\s*[\d.]+\s*$", part.strip())[0]
        absent = re.fullmatch(r"absent\((.*)\)", part)
        # `A unless A offset 5m` (series new in the window) is empty once they are older: A is what must exist
        operands.append(re.sub(r"\s+unless\s+[^()]*(?:\([^()]*\))?[^()]*offset \w+", "",
                               absent.group(1) if absent else part))
    return operands


def _top_level(expr: str) -> list[str]:
    """The parts of an expression between its top-level `and`, `or` and `unless`."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"[()]|\s(?:and|or|unless)\s", expr):
        if m.group(0) == "(":
            depth += 1
        elif m.group(0) == ")":
            depth -= 1
        elif depth == 0:
            parts.append(expr[start:m.start()])
            start = m.end()
    return [*parts, expr[start:]]


@pytest.mark.timeout(600)
def test_prometheus_sees_every_panel_and_alert_and_the_overdue_release_alert_fires(settings, kafka_codec,
                                                                                   tmp_path):
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log", ticker=True)
    prometheus = Prometheus(f"127.0.0.1:{worker.web_port}", tmp_path)
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "DT_TOPIC_PREFIX": settings.topic_prefix,
           "DT_PARTITIONS": str(settings.partitions)}
    cli = [sys.executable, "-m", "streams.cli"]
    try:
        subprocess.run([*cli, "agencies", "load", "deploy/agencies.yaml"], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
        start = (datetime.now(UTC) - timedelta(hours=12)).isoformat()
        subprocess.run([*cli, "simulate", "--start", start, "--days", "0.5", "--speed", "0", "--quiet"], env=env,
                       cwd=ROOT, check=True, capture_output=True, timeout=300)
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            for path in sorted(CASES.glob("*.yaml")):  # the worked scenarios reach every kind of decision
                for i, text in enumerate(load(path).jsonl().splitlines(), 1):
                    line = parse_line(i, text, kafka_codec)
                    producer.send(line.type_name, line.record)
            producer._producer.send(kafka_codec.topics.name("bookings"), key=b"POISON", value=b"\x00not avro")
            due = datetime.now(UTC) - timedelta(minutes=5)  # released by no one: overdue from now on
            producer.send("ReleaseBecameDue", {"event_id": "overdue-1", "occurred_at": due, "source": "test",
                                               "booking_id": "OVERDUE-1", "reason": "BAIL_POSTED",
                                               "release_at": due})

        def scraped() -> bool:
            if worker.proc.poll() is not None or prometheus.proc.poll() is not None:
                raise AssertionError(f"a process exited:\n{worker.tail()}\n{prometheus.log.read_text()[-3000:]}")
            return bool(prometheus.query('dt_dead_letters_total > 0')) and bool(
                prometheus.query("dt_releases_overdue > 0"))

        wait_until(scraped, timeout=240, describe="the worker's metrics in Prometheus")
        time.sleep(5)  # a few more scrapes, so that rates over the last minute have two points

        empty = [(name, expr) for name, expr in panel_queries() if not prometheus.query(expr)]
        assert not empty, f"panels without data: {empty}"
        for path in DASHBOARDS:
            for variable in json.loads(path.read_text())["templating"]["list"]:
                if variable["type"] != "query":  # the data source: Grafana's own list, nothing to ask Prometheus
                    continue
                metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"]).groups()
                assert prometheus.api(f"label/{label}/values", **{"match[]": metric}), variable["name"]
        rules = [r for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]]
        for rule in rules:
            for operand in alert_operands(rule["expr"]):
                assert prometheus.query(operand), f"{rule['alert']}: {operand} returns nothing"

        def overdue_firing() -> bool:
            return any(a["labels"]["alertname"] == "ReleaseOverdue" and a["state"] == "firing"
                       for a in prometheus.alerts())

        wait_until(overdue_firing, timeout=150, interval=2, describe="ReleaseOverdue firing")
        # rates look five minutes back: on a slow machine the first burst may be older than that by now
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            # federal immigration CLETS queries (some denied) and a release overdue (a violation), anew
            for path in [*CASES.glob("s29_*.yaml"), *CASES.glob("x03_*.yaml")]:
                for i, text in enumerate(load(path).jsonl().splitlines(), 1):
                    line = parse_line(i, text, kafka_codec)
                    again = {k: f"again-{v}" for k, v in line.record.items()
                             if k in ("event_id", "query_id", "booking_id")}
                    producer.send(line.type_name, {**line.record, **again})
            producer._producer.send(kafka_codec.topics.name("bookings"), key=b"POISON", value=b"\x00not avro")

        def firing() -> set[str]:
            return {a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"}

        wanted = {"DeadLettersArriving", "ComplianceViolation", "FederalImmigrationCletsDenied"}
        wait_until(lambda: wanted <= firing(), timeout=150, interval=2, describe=f"{sorted(wanted)} firing")
        assert "WorkerDown" not in firing()
    finally:
        prometheus.stop()
        worker.stop()

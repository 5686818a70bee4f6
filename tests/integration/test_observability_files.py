"""The alert rules, the Prometheus configs, the dashboards and docker-compose.yml, checked by the real tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from streams.config import ENVIRONMENT, Settings
from streams.core import clets
from streams.core.law import rulebook
from streams.tools.localbroker import DEFAULT_KAFKA_VERSION
from streams.wire.codec import Codec, Coordinates
from streams.wire.jsonlines import parse_line
from streams.wire.schemas import SchemaRegistry
from streams.wire.topics import Topics
from streams.worker.gate import GateWork
from streams.worker.metrics import Metrics
from streams.worker.step import CaseWork
from tests.scenarios.loader import CASES, load

ROOT = Path(__file__).parents[2]
PROM = ROOT / "deploy" / "prometheus"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("promtool") or "promtool", *args], capture_output=True, text=True, timeout=120)


def test_the_alert_rules_are_valid_and_their_unit_tests_pass():
    checked = promtool("check", "rules", str(PROM / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(PROM / "alerts_test.yml"))
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_alert_rule_has_a_unit_test_that_fires_it_and_one_that_does_not():
    rules = [r["alert"] for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    cases = [c for t in tests for c in t.get("alert_rule_test", [])]
    for rule in rules:
        assert any(c["alertname"] == rule and c["exp_alerts"] for c in cases), f"{rule} is never shown firing"
        assert any(c["alertname"] == rule and not c["exp_alerts"] for c in cases), f"{rule} is never shown silent"


def test_a_broken_rule_test_fails(tmp_path):
    """The rule tests can fail: the same test against a rule that waits ten minutes instead of one."""
    (tmp_path / "alerts.yml").write_text((PROM / "alerts.yml").read_text().replace("for: 1m", "for: 10m", 1))
    (tmp_path / "alerts_test.yml").write_text((PROM / "alerts_test.yml").read_text())
    assert promtool("test", "rules", str(tmp_path / "alerts_test.yml")).returncode != 0


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-compose.yml"])
def test_the_prometheus_configs_are_valid(name, tmp_path):
    config = yaml.safe_load((PROM / name).read_text())
    # the compose file names the rules where the container mounts them; check it against ours
    config["rule_files"] = [str(PROM / "alerts.yml")]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _worker_metrics() -> tuple[Metrics, str]:
    """A Metrics fed by the real case step over every scenario, and its exposition text."""
    codec = Codec(SchemaRegistry(Settings().schemas_dir), Topics(Settings()))
    metrics = Metrics(CollectorRegistry(), ["MALFORMED"])
    work, gate, store = CaseWork(rulebook.load(), codec, "t"), GateWork(clets.load_rows(), codec, "t"), {}
    now = datetime(2030, 1, 1, tzinfo=UTC)
    for path in sorted(CASES.glob("*.yaml")):
        for i, text in enumerate(load(path).jsonl().splitlines(), 1):
            line = parse_line(i, text, codec)
            message = codec.encode(line.type_name, line.record)
            where = Coordinates(message.topic, 0, i)
            if line.type_name == "AgencyAgreementRecorded":
                gate.record_agency(where, message.key, message.value, message.headers, now)
                continue
            if line.type_name == "CletsQueryMade":
                metrics.gate_step(*gate.handle_query(where, message.key, message.value, message.headers, now))
                continue
            result = work.handle(store, where, message.key, message.value, message.headers, now)
            store.update(result.writes)
            metrics.case_step(result, "bookings", now, 0.02)
    metrics.set_gauges(work.gauges())
    return metrics, generate_latest(metrics.registry).decode()


def test_the_worker_metrics_pass_promtool_check_metrics():
    _, text = _worker_metrics()
    checked = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], input=text,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    assert "dt_decisions_total{" in text and "dt_hold_duration_seconds_bucket{" in text


def test_no_metric_label_carries_a_booking_person_or_query_id():
    metrics, text = _worker_metrics()
    for family in metrics.registry.collect():
        for sample in family.samples:
            for value in sample.labels.values():
                assert not re.match(r"^(S\d|X\d|Q-|P\d)", value), (sample.name, sample.labels)


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_dashboard_query_reads_metrics_the_worker_exports(path):
    dashboard = json.loads(path.read_text())
    metrics, _ = _worker_metrics()
    names = {s.name for f in metrics.registry.collect() for s in f.samples} | {"up"}
    names |= {f.name for f in metrics.registry.collect()}
    # a labelled counter with no sample yet (no violation so far) is still declared, by its family name
    names |= {f"{f.name}_total" for f in metrics.registry.collect() if f.type == "counter"}
    queries = _exprs(dashboard) + [v["query"]["query"] for v in dashboard["templating"]["list"]
                                   if v["type"] == "query"]
    assert queries
    for expr in queries:
        used = set(re.findall(r"\b(dt_[a-z_]+|up)\b", expr))
        assert used and used <= names, f"{path.name}: {expr} reads {used - names}"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_compliance_dashboard_has_county_and_regime_variables():
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/compliance.json").read_text())
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "county", "regime"}
    assert any("$county" in e for e in _exprs(dashboard)) and any("$regime" in e for e in _exprs(dashboard))


def test_grafana_provisioning_points_at_the_dashboards_the_compose_file_mounts():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/detainer-tracker.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/dashboards"] == path
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for dash in DASHBOARDS:
        dashboard = json.loads(dash.read_text())
        variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "datasource")
        assert variable["type"] == "datasource" and variable["query"] == "prometheus"
        assert variable["current"]["value"] == uid  # the provisioned Prometheus, until someone picks another
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel.get("targets", []))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_panels_do_not_overlap_and_link_to_the_other_dashboard(path):
    dashboard = json.loads(path.read_text())
    boxes = [(p["title"], p["gridPos"]) for p in dashboard["panels"]]
    for i, (a, r) in enumerate(boxes):
        assert r["x"] + r["w"] <= 24, a
        for b, q in boxes[i + 1:]:
            apart = (r["x"] + r["w"] <= q["x"] or q["x"] + q["w"] <= r["x"] or r["y"] + r["h"] <= q["y"]
                     or q["y"] + q["h"] <= r["y"])
            assert apart, f"{path.name}: {a!r} overlaps {b!r}"
    others = {json.loads(d.read_text())["uid"] for d in DASHBOARDS} - {dashboard["uid"]}
    assert {link["url"] for link in dashboard["links"]} == {f"/d/{uid}" for uid in others}


def test_the_panels_that_can_go_wrong_have_thresholds_that_turn_red():
    def steps(name, title):
        dashboard = json.loads((ROOT / "deploy/grafana/dashboards" / name).read_text())
        panel = next(p for p in dashboard["panels"] if p["title"] == title)
        return [(s["color"], s["value"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    assert steps("compliance.json", "Releases overdue") == [("green", None), ("red", 1)]  # red at one person
    assert ("red", 1) in steps("compliance.json", "Violations, by kind")
    assert steps("operations.json", "Workers up") == [("red", None), ("green", 1)]
    assert ("red", 3) in steps("operations.json", "Deadline lateness (effective_at to emission)")


def test_every_compliance_panel_whose_metric_has_a_county_follows_the_county_filter():
    metrics, _ = _worker_metrics()
    by_county = {f.name for f in metrics.registry.collect() if any("county" in s.labels for s in f.samples)}
    by_county |= {"dt_open_cases", "dt_active_holds", "dt_releases_due_next_hour", "dt_releases_overdue"}
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/compliance.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in set(re.findall(r"\b(dt_[a-z_]+?)(?:_total|_bucket|_sum|_count)?\b", target["expr"])):
                if name in by_county:
                    assert re.search(name + r"\w*\{[^}]*county=~\"\$county\"", target["expr"]), \
                        f"{panel['title']}: {target['expr']}"


# --- docker-compose.yml --------------------------------------------------------------------------------------


def _check_compose(path: Path) -> subprocess.CompletedProcess:
    tool = Path(shutil.which("check-jsonschema") or Path(__import__("sys").executable).parent / "check-jsonschema")
    return subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True,
                          text=True, timeout=120)


def test_docker_compose_follows_the_compose_specification(tmp_path):
    result = _check_compose(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("    expose:\n", "    exposes:\n"))
    assert _check_compose(broken).returncode != 0


def test_docker_compose_mounts_files_that_exist_and_names_only_settings_the_worker_reads():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "topics", "worker", "simulator", "prometheus", "grafana"} <= set(services)
    assert services["simulator"]["profiles"] == ["sim"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
        if service.get("build"):
            assert (ROOT / service["build"] / "Dockerfile").exists()
            known = {s.env for s in ENVIRONMENT.values()}
            named = {k for k in service.get("environment", {}) if k.startswith("DT_")}
            assert named <= known, f"{name} sets {named - known}, which nothing reads"
    worker = services["worker"]
    port = worker["environment"]["DT_WEB_PORT"]
    assert worker["expose"] == [port] and worker["environment"]["DT_WEB_BIND"] == "0.0.0.0"
    scrape = yaml.safe_load((PROM / "prometheus-compose.yml").read_text())["scrape_configs"][0]
    assert str(scrape["dns_sd_configs"][0]["port"]) == port and scrape["dns_sd_configs"][0]["names"] == ["worker"]
    assert set(yaml.safe_load((PROM / "prometheus-compose.yml").read_text())["rule_files"]) == {
        v.split(":")[1] for v in services["prometheus"]["volumes"] if "alerts" in v}
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller" and "kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"]


def test_docker_compose_keeps_kafka_on_its_volume_one_state_per_worker_and_the_local_kafka_version():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"] == f"apache/kafka:{DEFAULT_KAFKA_VERSION}"  # the broker `make run` and the tests use
    mounted = {v.split(":")[1] for v in kafka["volumes"] if ":" in v}
    assert kafka["environment"]["KAFKA_LOG_DIRS"] in mounted  # the log is on the volume, not in the container
    worker = services["worker"]
    data_dir = worker["environment"]["DT_DATA_DIR"]
    # an anonymous volume (no source): every replica of --scale gets its own data dir
    assert data_dir in worker["volumes"] and not any(":" in v for v in worker["volumes"])
    assert "worker-data" not in (compose.get("volumes") or {})
    check = " ".join(worker["healthcheck"]["test"])
    assert f"127.0.0.1:{worker['environment']['DT_WEB_PORT']}/metrics" in check



def test_every_alert_has_a_runbook_section_that_says_what_it_means_and_what_to_do():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", runbook, re.M | re.S))
    rules = [r for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md" and (ROOT / path).exists(), f"{rule['alert']}: runbook_url {url!r}"
        heading = next((h for h in sections if h.lower() == anchor), None)  # a heading's anchor is its lower case
        assert heading == rule["alert"], f"{rule['alert']}: no section #{anchor} in docs/runbook.md"
        assert "**Means:**" in sections[heading] and "**Do" in sections[heading], heading
    assert set(sections) == {r["alert"] for r in rules}, "a runbook section for an alert that does not exist"

"""The Kubernetes manifests: derived from the code's topics, the roles file and the alert rules, never drifting
from them, and the core resources valid against the Kubernetes schemas."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from streams.cli import main
from streams.config import ENVIRONMENT, Settings
from streams.tools import access
from streams.tools.kubernetes import DEFAULT_OUT, REPO_ROOT, Options, grants_of, render
from streams.wire.topics import Topics

SETTINGS = Settings()
KUBERNETES_VERSION = "1.30.0"  # the oldest release still maintained when these were written; later ones accept it


def docs(name: str, files: dict[str, str] | None = None) -> list[dict]:
    text = (files or {}).get(name) or (DEFAULT_OUT / name).read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_committed_manifests_are_what_the_declarations_give(capsys):
    for name, text in render(SETTINGS).items():
        assert (DEFAULT_OUT / name).read_text() == text, f"{name} is stale: run detainer-tracker deploy kubernetes"
    assert main(["deploy", "kubernetes", "--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_every_declared_topic_is_a_kafka_topic_with_its_partitions_and_configs():
    topics = {t.name: t for t in Topics(SETTINGS)}
    declared = {d["spec"]["topicName"]: d for d in docs("topics.yaml")}
    assert set(declared) == set(topics)
    for name, doc in declared.items():
        assert doc["kind"] == "KafkaTopic" and doc["metadata"]["labels"]["strimzi.io/cluster"] == Options().cluster
        assert doc["spec"]["partitions"] == topics[name].partitions
        assert doc["spec"]["config"] == topics[name].configs
        assert doc["spec"]["replicas"] == Options().replicas


def test_every_principal_is_a_kafka_user_with_exactly_the_acls_of_the_roles_file():
    plan = access.load(access.DEFAULT_ROLES, Topics(SETTINGS), SETTINGS.app_id)
    users = {d["metadata"]["name"]: d for d in docs("users.yaml")}
    assert set(users) == set(plan.principals)
    written = set()
    for name, doc in users.items():
        assert doc["spec"]["authorization"]["type"] == "simple"
        written |= grants_of(doc["spec"]["authorization"]["acls"], f"User:{name}")
    assert written == set(plan.grants)


def test_the_acls_follow_a_changed_roles_file(tmp_path):
    narrower = access.DEFAULT_ROLES.read_text().replace("  federal: [federal-partner]\n", "")
    roles = tmp_path / "roles.yaml"
    roles.write_text(narrower)
    users = {d["metadata"]["name"] for d in docs("users.yaml", render(SETTINGS, roles=roles))}
    assert "federal" not in users and "worker" in users


@pytest.mark.parametrize("name", ["worker.yaml", "dashboards.yaml"])
def test_the_core_resources_validate_against_the_kubernetes_schemas(name):
    for doc in docs(name):
        assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_resource_the_schema_refuses_is_refused():
    stateful = next(d for d in docs("worker.yaml") if d["kind"] == "StatefulSet")
    stateful["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(stateful, KUBERNETES_VERSION, strict=True)


def test_the_workers_keep_a_volume_each_reach_kafka_over_tls_and_hold_no_secret():
    stateful = next(d for d in docs("worker.yaml") if d["kind"] == "StatefulSet")
    assert stateful["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    (container,) = stateful["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) <= {s.env for s in ENVIRONMENT.values()}, "every variable is a setting the code reads"
    assert env["DT_SECURITY_PROTOCOL"]["value"] == "SASL_SSL" and env["DT_SSL_CAFILE"]["value"].startswith("/etc/")
    assert "value" not in env["DT_SASL_PASSWORD"] and env["DT_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert env["DT_PARTITIONS"]["value"] == str(SETTINGS.partitions)
    assert stateful["spec"]["replicas"] <= SETTINGS.partitions
    kafka = next(d for d in docs("kafka.yaml") if d["kind"] == "Kafka")
    assert all(listener["tls"] for listener in kafka["spec"]["kafka"]["listeners"])
    # the certificate form: the worker's certificate and key from its KafkaUser's Secret, on the mTLS listener
    tls = render(SETTINGS, Options(authentication="tls"))
    (container,) = next(d for d in docs("worker.yaml", tls) if d["kind"] == "StatefulSet")[
        "spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DT_SECURITY_PROTOCOL"] == "SSL" and env["DT_BOOTSTRAP_SERVERS"].endswith(":9094")
    assert "DT_SASL_PASSWORD" not in env


def test_the_metrics_are_scraped_and_the_alert_rules_are_the_ones_tested():
    monitor, rule = docs("monitoring.yaml")
    stateful = next(d for d in docs("worker.yaml") if d["kind"] == "StatefulSet")
    pod_labels = stateful["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = stateful["spec"]["template"]["spec"]["containers"]
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in {p["name"] for p in container["ports"]}
    alerts = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["kind"] == "PrometheusRule" and rule["spec"]["groups"] == alerts["groups"]
    boards = {name for d in docs("dashboards.yaml") for name in d["data"]}
    assert boards == {p.name for p in (REPO_ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")}


def test_more_workers_than_partitions_is_refused(capsys, tmp_path):
    assert main(["deploy", "kubernetes", "--workers", "7", "--out", str(tmp_path)]) == 2
    assert "--workers must be 1 to 6" in capsys.readouterr().err

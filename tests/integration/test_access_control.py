"""A secured broker (SASL/SCRAM, StandardAuthorizer) with the ACLs of deploy/access/roles.yaml: each principal
may do what its role says and is refused the rest; the real worker runs as its principal."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from streams.cli import main
from streams.config import Settings, client_context
from streams.tools import access
from streams.tools.admin import admin_client, create_topics
from streams.tools.localbroker import ADMIN_USER, LocalBroker, free_port
from streams.tools.produce import EventProducer
from streams.wire.codec import Codec, Coordinates, Decoded
from streams.wire.jsonlines import parse_line
from streams.wire.reach import AccessRefused, check
from streams.wire.topics import Topics
from tests.scenarios.loader import CASES, load
from tests.support.access import acls_listed_anonymously, may_read, may_write, read
from tests.support.worker import WorkerProcess

PLAN_FILE = access.DEFAULT_ROLES
CASE_INPUT_IDS = ("bookings", "biometrics", "detainers", "court")
OUTPUT_IDS = ("decisions", "custody_commands", "violations", "notices", "federal_status", "clets_decisions")


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[LocalBroker]:
    """A secured broker with a SCRAM user for admin and every principal of the shipped roles file."""
    principals = access.load(PLAN_FILE, Topics(Settings()), Settings().app_id).principals
    users = {name: secrets.token_urlsafe(12) for name in (ADMIN_USER, *principals)}
    b = LocalBroker(home=tmp_path_factory.mktemp("kafka-secured"), port=free_port(), controller_port=free_port(),
                    users=users, mtls_port=free_port())
    b.start()
    yield b
    b.stop()


def _settings(broker: LocalBroker, user: str, prefix: str) -> Settings:
    return Settings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=3,
                    security_protocol="SASL_SSL", ssl_cafile=str(broker.ca_file), sasl_username=user,
                    sasl_password=broker.users[user])


@pytest.fixture
def prefix(secured) -> str:
    """A topic prefix of this test's own; its topics created by admin and the roles file's ACLs applied."""
    name = f"s{uuid.uuid4().hex[:8]}."
    settings = _settings(secured, ADMIN_USER, name)
    admin = admin_client(settings.kafka_client_config())
    try:
        create_topics(admin, Topics(settings))
        access.apply(admin, access.load(PLAN_FILE, Topics(settings), settings.app_id))
    finally:
        admin.close()
    return name


def _env(settings: Settings) -> dict[str, str]:
    return {"DT_SECURITY_PROTOCOL": settings.security_protocol, "DT_SASL_USERNAME": settings.sasl_username,
            "DT_SASL_PASSWORD": settings.sasl_password, "DT_SSL_CAFILE": settings.ssl_cafile,
            "DT_SSL_CERTFILE": settings.ssl_certfile, "DT_SSL_KEYFILE": settings.ssl_keyfile}


def _cli(settings: Settings, *args: str) -> int:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(settings).items():
            mp.setenv(k, v)
        return main(["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
                     "--partitions", str(settings.partitions), *args])


def test_the_federal_partner_reads_the_status_feed_and_nothing_else(secured, prefix):
    topics = Topics(_settings(secured, ADMIN_USER, prefix))
    federal = secured.client_config("federal")
    assert may_write(secured.client_config("worker"), topics.name("federal_status"))  # something to read
    assert len(read(federal, topics.name("federal_status"))) == 1
    for t in topics:
        if t.spec.id != "federal_status":
            assert not may_read(federal, t.name), f"the federal partner could read {t.name}"
    for t in topics:
        assert not may_write(federal, t.name), f"the federal partner could write {t.name}"


def test_a_jail_producer_writes_its_inputs_and_reads_nothing(secured, prefix):
    topics = Topics(_settings(secured, ADMIN_USER, prefix))
    jail = secured.client_config("jail")
    for topic_id in (*CASE_INPUT_IDS, "clets_queries"):
        assert may_write(jail, topics.name(topic_id)), f"the jail could not write {topic_id}"
    for topic_id in ("decisions", "federal_status", "bookings", "clets_agreements"):
        assert not may_read(jail, topics.name(topic_id)), f"the jail could read {topic_id}"
    for topic_id in ("decisions", "custody_commands", "clock", "clets_agreements"):
        assert not may_write(jail, topics.name(topic_id)), f"the jail could write {topic_id}"


def test_dashboards_and_auditors_read_and_never_write(secured, prefix):
    topics = Topics(_settings(secured, ADMIN_USER, prefix))
    dashboard, auditor = secured.client_config("dashboard"), secured.client_config("auditor")
    for topic_id in OUTPUT_IDS:
        assert may_read(dashboard, topics.name(topic_id)) and may_read(auditor, topics.name(topic_id))
    assert not may_read(dashboard, topics.name("bookings"))
    assert may_read(auditor, topics.name("bookings"))
    for topic_id in ("decisions", "bookings"):
        assert not may_write(dashboard, topics.name(topic_id)) and not may_write(auditor, topics.name(topic_id))


def test_no_client_gets_in_without_credentials_on_any_listener(secured):
    """No listener lets an unauthenticated client in, in the clear or over TLS trusting the CA; on the controller
    listener it could rewrite the ACLs."""
    trusting = client_context(secured.ca_file)
    for port in (secured.port, secured.controller_port, secured.mtls_port):
        assert acls_listed_anonymously(port) is None, f"port {port} answered an unauthenticated ACL listing"
        assert acls_listed_anonymously(port, context=trusting) is None, \
            f"port {port} answered an unauthenticated ACL listing over TLS"


def test_every_listener_is_tls_and_a_client_that_does_not_trust_the_ca_is_refused(secured, prefix, capsys):
    for port in (secured.port, secured.controller_port, secured.mtls_port):
        with socket.create_connection(("127.0.0.1", port)) as plain:
            with client_context(secured.ca_file).wrap_socket(plain, server_hostname="127.0.0.1") as tls:
                assert tls.version() == "TLSv1.3", port
    # TLS 1.2 is still taken; the host name is checked
    older = client_context(secured.ca_file)
    older.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", secured.port)) as plain:
        with older.wrap_socket(plain, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.2"
    with socket.create_connection(("127.0.0.1", secured.port)) as plain:
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            client_context(secured.ca_file).wrap_socket(plain, server_hostname="kafka.example.org")
    # the system's CAs do not sign the local broker: the CLI says the certificate is not trusted, at once
    untrusting = dataclasses.replace(_settings(secured, "worker", prefix), ssl_cafile="")
    began = time.monotonic()
    assert _cli(untrusting, "topics", "create") == 2
    assert "is not trusted" in capsys.readouterr().err and time.monotonic() - began < 10


def test_a_wrong_password_is_reported_as_such_within_seconds(secured, prefix, capsys):
    wrong = dataclasses.replace(_settings(secured, "worker", prefix), sasl_password="not-the-password")
    began = time.monotonic()
    assert _cli(wrong, "topics", "create") == 2
    err = capsys.readouterr().err
    assert "refused the login of 'worker'" in err and "invalid credentials" in err, err
    assert time.monotonic() - began < 10
    assert "not-the-password" not in err


def test_a_client_certificate_is_its_principal_and_the_acls_apply_to_it(secured, prefix, capsys):
    topics = Topics(_settings(secured, ADMIN_USER, prefix))
    federal = secured.certificate_config("federal")
    assert may_write(secured.client_config("worker"), topics.name("federal_status"))
    assert len(read(federal, topics.name("federal_status"))) >= 1
    assert not may_read(federal, topics.name("bookings"))
    assert not may_write(federal, topics.name("federal_status"))
    # the CLI over SSL with admin's certificate: the ACL check, which only the super user may run
    issued = secured.client_certificate(ADMIN_USER)
    admin = Settings(bootstrap_servers=f"127.0.0.1:{secured.mtls_port}", topic_prefix=prefix, partitions=3,
                     security_protocol="SSL", ssl_cafile=str(secured.ca_file), ssl_certfile=str(issued.cert),
                     ssl_keyfile=str(issued.key))
    assert _cli(admin, "acl", "check") == 0
    assert "the broker's ACLs match the roles file" in capsys.readouterr().out
    # without a certificate the mTLS port says it wants one
    with pytest.raises(AccessRefused, match="client certificate"):
        check({"bootstrap_servers": f"127.0.0.1:{secured.mtls_port}", "security_protocol": "SSL",
               "ssl_context": client_context(secured.ca_file)})


def test_the_broker_keeps_its_secrets_to_itself(secured):
    config = secured.home / "server.properties"
    assert config.stat().st_mode & 0o777 == 0o600
    assert secured.home.stat().st_mode & 0o777 == 0o700
    assert "User:ANONYMOUS" not in config.read_text()
    assert secured.tls_dir.stat().st_mode & 0o777 == 0o700
    for key in [*secured.tls_dir.glob("*.key"), *secured.tls_dir.glob("*.pem")]:
        if key.name != "ca.pem":
            assert key.stat().st_mode & 0o777 == 0o600, key
    assert not (secured.home / "format.args").exists()  # the passwords' argument file is gone after the format
    # no password in any log the broker wrote, nor on its command line
    logs = "".join(p.read_text(errors="replace") for p in (secured.home / "logs").glob("*") if p.is_file())
    cmdline = Path(f"/proc/{secured.pid()}/cmdline").read_bytes().decode(errors="replace")
    for password in secured.users.values():
        assert password not in logs and password not in cmdline


def test_no_secret_in_help_or_status_output(secured, capsys, monkeypatch):
    monkeypatch.setenv("DT_SASL_PASSWORD", secured.users["worker"])
    monkeypatch.setenv("DT_SASL_USERNAME", "worker")
    monkeypatch.setenv("DT_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DT_SSL_CAFILE", str(secured.ca_file))
    for argv in (["--help"], ["worker", "--help"], ["broker", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    assert main(["broker", "status", "--home", str(secured.home), "--port", str(secured.port)]) == 0
    out = capsys.readouterr()
    assert "running at" in out.out
    for password in secured.users.values():
        assert password not in out.out + out.err
    assert secured.users["worker"] not in repr(Settings.from_env())


def test_acl_apply_is_idempotent_and_check_reports_what_each_may_do(secured, prefix, capsys):
    admin_settings = _settings(secured, ADMIN_USER, prefix)
    assert _cli(admin_settings, "acl", "apply") == 0
    assert "0 ACL(s) created, 0 removed" in capsys.readouterr().out
    assert _cli(admin_settings, "acl", "check") == 0
    out = capsys.readouterr().out
    assert "the broker's ACLs match the roles file" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("User:")]
    assert [r for r in rows if r[0] == "User:federal"] == [
        ["User:federal", prefix + "federal.status", "read"],
        ["User:federal", "consumer", "groups", prefix + "federal-partner-*"]]
    assert ["User:jail", prefix + "jail.bookings", "write"] in rows
    assert not [r for r in rows if r[0] == "User:jail" and "read" in r[2:]]
    assert ["User:worker", prefix + "federal.status", "read,", "write"] in rows  # read: its tail, after a restart
    # a principal without ACL-writing rights cannot change them
    assert _cli(_settings(secured, "worker", prefix), "acl", "apply") == 2
    # a roles file that grants less: check says so; apply --prune takes the extra grants away
    narrower = PLAN_FILE.read_text().replace("  federal: [federal-partner]\n", "")
    path = secured.home / f"{prefix}roles.yaml"
    path.write_text(narrower.replace("read: [federal_status]", "read: []"))
    capsys.readouterr()
    assert _cli(admin_settings, "acl", "apply", str(path), "--prune") == 0
    assert "0 created, 0 removed" in capsys.readouterr().out.replace(" ACL(s)", "")  # federal: not its principal
    original = PLAN_FILE.read_text()
    path.write_text(original.replace("    read: [federal_status]\n", "    read: []\n"))
    assert _cli(admin_settings, "acl", "check", str(path)) == 1
    assert "NOT in the roles file: User:federal READ TOPIC " + prefix + "federal.status" in capsys.readouterr().out
    assert _cli(admin_settings, "acl", "apply", str(path), "--prune") == 0
    assert not may_read(secured.client_config("federal"), prefix + "federal.status")


def test_the_worker_runs_as_its_principal(secured, prefix, registry, tmp_path):
    """The real worker, as `worker`, decides a scenario the jail produced, and again after a restart; the federal
    partner sees the status."""
    worker_settings = _settings(secured, "worker", prefix)
    codec = Codec(registry, Topics(worker_settings))
    scenario = load(CASES / "s32_values_act_status_may_be_shared_release_date_may_not.yaml")
    lines = [parse_line(i, line, codec) for i, line in enumerate(scenario.jsonl().splitlines(), 1)]
    env = _env(worker_settings)
    worker = WorkerProcess(worker_settings, tmp_path / "w", tmp_path / "worker.log", env=env)
    federal = secured.client_config("federal")

    def status_facts(n: int) -> list:
        for _ in range(60):
            records = read(federal, codec.topics.name("federal_status"), timeout=5)
            if len(records) >= n or worker.proc.poll() is not None:
                return records
        return records

    try:
        # one event at a time: they sit on two topics, and the worker does not order events across topics
        with EventProducer(_settings(secured, "jail", prefix).kafka_client_config(), codec) as producer:
            n = 0  # each of the scenario's two events gives one status fact; its booking record none
            for line in lines:
                producer.send(line.type_name, line.record).get(timeout=30)
                n += line.type_name != "BookingRecorded"
                records = status_facts(n)
                assert len(records) == n, worker.tail()
        facts = []
        for r in records:
            decoded = codec.decode(r.value, list(r.headers), Coordinates(r.topic, r.partition, r.offset), r.key)
            assert isinstance(decoded, Decoded)
            facts.append(decoded.record)
        assert {f["status"] for f in facts} == {"LAWFUL_PERMANENT_RESIDENT"}
        assert all(set(f) == {"output_id", "booking_id", "person_id", "status", "effective_at", "decided_at",
                              "regime", "rule_id", "citation", "evidence"} for f in facts)
        # restarted, the worker first reads its outputs' tail (to send nothing twice), as its own principal
        worker.stop()
        worker = WorkerProcess(worker_settings, tmp_path / "w", tmp_path / "worker2.log", env=env)
        again = {**lines[-1].record, "event_id": "S32-again", "inquiry_id": "I2"}
        with EventProducer(_settings(secured, "jail", prefix).kafka_client_config(), codec) as producer:
            producer.send(lines[-1].type_name, again).get(timeout=30)
        assert len(status_facts(n + 1)) == n + 1, worker.tail()
        assert worker.proc.poll() is None, worker.tail()
    finally:
        worker.stop()
    logs = (tmp_path / "worker.log").read_text() + (tmp_path / "worker2.log").read_text()
    assert secured.users["worker"] not in logs
    admin = KafkaAdminClient(**secured.client_config())
    try:
        assert admin.list_group_offsets(worker_settings.app_id)  # it committed, as its own group
    finally:
        admin.close()

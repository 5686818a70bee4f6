"""The local broker's life cycle, on a broker of its own (not the session's)."""

import os
import socket
import subprocess

import pytest

from streams.errors import BrokerError
from streams.tools.localbroker import LocalBroker, free_port


@pytest.fixture
def own_broker(tmp_path):
    b = LocalBroker(home=tmp_path / "broker", port=free_port(), controller_port=free_port(), heap="384m")
    yield b
    b.stop()


def test_start_twice_stop_twice_stale_pid_and_restart_after_a_crash(own_broker):
    b = own_broker
    assert b.start() is True
    first = b.pid()
    assert first is not None
    assert b.start() is False, "a second start must be a no-op"
    assert b.pid() == first

    b.kill()  # a crash: the pid file stays behind, pointing at a dead process
    assert b.pid_file.exists()
    assert b.pid() is None, "a stale pid file is recognised"
    assert not b.pid_file.exists(), "and removed"

    assert b.start() is True, "start after a crash works on the same data"
    assert b.stop() is True
    assert b.stop() is False, "stopping a stopped broker is a no-op"
    assert not b.pid_file.exists()
    assert b.strays() == [], "no broker process of this home is left running"


def test_a_pid_file_naming_another_live_process_is_not_taken_for_the_broker(own_broker):
    other = subprocess.Popen(["sleep", "60"])
    try:
        own_broker.home.mkdir(parents=True)
        own_broker.pid_file.write_text(f"{other.pid}\n")
        assert own_broker.pid() is None
        assert own_broker.stop() is False
        assert other.poll() is None, "stop must never signal a process that is not our broker"
    finally:
        other.kill()
        other.wait()


def test_a_failed_start_names_the_log_and_shows_its_last_lines(tmp_path):
    b = LocalBroker(home=tmp_path / "bad", port=free_port(), controller_port=free_port(), heap="1k")
    with pytest.raises(BrokerError) as info:
        b.start(timeout=60)
    message = str(info.value)
    assert "exited during start-up" in message
    assert str(b.out_file) in message
    assert "heap" in message.lower()
    assert b.pid() is None


def test_a_port_in_use_is_reported_before_starting(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        b = LocalBroker(home=tmp_path / "busy", port=port, controller_port=free_port())
        with pytest.raises(BrokerError, match=f"port {port} .* in use"):
            b.start()


def test_the_session_broker_is_a_real_kafka_answering_metadata(broker):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert cluster["brokers"][0]["port"] == broker.port
    assert os.kill(broker.pid(), 0) is None

"""`detainer-tracker topics list` says what the broker holds of each declared topic, and never claims topics a
broker it cannot reach might not have."""

import os
import socket
import subprocess
import sys
import uuid


def _cli(bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DT_BOOTSTRAP_SERVERS": bootstrap, "DT_TOPIC_PREFIX": prefix, "DT_PARTITIONS": "3",
           "DT_CONNECT_TIMEOUT": "5"}
    return subprocess.run([sys.executable, "-m", "streams.cli", "topics", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_list_says_what_the_broker_holds(broker):
    prefix = f"l{uuid.uuid4().hex[:8]}."
    before = _cli(broker.bootstrap, prefix, "list")
    assert before.returncode == 1, before.stderr
    lines = before.stdout.splitlines()
    assert len(lines) >= 14 and all("broker MISSING" in line for line in lines), before.stdout
    assert "missing or with another partition count" in before.stderr
    assert _cli(broker.bootstrap, prefix, "create").returncode == 0
    after = _cli(broker.bootstrap, prefix, "list")
    assert after.returncode == 0, after.stderr
    assert all("broker present" in line for line in after.stdout.splitlines()), after.stdout
    declared = _cli(broker.bootstrap, prefix, "list", "--declared")
    assert declared.returncode == 0 and "broker" not in declared.stdout
    import json

    shown = [json.loads(line) for line in _cli(broker.bootstrap, prefix, "list", "--json").stdout.splitlines()]
    assert len(shown) == len(lines) and all(t["on_broker"] and t["broker_partitions"] == t["partitions"]
                                            for t in shown)
    assert next(t for t in shown if t["id"] == "bookings")["name"] == f"{prefix}jail.bookings"


def test_list_with_an_unreachable_broker_is_an_error_not_a_list():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _cli(f"127.0.0.1:{port}", "dt.", "list")
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot reach Kafka" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _cli(f"127.0.0.1:{port}", "dt.", "list", "--declared").returncode == 0  # the declarations need no broker

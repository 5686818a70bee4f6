"""Trying a read or a write as some principal, and telling 'refused by an ACL' from anything else."""

from __future__ import annotations

import ssl
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)

REFUSED = (
    ClusterAuthorizationFailedError,
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)


def read(config: dict, topic: str, timeout: float = 20.0) -> list:
    """Every record of a topic, read group-less from the beginning; raises what the broker says.

    A principal that may not describe the topic sees no partitions; it is then pointed at partition 0, so the
    fetch itself shows the refusal.
    """
    consumer = KafkaConsumer(
        enable_auto_commit=False, group_id=None, auto_offset_reset="earliest", consumer_timeout_ms=2000, **config
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(tps)
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            got += [r for records in batch.values() for r in records]
            if not batch and all(consumer.position(tp) >= end for tp, end in consumer.end_offsets(tps).items()):
                return got
        return got
    finally:
        consumer.close()


def may_read(config: dict, topic: str) -> bool:
    """True when the read works, False when an ACL refuses it (any other error is raised)."""
    try:
        read(config, topic)
    except REFUSED:
        return False
    return True


def write(config: dict, topic: str, value: bytes = b"probe", timeout: float = 20.0) -> None:
    """Produce one record and wait for the broker's answer; raises what the broker says."""
    producer = KafkaProducer(acks="all", max_block_ms=int(timeout * 1000), **config)
    try:
        producer.send(topic, key=b"probe", value=value, partition=0).get(timeout=timeout)
    finally:
        producer.close(timeout=5)


def refused(exc: Exception) -> bool:
    """True when the broker refused for want of an ACL (kafka-python sometimes wraps the error in a message)."""
    return isinstance(exc, REFUSED) or "AuthorizationFailed" in str(exc)


def may_write(config: dict, topic: str) -> bool:
    """True when the write is acknowledged, False when an ACL refuses it (any other error is raised)."""
    try:
        write(config, topic)
    except KafkaError as exc:
        if refused(exc):
            return False
        raise
    return True


def acls_listed_anonymously(port: int, timeout: float = 10.0, context: ssl.SSLContext | None = None) -> int | None:
    """Ask a listener for every ACL without authenticating (DescribeAcls v1, hand-framed, as any tool could).

    With `context`, over TLS first (a client that trusts the CA but has no credentials). Returns the error code of
    the answer (0: the listener gave them out) or None when it refused to talk.
    """
    import socket
    import struct

    body = struct.pack(">bhbhhbb", 1, -1, 1, -1, -1, 1, 1)  # every resource, pattern, principal, host, operation
    client = b"intruder"
    header = struct.pack(">hhih", 29, 1, 7, len(client)) + client
    frame = header + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
            s = context.wrap_socket(plain, server_hostname="127.0.0.1") if context else plain
            s.sendall(struct.pack(">i", len(frame)) + frame)
            size = s.recv(4)
            if len(size) < 4:
                return None
            answer = b""
            while len(answer) < 10:
                chunk = s.recv(struct.unpack(">i", size)[0])
                if not chunk:
                    return None
                answer += chunk
    except OSError:
        return None
    correlation, _throttle, error = struct.unpack(">iih", answer[:10])
    assert correlation == 7
    return error

"""Roles as data: the roles file, the ACL bindings it means, and how Kafka would judge them."""

from __future__ import annotations

import pytest

from streams.config import Settings
from streams.errors import ConfigError
from streams.tools import access
from streams.wire.topics import CASE_OUTPUTS, Topics

SETTINGS = Settings(topic_prefix="dt.")
TOPICS = Topics(SETTINGS)
PLAN = access.load(access.DEFAULT_ROLES, TOPICS, SETTINGS.app_id)
GRANTS = PLAN.grants


def may(user: str, op: str, topic_id: str) -> bool:
    return access.allows(GRANTS, f"User:{user}", op, "TOPIC", TOPICS.name(topic_id))


def test_the_federal_partner_may_read_the_status_feed_and_nothing_else():
    for t in TOPICS:
        assert may("federal", "READ", t.spec.id) == (t.spec.id == "federal_status"), t.name
        assert not may("federal", "WRITE", t.spec.id)


def test_jail_producers_write_only_their_inputs_and_read_nothing():
    inputs = {"bookings", "biometrics", "detainers", "court", "clets_queries"}
    for t in TOPICS:
        assert may("jail", "WRITE", t.spec.id) == (t.spec.id in inputs), t.name
        assert not may("jail", "READ", t.spec.id)


def test_the_worker_reads_every_input_and_writes_every_output_but_no_input():
    for topic_id in ("bookings", "biometrics", "detainers", "court", "clock", "clets_queries", "clets_agreements"):
        assert may("worker", "READ", topic_id)
    for topic_id in (*CASE_OUTPUTS, "clets_decisions", "deadletter", "clock"):
        assert may("worker", "WRITE", topic_id)
    for topic_id in (*CASE_OUTPUTS, "clets_decisions"):  # their recent tail, read after a restart
        assert may("worker", "READ", topic_id)
    for topic_id in ("bookings", "detainers", "clets_agreements", "clets_queries"):
        assert not may("worker", "WRITE", topic_id)
    assert access.allows(GRANTS, "User:worker", "CREATE", "TOPIC", "dt.case-processor-cases-changelog")
    assert access.allows(GRANTS, "User:worker", "READ", "GROUP", "dt.case-processor")
    assert not access.allows(GRANTS, "User:worker", "CREATE", "TOPIC", "dt.decisions")
    # an auditor reads a booking's state from the changelog (`detainer-tracker state`), and writes nothing there
    assert access.allows(GRANTS, "User:auditor", "READ", "TOPIC", "dt.case-processor-cases-changelog")
    assert not access.allows(GRANTS, "User:auditor", "WRITE", "TOPIC", "dt.case-processor-cases-changelog")
    assert not access.allows(GRANTS, "User:jail", "READ", "TOPIC", "dt.case-processor-cases-changelog")


def test_read_and_write_imply_describe_and_prefixes_match_by_prefix():
    grant = access.Grant("User:a", "GROUP", "dt.auditor-", "PREFIXED", "READ")
    assert grant.covers("User:a", "DESCRIBE", "GROUP", "dt.auditor-1")
    assert not grant.covers("User:a", "READ", "GROUP", "dt.audito")
    assert not grant.covers("User:b", "READ", "GROUP", "dt.auditor-1")
    assert access.Grant("User:*", "TOPIC", "*", "LITERAL", "ALL").covers("User:x", "WRITE", "TOPIC", "any")


def test_groups_and_app_resources_live_under_the_topic_prefix():
    assert all(g.name.startswith("dt.") for g in GRANTS), sorted(g for g in GRANTS if not g.name.startswith("dt."))
    assert PLAN.owns(access.Grant("User:federal", "TOPIC", "dt.x", "LITERAL", "READ"))
    assert not PLAN.owns(access.Grant("User:federal", "TOPIC", "other.x", "LITERAL", "READ"))
    assert not PLAN.owns(access.Grant("User:stranger", "TOPIC", "dt.x", "LITERAL", "READ"))


def test_the_matrix_says_who_may_read_and_write_each_topic():
    rows = {(p, t): can for p, t, can in access.matrix(GRANTS, ["User:auditor", "User:worker"],
                                                        [TOPICS.name("bookings"), TOPICS.name("clock")])}
    assert rows[("User:auditor", "dt.jail.bookings")] == "read"
    assert rows[("User:worker", "dt.clock")] == "read, write"


@pytest.mark.parametrize(("text", "message"), [
    ("roles: {a: {read: [nosuch]}}\nprincipals: {x: [a]}\n", "unknown topic id"),
    ("roles: {a: {reed: [bookings]}}\nprincipals: {x: [a]}\n", "unknown key"),
    ("roles: {a: {read: [bookings]}}\nprincipals: {x: [b]}\n", "unknown role"),
    ("roles: []\n", "needs a `roles` mapping"),
])
def test_a_bad_roles_file_is_refused_saying_where(tmp_path, text, message):
    path = tmp_path / "roles.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        access.load(path, TOPICS, SETTINGS.app_id)

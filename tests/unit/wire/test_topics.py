import pytest

from streams.config import Settings
from streams.errors import ConfigError
from streams.wire.topics import CASE_INPUTS, FOREVER, SPECS, Topics


def test_names_carry_the_configured_prefix():
    topics = Topics(Settings(topic_prefix="county7."))
    assert topics.name("bookings") == "county7.jail.bookings"
    assert topics.name("notices") == "county7.notices.truth-act"
    assert all(t.name.startswith("county7.") for t in topics)


def test_architecture_topics_are_all_declared():
    names = {t.name for t in Topics(Settings())}
    assert names == {
        "dt.jail.bookings", "dt.biometrics.matches", "dt.ice.detainers", "dt.court.events", "dt.clock",
        "dt.decisions", "dt.custody.commands", "dt.compliance.violations", "dt.notices.truth-act",
        "dt.federal.status", "dt.corrections", "dt.clets.queries", "dt.clets.agreements", "dt.clets.decisions",
        "dt.deadletter"}


def test_case_topics_clock_and_booking_outputs_are_co_partitioned():
    topics = Topics(Settings(partitions=9))
    booking_keyed = [t for t in topics if t.spec.key_field == "booking_id"] + [topics["clock"]]
    assert len(booking_keyed) == 11
    assert {t.partitions for t in booking_keyed} == {9}
    assert all(topics[i].spec.key_field == "booking_id" for i in CASE_INPUTS)


def test_inputs_decisions_and_dead_letters_are_kept_forever_and_the_registry_compacted():
    topics = Topics(Settings())
    for topic_id in (*CASE_INPUTS, "clets_queries", "decisions", "deadletter"):
        assert topics[topic_id].configs["retention.ms"] == str(FOREVER)
        assert topics[topic_id].configs["retention.bytes"] == str(FOREVER)
        assert topics[topic_id].configs["cleanup.policy"] == "delete"
    assert topics["clets_agreements"].configs["cleanup.policy"] == "compact"
    assert topics["clets_agreements"].partitions == 1
    # ticks carry event times that may lie years back: kept by size, never deleted by age
    assert topics["clock"].configs["retention.ms"] == str(FOREVER)
    assert int(topics["clock"].configs["retention.bytes"]) > 0


def test_each_event_type_has_exactly_one_topic_and_each_topic_one_writer():
    topics = Topics(Settings())
    assert topics.for_event("DetainerLodged").name == "dt.ice.detainers"
    assert topics.for_event("ClockTicked").name == "dt.clock"
    assert all(spec.writer for spec in SPECS)
    with pytest.raises(ConfigError, match="no topic carries"):
        topics.for_event("Nothing")
    assert topics.by_name("dt.decisions").spec.id == "decisions"
    assert topics.by_name("other.topic") is None


@pytest.mark.parametrize("group", ["CASE_INPUTS", "CASE_OUTPUTS", "GUARDED", "WORKER_OUTPUTS"])
def test_every_topic_id_a_group_names_is_a_declared_topic(group):
    from streams.wire import topics

    declared = {spec.id for spec in topics.SPECS}
    assert set(getattr(topics, group)) <= declared

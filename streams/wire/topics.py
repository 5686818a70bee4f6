"""Every topic, declared once: name, key, event types, partitions, retention, clean-up policy, single writer.

Names carry the configured prefix. Agents, tools and tests take topic names from here and never spell them as
literals. The case topics, the clock and the per-booking outputs share one partition count so that one worker
owns every event of a booking.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from streams.config import Settings
from streams.errors import ConfigError

FOREVER = -1
#: Record timestamps are event times, which may lie years back (history loaded late): the broker must take any age.
ANY_TIMESTAMP_MS = str(2**63 - 1)
#: Ticks are kept by size, not by age: their timestamps are event times, which a test or a replay may set years
#: back, and an age limit would delete them before they are read. 256 MiB a partition is about three weeks of ticks.
CLOCK_RETENTION_BYTES = 256 * 2**20


@dataclass(frozen=True)
class TopicSpec:
    """The declaration of one topic, independent of prefix and partition count."""

    id: str
    suffix: str
    key_field: str | None
    event_types: tuple[str, ...]
    writer: str
    doc: str
    co_partitioned: bool = True
    retention_ms: int = FOREVER
    retention_bytes: int = FOREVER
    cleanup_policy: str = "delete"


CASE_INPUTS = ("bookings", "biometrics", "detainers", "court")
#: the case processor's per-booking outputs, co-partitioned with its inputs
CASE_OUTPUTS = ("decisions", "custody_commands", "violations", "notices", "federal_status", "corrections")
#: The topics others write: the broker refuses a record stamped further ahead of its clock than the tolerance, so a
#: client with a wrong clock (kcat, a jail system's own producer) cannot move anyone's deadlines either.
GUARDED = (*CASE_INPUTS, "clock", "clets_queries", "clets_agreements")
#: every topic the worker writes to: the case processor's outputs, the CLETS gate's decisions, the dead letters
WORKER_OUTPUTS = (*CASE_OUTPUTS, "clets_decisions", "deadletter")

SPECS: tuple[TopicSpec, ...] = (
    TopicSpec("bookings", "jail.bookings", "booking_id",
              ("BookingRecorded", "ChargesAmended", "CriminalHistoryRecorded", "ReleaseBecameDue",
               "CustodyBasisRecorded", "Released", "Transferred", "CitizenshipVerified", "ReleaseInfoShared",
               "InterviewConsentRecorded", "StatusQuestionAsked"),
              "jail management systems (streams.tools.produce)", "booking lifecycle from the jail"),
    TopicSpec("biometrics", "biometrics.matches", "booking_id", ("FingerprintsSubmitted", "MatchReceived"),
              "FBI/ICE interfaces (streams.tools.produce)", "fingerprint submissions and match results"),
    TopicSpec("detainers", "ice.detainers", "booking_id",
              ("DetainerLodged", "DetainerAmended", "DetainerLifted", "IceArrived", "IceInquiryReceived",
               "InterviewRequested", "OutOfCustodyInquiryReceived"),
              "ICE interfaces (streams.tools.produce)",
              "detainers, arrivals and requests from immigration authorities"),
    TopicSpec("court", "court.events", "booking_id",
              ("ProbableCauseFound", "ConvictionRecorded", "ChargeDismissed", "JudicialWarrantIssued"),
              "court systems (streams.tools.produce)", "findings, convictions, dismissals and judicial warrants"),
    TopicSpec("clock", "clock", "partition", ("ClockTicked",), "streams.agents.ticker",
              "wall-clock ticks, one stream per partition; the last 256 MiB kept (deadlines replay from event time)",
              retention_bytes=CLOCK_RETENTION_BYTES),
    TopicSpec("decisions", "decisions", "booking_id", ("Decision",), "streams.agents.case_processor",
              "every decision, with rule, citation and evidence"),
    TopicSpec("custody_commands", "custody.commands", "booking_id", ("CustodyCommand",),
              "streams.agents.case_processor", "release and transfer directives for the jail"),
    TopicSpec("violations", "compliance.violations", "booking_id", ("Violation",),
              "streams.agents.case_processor", "compliance violations found"),
    TopicSpec("notices", "notices.truth-act", "booking_id", ("TruthActNotice",),
              "streams.agents.case_processor", "TRUTH Act copies and notices owed to the person"),
    TopicSpec("federal_status", "federal.status", "booking_id", ("StatusFact",),
              "streams.agents.case_processor", "status-only facts that 8 U.S.C. 1373 allows sharing"),
    TopicSpec("corrections", "corrections", "booking_id", ("Correction",), "streams.agents.case_processor",
              "outputs withdrawn because a late event changed them (read with every output topic)"),
    TopicSpec("clets_queries", "clets.queries", "query_id", ("CletsQueryMade",),
              "agency systems (streams.tools.produce)", "CLETS queries to be gated", co_partitioned=False),
    TopicSpec("clets_agreements", "clets.agreements", "agency_id", ("AgencyAgreementRecorded",),
              "detainer-tracker agencies load", "agency registry (compacted, latest entry per agency)",
              co_partitioned=False, cleanup_policy="compact"),
    TopicSpec("clets_decisions", "clets.decisions", "query_id", ("CletsDecision",),
              "streams.agents.clets_gate", "CLETS access decisions", co_partitioned=False),
    TopicSpec("deadletter", "deadletter", None, ("DeadLetter",), "streams.agents.deadletter",
              "anything that could not be read: raw bytes, source coordinates, reason", co_partitioned=False),
)


@dataclass(frozen=True)
class Topic:
    """A declared topic resolved against settings: its real name and partition count."""

    spec: TopicSpec
    name: str
    partitions: int
    #: how far ahead of the broker's clock a record may be stamped, in ms (GUARDED topics)
    future_ms: int | None = None

    @property
    def configs(self) -> dict[str, str]:
        """Topic-level configs the admin API sets at creation."""
        after = ANY_TIMESTAMP_MS if self.future_ms is None else str(self.future_ms)
        return {"retention.ms": str(self.spec.retention_ms), "retention.bytes": str(self.spec.retention_bytes),
                "cleanup.policy": self.spec.cleanup_policy,
                "message.timestamp.type": "CreateTime", "message.timestamp.before.max.ms": ANY_TIMESTAMP_MS,
                "message.timestamp.after.max.ms": after}


class Topics:
    """The registry of topics for one prefix and partition count."""

    def __init__(self, settings: Settings) -> None:
        """Resolve every spec against `settings`."""
        self.prefix = settings.topic_prefix
        self._by_id: dict[str, Topic] = {}
        self._by_event: dict[str, Topic] = {}
        self._by_name: dict[str, Topic] = {}
        for spec in SPECS:
            partitions = settings.partitions if spec.co_partitioned else _fixed_partitions(spec, settings)
            future_ms = int(settings.future_tolerance * 1000) if spec.id in GUARDED else None
            topic = Topic(spec, settings.topic_prefix + spec.suffix, partitions, future_ms)
            self._by_id[spec.id] = topic
            self._by_name[topic.name] = topic
            for event_type in spec.event_types:
                if event_type in self._by_event:
                    raise ConfigError(f"event type {event_type} is declared on two topics")
                self._by_event[event_type] = topic

    def __getitem__(self, topic_id: str) -> Topic:
        """The topic with this id (e.g. 'bookings')."""
        return self._by_id[topic_id]

    def __iter__(self) -> Iterator[Topic]:
        """Every topic, in declaration order."""
        return iter(self._by_id.values())

    def name(self, topic_id: str) -> str:
        """The real name of a topic id."""
        return self._by_id[topic_id].name

    def by_name(self, name: str) -> Topic | None:
        """The topic with this real name, or None when it is not ours."""
        return self._by_name.get(name)

    def for_event(self, event_type: str) -> Topic:
        """The one topic an event type is written to."""
        try:
            return self._by_event[event_type]
        except KeyError:
            raise ConfigError(f"no topic carries event type {event_type!r}") from None

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type that has a topic."""
        return tuple(self._by_event)


def _fixed_partitions(spec: TopicSpec, settings: Settings) -> int:
    # The registry is small and read whole by every gate worker; one partition keeps its order total.
    return 1 if spec.cleanup_policy == "compact" else settings.partitions


def changelog_of(app_id: str) -> str:
    """The case processor's cases-table changelog topic of a worker group (named by Faust: app id, table name)."""
    return f"{app_id}-cases-changelog"


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (Java, kafka-python, aiokafka and Faust agree)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_M, _SEED = 0x5BD1E995, 0x9747B28C


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's partitioner computes it (its `Utils.murmur2`), as an unsigned 32-bit value.

    Here, and not taken from a Kafka client, so that the offline path (`decide`, the codec, replay's analysis)
    loads none; a test checks it against kafka-python's on many keys.
    """
    length = len(data)
    h = (_SEED ^ length) & 0xFFFFFFFF
    whole = length & ~3
    for i in range(0, whole, 4):
        k = (data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24) * _M & 0xFFFFFFFF
        k = (k ^ k >> 24) * _M & 0xFFFFFFFF
        h = (h * _M & 0xFFFFFFFF) ^ k
    extra = length - whole
    if extra == 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h = (h ^ data[whole]) * _M & 0xFFFFFFFF
    h = (h ^ h >> 13) * _M & 0xFFFFFFFF
    return h ^ h >> 15

"""The worker's Prometheus metrics, in one place, created against an injected registry.

Names carry their unit (`_seconds`, `_messages`, `_total` for counters) and labels are bounded: topic ids, event
types, decision kinds, outcomes, regimes, rule ids, counties, reason codes, agency kinds. Never a booking,
person, query or agency id. Label values known in advance (dead-letter reasons, review rules, stall actions) start
at zero, so dashboards and alerts see a series before the first occurrence; series whose labels include a county
begin at their first occurrence, and the alerts on them count a series new in their window as an increase.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from streams.core.clets import CletsRuling
from streams.core.decisions import COMMAND, CORRECTION, DECISION, NOTICE, VIOLATION, Output
from streams.worker.step import Gauges, Result

#: Hold lengths: a TRUST Act or federal hold lasts at most 48 hours, but excluding weekends and holidays can
#: stretch it to five days; so buckets from one hour to a week, dense around the 48-hour limit.
HOLD_BUCKETS = tuple(h * 3600.0 for h in (1, 6, 12, 24, 36, 47, 48, 49, 60, 72, 96, 120, 168))
#: Processing latency (input fetched to outputs sent): the target is p99 < 100 ms at 1,000 events/s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Event age at output (occurred_at to output): jail systems send in batches, so minutes to days.
AGE_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
#: Deadline lateness (effective_at to emission): a tick follows a due deadline within 100 ms; the target is p99 < 1 s.
LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """Every metric the worker exports."""

    def __init__(self, registry: CollectorRegistry, dead_letter_reasons: Iterable[str] = (),
                 review_rules: Iterable[str] = ()) -> None:
        """Create the metrics in `registry`; the label values given start at zero."""
        disable_created_metrics()  # the `_created` series double every counter and no panel reads them
        self.registry = r = registry
        self.events_consumed = Counter("dt_events_consumed", "Events read, by topic id and event type",
                                       ["topic", "event_type"], registry=r)
        self.decisions = Counter("dt_decisions", "Decisions emitted, by kind, outcome, regime, rule and county",
                                 ["kind", "outcome", "regime", "rule", "county"], registry=r)
        self.directives = Counter("dt_custody_directives", "Release and transfer directives, by directive and county",
                                  ["directive", "county"], registry=r)
        self.detainers = Counter("dt_detainers_received", "Detainers lodged, by form and county",
                                 ["form", "county"], registry=r)
        self.transfers = Counter("dt_transfers", "People handed to another agency, by authority and county",
                                 ["authority", "county"], registry=r)
        self.releases = Counter("dt_releases", "People who left custody after a release deadline, by timing "
                                "(late: after the deadline plus the rule book's grace period) and county",
                                ["timing", "county"], registry=r)
        self.notices = Counter("dt_truth_act_notices", "TRUTH Act notices and copies owed, by kind and county",
                               ["kind", "county"], registry=r)
        self.violations = Counter("dt_violations", "Compliance violations found, by kind and county",
                                  ["kind", "county"], registry=r)
        self.corrections = Counter("dt_corrections", "Bookings decided again because an event arrived after outputs "
                                   "it changes, by county", ["county"], registry=r)
        self.withdrawn = Counter("dt_outputs_withdrawn", "Outputs withdrawn by a correction (the counts of what "
                                 "they were stay as sent; subtract these for the net)", registry=r)
        self.dead_letters = Counter("dt_dead_letters", "Messages that could not be read, by reason", ["reason"],
                                    registry=r)
        self.hold_duration = Histogram("dt_hold_duration_seconds", "Length of permitted holds", ["regime"],
                                       buckets=HOLD_BUCKETS, registry=r)
        self.latency = Histogram("dt_processing_latency_seconds", "From the worker fetching an input from Kafka "
                                 "to its outputs being sent (time queued in the worker included)",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.event_age = Histogram("dt_event_age_at_output_seconds", "From an input's occurred_at to its outputs "
                                   "being sent", buckets=AGE_BUCKETS, registry=r)
        self.lateness = Histogram("dt_deadline_lateness_seconds", "From a deadline's effective_at to the emission "
                                  "of what it fired (0 when emitted early, e.g. replays ahead of the wall clock)",
                                  buckets=LATENESS_BUCKETS, registry=r)
        self.open_cases = Gauge("dt_open_cases", "Bookings in custody on this worker's partitions, by county",
                                ["county"], registry=r)
        self.active_holds = Gauge("dt_active_holds", "Holds in force now, by county", ["county"], registry=r)
        self.releases_due = Gauge("dt_releases_due_next_hour", "Release deadlines within the next hour, by county",
                                  ["county"], registry=r)
        self.releases_overdue = Gauge("dt_releases_overdue", "People still in custody after their release deadline, "
                                      "by county", ["county"], registry=r)
        self.lag = Gauge("dt_consumer_lag_messages", "Messages not yet read, by topic id and partition",
                         ["topic", "partition"], registry=r)
        self.clets = Counter("dt_clets_decisions", "CLETS gate decisions, by agency kind, outcome and rule",
                             ["agency_kind", "outcome", "rule"], registry=r)
        self.recovery = Gauge("dt_state_recovery_seconds", "How long the last table recovery took (assignment to "
                              "streams resumed)", registry=r)
        self.repeats_suppressed = Counter("dt_output_repeats_suppressed", "Outputs made again after a restart or "
                                          "a rebalance and not sent, because they were on their topic already",
                                          registry=r)
        self.stalls = Counter("dt_partition_stalls", "Input partitions found assigned, behind and unread for longer "
                              "than the watchdog's patience, by what was done (resumed, stopped)", ["action"],
                              registry=r)
        self.partitions = Gauge("dt_partitions_assigned", "Partitions of the case topics this worker owns",
                                registry=r)
        self.idle = Gauge("dt_worker_idle_seconds", "Seconds since the worker last handled a message, as its progress "
                          "guard (a thread outside the event loop) last measured", registry=r)
        self.unhandled = Gauge("dt_worker_unhandled_messages", "Messages of the worker's partitions past their "
                               "committed offsets, as its progress guard last measured", registry=r)
        self.disk_free = Gauge("dt_worker_disk_free_bytes", "Bytes free for an unprivileged writer on the file "
                               "system of the worker's local tables, as its progress guard last measured",
                               registry=r)
        self.guard_checked = Gauge("dt_worker_progress_checked_timestamp_seconds", "When the progress guard last "
                                   "measured (it stops, and this stands still, only when the process is gone)",
                                   registry=r)
        self.rebuilt = Counter("dt_state_rebuilt", "Starts whose local tables were dropped and rebuilt from the "
                               "changelog, by why (crash: no clean stop recorded; damaged: a store would not open)",
                               ["reason"], registry=r)
        self.reviews = Counter("dt_reviews", "Review decisions, by rule: something of a booking could not be decided "
                               "or the facts ran out, and a human must review the case", ["rule"], registry=r)
        for action in ("resumed", "stopped"):
            self.stalls.labels(action)
        for why in ("crash", "damaged"):
            self.rebuilt.labels(why)
        for reason in dead_letter_reasons:
            self.dead_letters.labels(reason)
        for rule in review_rules:
            self.reviews.labels(rule)

    def identify(self, version: str, rule_book: str) -> None:
        """Say what runs: `dt_build_info` (release, rule-book digest) and the process's own metrics.

        The process's CPU, memory, open files and start time, and Python's version, as a Prometheus client's
        default registry has them.
        """
        info = Gauge("dt_build_info", "What this worker runs: its release and the digest of its rule book (always 1)",
                     ["version", "rule_book", "python"], registry=self.registry)
        info.labels(version, rule_book, platform.python_version()).set(1)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def case_step(self, result: Result, topic: str, now: datetime, waited: float | None) -> None:
        """Count one case-processor step: the input, its outputs, their latency (`waited` s since fetch), lateness.

        Record timestamps are event time (an input's occurred_at), so they do not measure the pipeline's delay.
        """
        if result.dead_letter is not None:
            self.dead_letters.labels(result.dead_letter.reason_code).inc()
            if not result.outputs:
                return
        self.events_consumed.labels(topic, result.event_type or "unknown").inc()
        event = result.event
        county = result.counties.get(getattr(event, "booking_id", ""), "unknown")
        if result.event_type == "DetainerLodged":
            self.detainers.labels(event.form, county).inc()  # type: ignore[union-attr]
        elif result.event_type == "Transferred":
            self.transfers.labels(event.authority, county).inc()  # type: ignore[union-attr]
        for booking_id, late in result.left_late.items():
            self.releases.labels("late" if late else "on_time", result.counties.get(booking_id, "unknown")).inc()
        for output in result.outputs:
            county = result.counties.get(output.booking_id, "unknown")
            if output.type_name == CORRECTION:
                self.corrections.labels(county).inc()
                self.withdrawn.inc(len(output.get("supersedes") or ()))
            else:
                self._output(output, county)
        fired = {id(o) for o in result.fired}
        if result.outputs:
            if waited is not None:
                self.latency.observe(max(waited, 0.0))
            if event is not None and len(fired) < len(result.outputs):
                self.event_age.observe(max((now - event.occurred_at).total_seconds(), 0.0))
        for output in result.fired:
            self.lateness.observe(max((now - output.effective_at).total_seconds(), 0.0))

    def _output(self, o: Output, county: str) -> None:
        if o.type_name == DECISION:
            self.decisions.labels(o.get("kind"), o.get("outcome"), o.regime, o.rule_id, county).inc()
            if o.get("kind") == "REVIEW":
                self.reviews.labels(o.rule_id).inc()
            until = o.get("until")
            if o.get("kind") == "HOLD" and o.get("outcome") == "PERMITTED" and until is not None:
                self.hold_duration.labels(o.regime).observe((until - o.effective_at).total_seconds())
        elif o.type_name == COMMAND:
            self.directives.labels(o.get("directive"), county).inc()
        elif o.type_name == VIOLATION:
            self.violations.labels(o.get("kind"), county).inc()
        elif o.type_name == NOTICE:
            self.notices.labels(o.get("kind"), county).inc()

    def gate_step(self, result: Result, ruling: CletsRuling | None) -> None:
        """Count one CLETS query (or the dead letter it became)."""
        if result.dead_letter is not None:
            self.dead_letters.labels(result.dead_letter.reason_code).inc()
        elif ruling is not None:
            self.events_consumed.labels("clets_queries", "CletsQueryMade").inc()
            self.clets.labels(ruling.agency_kind, ruling.outcome, ruling.rule_id).inc()

    def set_gauges(self, gauges: Gauges) -> None:
        """Publish the case gauges, one series per county with a case in custody on this worker's partitions.

        Synchronous, in the event loop that also answers /metrics: a scrape never sees them half set.
        """
        gauges_ = (self.open_cases, self.active_holds, self.releases_due, self.releases_overdue)
        for gauge in gauges_:
            gauge.clear()
        for county, values in gauges.by_county.items():
            for gauge, value in zip(gauges_, values, strict=True):
                gauge.labels(county).set(value)

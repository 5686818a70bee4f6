"""A realistic, deterministic source of California jail events for `make run`, demos and benchmarks.

Bookings arrive per county as a Poisson process at the 2019 BSCC rates (`data/california_bookings.yaml`); each
booking gets charges, a criminal history, a fingerprint submission and match, sometimes a detainer of the form
in use on that date, court findings, a release that falls due after a lognormal stay, and a release or a
hand-over to ICE (`data/simulation.yaml`, every figure with its source). The same seed and settings give the
same events, whatever the speed: each county-day draws from its own seeded generator.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from streams.errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"
ZONE = ZoneInfo("America/Los_Angeles")
SOURCE = "simulator"


@dataclass(frozen=True)
class Profile:
    """The figures the simulator draws from."""

    bookings_per_day: dict[str, float]
    figures: dict[str, Any]

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR) -> Profile:
        """Load the shipped figures."""
        counties = yaml.safe_load((data_dir / "california_bookings.yaml").read_text())["counties"]
        figures = yaml.safe_load((data_dir / "simulation.yaml").read_text())
        return cls({str(k): float(v) for k, v in counties.items()}, figures)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate: from when, for how long, how much, which counties, with which seed."""

    start: datetime
    days: float | None = None
    seed: int = 1
    scale: float = 1.0
    counties: tuple[str, ...] = ()
    detainers_per_day: float | None = None

    def __post_init__(self) -> None:
        """Reject settings that cannot be simulated."""
        if self.start.tzinfo is None:
            raise ConfigError("the simulation start must carry a UTC offset")
        if self.days is not None and self.days <= 0:
            raise ConfigError("days must be positive")
        if self.scale <= 0:
            raise ConfigError("scale must be positive")


@dataclass(order=True)
class _Pending:
    at: datetime
    seq: int
    type_name: str = field(compare=False)
    record: dict[str, Any] = field(compare=False)


class Simulator:
    """Generates events in event-time order; `events()` is endless when `config.days` is None."""

    def __init__(self, config: SimConfig, profile: Profile | None = None) -> None:
        """Check the counties asked for and derive the per-booking detainer probability."""
        self.config = config
        self.profile = profile or Profile.load()
        rates = self.profile.bookings_per_day
        unknown = [c for c in config.counties if c not in rates]
        if unknown:
            raise ConfigError(f"unknown county {', '.join(unknown)}; known: {', '.join(sorted(rates))}")
        self.rates = {c: r * config.scale for c, r in rates.items() if not config.counties or c in config.counties}
        fig = self.profile.figures
        detainers = config.detainers_per_day
        statewide = sum(rates.values())
        per_booking = (detainers / (statewide * config.scale) if detainers is not None
                       else fig["detainers"]["per_day"] / statewide)
        self.p_detainer = min(per_booking, 1.0)
        self.p_match = max(fig["immigration_match"], self.p_detainer)
        self._heap: list[_Pending] = []
        self._seq = 0

    @property
    def end(self) -> datetime | None:
        """The instant the simulation stops, or None."""
        return None if self.config.days is None else self.config.start + timedelta(days=self.config.days)

    def events(self) -> Iterator[tuple[datetime, str, dict[str, Any]]]:
        """Yield (occurred_at, event type, record) in time order, up to the end of the simulation."""
        day = self.config.start.astimezone(ZONE).date()
        while True:
            day_end = _local_midnight(day + timedelta(days=1))
            self._generate_day(day)
            horizon = day_end if self.end is None else min(day_end, self.end)
            while self._heap and self._heap[0].at < horizon:
                item = heapq.heappop(self._heap)
                if item.at >= self.config.start:
                    yield item.at, item.type_name, item.record
            if self.end is not None and day_end >= self.end:
                return
            day += timedelta(days=1)

    def _push(self, at: datetime, type_name: str, record: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, _Pending(at, self._seq, type_name, record))

    def _generate_day(self, day: date) -> None:
        start = _local_midnight(day)
        seconds = (_local_midnight(day + timedelta(days=1)) - start).total_seconds()
        for county, per_day in self.rates.items():
            rng = random.Random(f"{self.config.seed}:{county}:{day.isoformat()}")
            rate = per_day / 86400.0
            t, n = rng.expovariate(rate), 0
            while t < seconds:
                n += 1
                booking = _Booking(self, rng, county, day, n, start + timedelta(seconds=t))
                for at, type_name, record in booking.timeline():
                    self._push(at, type_name, record)
                t += rng.expovariate(rate)
        self._clets_queries(day, start, seconds)

    def _clets_queries(self, day: date, start: datetime, seconds: float) -> None:
        fig = self.profile.figures.get("clets")
        if not fig or self.config.counties:  # the gate's traffic is statewide, not a county's
            return
        rng = random.Random(f"{self.config.seed}:clets:{day.isoformat()}")
        rate = fig["queries_per_day"] * self.config.scale / 86400.0
        t, n = rng.expovariate(rate), 0
        while t < seconds:
            n += 1
            at = _millis(start + timedelta(seconds=t))
            query_id = f"Q-{day:%Y%m%d}-{n:05d}"
            self._push(at, "CletsQueryMade", {
                "event_id": query_id, "occurred_at": at, "source": SOURCE, "query_id": query_id,
                "agency_id": _pick(rng, fig["agencies"]), "user_id": f"U{rng.randrange(1, 500):04d}",
                "purpose": _pick(rng, fig["purposes"]), "data_class": _pick(rng, fig["data_classes"]),
                "subject_ref": f"P{rng.getrandbits(40):012x}"})
            t += rng.expovariate(rate)


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Booking:
    """One booking's whole future, drawn at booking time from one generator."""

    def __init__(self, sim: Simulator, rng: random.Random, county: str, day: date, n: int, at: datetime) -> None:
        self.sim, self.rng, self.fig = sim, rng, sim.profile.figures
        self.booking_id = f"{county.replace(' ', '').upper()}-{day:%Y%m%d}-{n:05d}"
        self.person_id = f"P{rng.getrandbits(40):012x}"
        self.county, self.at = county, at
        self.events: list[tuple[datetime, str, dict[str, Any]]] = []

    def emit(self, at: datetime, type_name: str, **fields: Any) -> None:
        # Events carry millisecond instants (Avro timestamp-millis): what is simulated is what Kafka keeps.
        fields = {k: _millis(v) if isinstance(v, datetime) else v for k, v in fields.items()}
        at = _millis(at)
        record = {"event_id": f"{self.booking_id}:{len(self.events) + 1}", "occurred_at": at,
                  "source": SOURCE, "booking_id": self.booking_id, **fields}
        self.events.append((at, type_name, record))

    def timeline(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        rng, at = self.rng, self.at
        charges = self._charges()
        self.emit(at, "BookingRecorded", person_id=self.person_id, state="CA", county=self.county,
                  facility=f"{self.county} County Jail", charges=charges)
        self.emit(at + timedelta(minutes=2), "CriminalHistoryRecorded", person_id=self.person_id,
                  convictions=self._priors(), sex_registrant=rng.random() < self.fig["priors"]["registrant"],
                  arson_registrant=False)
        submitted = at + timedelta(minutes=rng.uniform(5, 30))
        self.emit(submitted, "FingerprintsSubmitted", submission_id=f"{self.booking_id}-FP", agency_ori="CA0000000")
        has_detainer = rng.random() < self.sim.p_detainer
        hit = has_detainer or rng.random() < (self.sim.p_match - self.sim.p_detainer)
        matched = submitted + timedelta(minutes=rng.uniform(2, 90))
        self.emit(matched, "MatchReceived", submission_id=f"{self.booking_id}-FP", result="IDENT",
                  immigration_record=hit)
        release_at = at + timedelta(days=self._stay(has_detainer))
        self._custody_basis(release_at)
        self._court(charges, release_at)
        if has_detainer:
            self._detainer(matched, release_at)
        else:
            self._release(release_at)
        return self.events

    def _charges(self) -> list[dict[str, Any]]:
        weights = self.fig["charges_per_booking_weights"]
        count = self.rng.choices(range(len(weights)), weights=weights)[0]
        return [self._draw_charge() for _ in range(max(count, 1))]

    def _draw_charge(self) -> dict[str, Any]:
        table = self.fig["charges"]
        c = self.rng.choices(table, weights=[c["weight"] for c in table])[0]
        return {"statute": c["statute"], "level": c["level"], "description": c.get("description"),
                "domestic_violence": bool(c.get("domestic_violence", False))}

    def _priors(self) -> list[dict[str, Any]]:
        p = self.fig["priors"]
        count = self.rng.choices(range(len(p["count_weights"])), weights=p["count_weights"])[0]
        out = []
        for _ in range(count):
            charge = self._draw_charge()
            when = self.at.date() - timedelta(days=self.rng.randint(200, 365 * p["max_years_back"]))
            out.append({"statute": charge["statute"], "level": charge["level"], "conviction_date": when,
                        "plea_date": None, "jurisdiction": "CALIFORNIA",
                        "sentenced_under_1170h": charge["level"] == "FELONY"
                        and self.rng.random() < p["sentenced_under_1170h"],
                        "prop47_reduced": False, "aggravated_felony": False, "category_tags": []})
        return out

    def _stay(self, has_detainer: bool) -> float:
        s = self.fig["stay_days"]["with_detainer" if has_detainer else "without_detainer"]
        days = math.exp(math.log(s["median"]) + s["sigma"] * self.rng.gauss(0, 1))
        return min(max(days, 0.05), self.fig["stay_days"]["max"])

    def _custody_basis(self, release_at: datetime) -> None:
        if self.rng.random() >= self.fig["other_custody_basis"]:
            return
        basis = {"basis_id": f"{self.booking_id}-PH", "kind": "PROBATION_HOLD", "description": "probation hold"}
        self.emit(self.at + timedelta(minutes=3), "CustodyBasisRecorded", active=True, **basis)
        cleared = self.at + (release_at - self.at) * self.rng.uniform(0.3, 0.95)
        self.emit(cleared, "CustodyBasisRecorded", active=False, **basis)

    def _court(self, charges: list[dict[str, Any]], release_at: datetime) -> None:
        felonies = [c for c in charges if c["level"] == "FELONY"]
        if felonies and (release_at - self.at).days >= self.fig["probable_cause_after_days"]:
            found = self.at + timedelta(days=self.rng.uniform(3, 9))
            self.emit(found, "ProbableCauseFound", charge=felonies[0], finding_date=found.astimezone(ZONE).date())

    def _detainer(self, matched: datetime, release_at: datetime) -> None:
        d, rng = self.fig["detainers"], self.rng
        lodged = matched + timedelta(hours=rng.uniform(1, 30))
        form = _pick(rng, _form_mix(d["forms"], lodged))
        authority = _pick(rng, d["i247a_authority"]) if form == "I247A" else "NONE"
        detainer_id = f"{self.booking_id}-DT"
        self.emit(lodged, "DetainerLodged", detainer_id=detainer_id, form=form, authority=authority,
                  issuing_office="ERO Los Angeles", served_at=lodged + timedelta(minutes=30),
                  federal_felony_warrant=False)
        if rng.random() < d["judicial_warrant"]:
            self.emit(lodged + timedelta(hours=2), "JudicialWarrantIssued", warrant_id=f"{self.booking_id}-JW",
                      kind="JUDICIAL_WARRANT", court="U.S. District Court, C.D. Cal.", federal_statute="8 USC 1326")
        roll = rng.random()
        if roll < d["lifted"]:
            lifted = lodged + (release_at - lodged) * rng.uniform(0.1, 0.9)
            self.emit(lifted, "DetainerLifted", detainer_id=detainer_id, reason="lifted by ICE")
            self._release(release_at)
        elif roll < d["lifted"] + d["ice_arrives"]:
            self.emit(release_at - timedelta(minutes=rng.uniform(5, 120)), "IceArrived", agency="ICE ERO",
                      authority=authority)
            self._release(release_at, ice_authority=authority)
        else:
            self._release(release_at)

    def _release(self, release_at: datetime, ice_authority: str | None = None) -> None:
        reason = _pick(self.rng, self.fig["release_reasons"])
        self.emit(release_at, "ReleaseBecameDue", reason=reason, release_at=release_at, case_ref=None)
        delay = self.fig["release_processing_minutes"]
        window = delay["late"] if self.rng.random() < delay["late_share"] else delay["usual"]
        out = release_at + timedelta(minutes=self.rng.uniform(*window))
        if ice_authority is not None:
            self.emit(out, "Transferred", destination="IMMIGRATION_AUTHORITY", agency="ICE ERO",
                      authority=ice_authority)
        else:
            self.emit(out, "Released", note=None)


def _millis(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _form_mix(eras: list[dict[str, Any]], at: datetime) -> dict[str, float]:
    day = at.astimezone(ZONE).date().isoformat()
    return [e["mix"] for e in eras if str(e["from"]) <= day][-1]


@dataclass
class SimStats:
    """Running counts of what a simulation sent."""

    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    sim_time: datetime | None = None
    _last: tuple[float, int] = (0.0, 0)

    def count(self, at: datetime, type_name: str) -> None:
        """Record one event."""
        self.events += 1
        self.by_type[type_name] = self.by_type.get(type_name, 0) + 1
        self.sim_time = at

    def line(self, elapsed: float) -> str:
        """One progress line: simulated time, totals, the rate since the last line, the headline counts."""
        when = self.sim_time.astimezone(ZONE).strftime("%Y-%m-%d %H:%M %Z") if self.sim_time else "-"
        then, before = self._last
        rate = (self.events - before) / (elapsed - then) if elapsed > then else 0.0
        self._last = (elapsed, self.events)
        b = self.by_type
        return (f"sim {when} | {self.events:,} events ({rate:,.0f}/s) | bookings {b.get('BookingRecorded', 0):,}"
                f" detainers {b.get('DetainerLodged', 0):,} releases {b.get('Released', 0):,}"
                f" to ICE {b.get('Transferred', 0):,}")


@dataclass
class SimState:
    """Where a simulation stopped, so that the next run goes on from there with the events that come next.

    A simulation is deterministic for its seed, scale, counties and start: run again from the same start, it makes
    the same events, and the ones already sent (every event before `sent_through`, and the first `at_instant` at
    that instant) are skipped. Saved as JSON (written whole, then renamed into place).
    """

    seed: int
    scale: float
    counties: tuple[str, ...]
    start: datetime
    sent_through: datetime | None = None
    at_instant: int = 0

    @classmethod
    def load(cls, path: Path, config: SimConfig) -> SimState | None:
        """The state saved for a simulation of the same seed, scale and counties; None when there is none."""
        try:
            saved = json.loads(path.read_text())
            state = cls(int(saved["seed"]), float(saved["scale"]), tuple(saved["counties"]),
                        datetime.fromisoformat(saved["start"]),
                        datetime.fromisoformat(saved["sent_through"]) if saved.get("sent_through") else None,
                        int(saved.get("at_instant", 0)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a simulation state ({exc}); remove it to start afresh") from None
        if (state.seed, state.scale, state.counties) != (config.seed, config.scale, config.counties):
            return None  # another simulation: start afresh
        return state

    def after(self, events: Iterator[tuple[datetime, str, dict[str, Any]]]
              ) -> Iterator[tuple[datetime, str, dict[str, Any]]]:
        """The events not yet sent."""
        seen = 0
        for item in events:
            if self.sent_through is not None and item[0] <= self.sent_through:
                if item[0] < self.sent_through:
                    continue
                seen += 1
                if seen <= self.at_instant:
                    continue
            yield item

    def sent(self, at: datetime) -> None:
        """Count one event sent."""
        if at == self.sent_through:
            self.at_instant += 1
        else:
            self.sent_through, self.at_instant = at, 1

    def save(self, path: Path) -> None:
        """Write the state (a partial file never replaces a good one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"seed": self.seed, "scale": self.scale, "counties": list(self.counties),
                                   "start": self.start.isoformat(),
                                   "sent_through": self.sent_through.isoformat() if self.sent_through else None,
                                   "at_instant": self.at_instant}) + "\n")
        tmp.replace(path)


def run(sim: Simulator, send: Any, speed: float | None = None, live_from: datetime | None = None,
        progress: Any = None, progress_every: float = 2.0, wall_clock: Any = None,
        state: SimState | None = None, checkpoint: Any = None) -> SimStats:
    """Feed every simulated event to `send(type_name, record)`.

    Events before `live_from` go out as fast as they can (a backlog); from `live_from` on, one wall-clock
    second covers `speed` simulated seconds (`speed` None: no pacing at all). With `wall_clock` (a function
    returning the present), no event goes out before the present reaches it: a simulation that catches up with
    the present goes on in real time, since events from the future are refused. `progress(stats, elapsed)` is
    called about every `progress_every` seconds and once at the end. With `state`, the events it says were sent
    are skipped and each one sent is counted in it; `checkpoint()` is called as often as progress, and once at the
    end whatever ends the run (an interrupt too), to save it.
    """
    try:
        return _run(sim, send, speed, live_from, progress, progress_every, wall_clock, state, checkpoint)
    finally:
        if checkpoint is not None:
            checkpoint()


def _run(sim: Simulator, send: Any, speed: float | None, live_from: datetime | None, progress: Any,
         progress_every: float, wall_clock: Any, state: SimState | None, checkpoint: Any) -> SimStats:
    stats = SimStats()
    began = last = time.monotonic()
    anchor: tuple[datetime, float] | None = None
    for at, type_name, record in (state.after(sim.events()) if state is not None else sim.events()):
        if speed and (live_from is None or at >= live_from):
            if anchor is None:
                anchor = (at if live_from is None else live_from, time.monotonic())
            wait = anchor[1] + (at - anchor[0]).total_seconds() / speed - time.monotonic()
            if wait > 0.005:
                time.sleep(wait)
        if wall_clock is not None and (ahead := (at - wall_clock()).total_seconds()) > 0:
            time.sleep(ahead)
        send(type_name, record)
        stats.count(at, type_name)
        if state is not None:
            state.sent(at)
        now = time.monotonic()
        if now - last >= progress_every:
            if progress is not None:
                progress(stats, now - began)
            if checkpoint is not None:
                checkpoint()
            last = now
    if progress is not None:
        progress(stats, time.monotonic() - began)
    return stats

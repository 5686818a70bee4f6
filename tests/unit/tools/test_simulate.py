from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from streams.errors import ConfigError
from streams.tools.simulate import Profile, SimConfig, Simulator

START = datetime(2019, 6, 2, 7, 0, tzinfo=UTC)


def _events(**kw):
    return list(Simulator(SimConfig(**{"start": START, "days": 1, "seed": 5, **kw})).events())


def test_the_same_seed_gives_the_same_events():
    a, b = _events(), _events()
    assert a == b
    assert len(a) > 5000


def test_another_seed_gives_other_events():
    assert _events(seed=5) != _events(seed=6)


def test_events_come_in_time_order_and_inside_the_window():
    events = _events()
    times = [at for at, _, _ in events]
    assert times == sorted(times)
    assert START <= times[0] and times[-1] < START + timedelta(days=1)


def test_every_booking_starts_with_its_booking_record():
    seen = set()
    for _, type_name, record in _events():
        if type_name == "BookingRecorded":
            seen.add(record["booking_id"])
        elif "booking_id" in record:
            assert record["booking_id"] in seen, f"{type_name} before its booking"


def test_every_simulated_record_is_valid(codec):
    for _, type_name, record in _events(days=0.5):
        codec.validate(type_name, record)


def test_rates_over_a_simulated_week_are_within_ten_percent_of_the_figures():
    profile = Profile.load()
    bookings_per_day = sum(profile.bookings_per_day.values())
    detainers_per_day = profile.figures["detainers"]["per_day"]
    # one day of warm-up, so detainers lodged a day after booking are in steady state; then a whole week
    counts = Counter()
    for at, type_name, _ in Simulator(SimConfig(start=START, days=8, seed=1)).events():
        if at >= START + timedelta(days=1):
            counts[type_name] += 1
    assert counts["BookingRecorded"] / 7 == pytest.approx(bookings_per_day, rel=0.10)
    assert counts["DetainerLodged"] / 7 == pytest.approx(detainers_per_day, rel=0.10)
    assert bookings_per_day == pytest.approx(2490, rel=0.01)


def test_configured_rates_are_followed():
    sim = Simulator(SimConfig(start=START, days=5, seed=2, scale=0.2, detainers_per_day=100))
    counts = Counter(t for at, t, _ in sim.events() if at >= START + timedelta(days=1))  # after a day's warm-up
    assert counts["BookingRecorded"] / 4 == pytest.approx(0.2 * 2490, rel=0.10)
    assert counts["DetainerLodged"] / 4 == pytest.approx(100, rel=0.15)


def test_detainer_forms_follow_the_era():
    forms_2018 = {r["form"] for _, t, r in _events(start=datetime(2018, 3, 1, tzinfo=UTC), days=3, scale=1)
                  if t == "DetainerLodged"}
    forms_2013 = {r["form"] for _, t, r in _events(start=datetime(2013, 3, 1, tzinfo=UTC), days=3)
                  if t == "DetainerLodged"}
    assert forms_2018 == {"I247A"}
    assert forms_2013 == {"I247_LEGACY"}


def test_one_county_only_and_unknown_counties_refused():
    events = _events(counties=("Napa",))
    assert {r["booking_id"].split("-")[0] for _, _, r in events} == {"NAPA"}
    with pytest.raises(ConfigError, match="unknown county Atlantis"):
        Simulator(SimConfig(start=START, counties=("Atlantis",)))


def test_a_naive_start_is_refused():
    with pytest.raises(ConfigError, match="UTC offset"):
        SimConfig(start=datetime(2019, 1, 1))  # noqa: DTZ001


def test_simulated_instants_are_whole_milliseconds_as_kafka_keeps_them():
    for at, _, record in _events(days=0.2):
        assert at.microsecond % 1000 == 0
        assert all(v.microsecond % 1000 == 0 for v in record.values() if isinstance(v, datetime))


def test_clets_queries_come_statewide_from_the_registry_example_and_a_stranger(codec):
    from streams.tools.access import REPO_ROOT
    from streams.tools.agencies import read_file

    queries = [r for _, t, r in _events() if t == "CletsQueryMade"]
    assert 150 < len(queries) < 350  # 240 a day
    known = {r["agency_id"] for r in read_file(REPO_ROOT / "deploy" / "agencies.yaml", codec, "t", START)}
    used = {q["agency_id"] for q in queries}
    assert used - known == {"CA9999999"} and len(used & known) >= 5
    assert len({q["query_id"] for q in queries}) == len(queries)


def test_a_simulation_stopped_and_started_again_goes_on_with_the_events_that_come_next(tmp_path):
    """A run interrupted after some events, resumed from its saved state, sends exactly the rest: together the two
    runs are one uninterrupted run, no event twice, none missing (events at one instant counted too)."""
    from datetime import UTC, datetime

    from streams.tools.simulate import SimConfig, SimState, Simulator, run

    config = SimConfig(start=datetime(2019, 6, 2, 7, tzinfo=UTC), days=0.5, seed=5, counties=("Kern", "Fresno"))
    whole = [r["event_id"] for _, _, r in Simulator(config).events()]
    path = tmp_path / "simulation.json"
    first: list[str] = []

    class Stop(Exception):
        pass

    def send_some(type_name, record):
        if len(first) == len(whole) // 3:
            raise Stop
        first.append(record["event_id"])

    state = SimState(config.seed, config.scale, config.counties, config.start)
    try:
        run(Simulator(config), send_some, state=state, checkpoint=lambda: state.save(path))
    except Stop:
        pass
    resumed = SimState.load(path, config)
    assert resumed is not None and resumed.sent_through is not None
    rest: list[str] = []
    run(Simulator(config), lambda t, r: rest.append(r["event_id"]), state=resumed)
    assert first + rest == whole and len(first) == len(whole) // 3
    # another seed is another simulation: its state is not this one's
    assert SimState.load(path, SimConfig(start=config.start, seed=6, counties=config.counties)) is None


def test_simulating_into_a_file_is_not_paced_unless_asked(tmp_path):
    """An hour and more of simulated traffic written to a file takes seconds, not the hour (no --speed given)."""
    import subprocess
    import sys

    out = tmp_path / "sim.jsonl"
    result = subprocess.run([sys.executable, "-m", "streams.cli", "simulate", "--start", "2019-06-02T07:00:00+00:00",
                             "--days", "0.05", "--county", "Kern", "--output", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    times = [line.split('"occurred_at":"')[1][:16] for line in out.read_text().splitlines()]
    assert times and times[-1] > "2019-06-02T07:30", "less than half an hour simulated"

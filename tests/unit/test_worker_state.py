"""Local tables are reused only after a clean stop; after a crash they are rebuilt from the changelog."""

from streams.cli import CLEAN_STOP, _discard_state_after_a_crash


def test_tables_left_by_a_crash_are_discarded(tmp_path):
    data = tmp_path / "worker"
    (data / "tables").mkdir(parents=True)
    (data / "tables" / "cases.db").write_text("ahead of the changelog")
    _discard_state_after_a_crash(data)
    assert data.is_dir() and not any(data.iterdir())


def test_tables_left_by_a_clean_stop_are_kept_and_the_marker_consumed(tmp_path):
    data = tmp_path / "worker"
    (data / "tables").mkdir(parents=True)
    (data / "tables" / "cases.db").write_text("consistent")
    (data / CLEAN_STOP).write_text("")
    _discard_state_after_a_crash(data)
    assert (data / "tables" / "cases.db").read_text() == "consistent"
    assert not (data / CLEAN_STOP).exists(), "the next crash must not find an old marker"

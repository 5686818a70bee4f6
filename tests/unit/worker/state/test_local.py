"""Local tables are reused only after a clean stop; after a crash they are rebuilt from the changelog."""

from streams.worker.state.local import CLEAN_STOP, prepare


def test_tables_left_by_a_crash_are_discarded(tmp_path):
    data = tmp_path / "worker"
    (data / "tables").mkdir(parents=True)
    (data / "tables" / "cases.db").write_text("ahead of the changelog")
    prepare(data)
    assert data.is_dir() and [p.name for p in data.iterdir()] == ["REBUILT"]
    assert (data / "REBUILT").read_text().strip() == "crash"  # for the worker's metrics


def test_tables_left_by_a_clean_stop_are_kept_and_the_marker_consumed(tmp_path):
    data = tmp_path / "worker"
    (data / "tables").mkdir(parents=True)
    (data / "tables" / "cases.db").write_text("consistent")
    (data / CLEAN_STOP).write_text("")
    prepare(data)
    assert (data / "tables" / "cases.db").read_text() == "consistent"
    assert not (data / CLEAN_STOP).exists(), "the next crash must not find an old marker"


def _clean_stop_with_a_store(tmp_path):
    """A data dir as a clean stop leaves it, with one RocksDB store holding one case."""
    from rocksdict import Options, Rdict

    data = tmp_path / "worker"
    db = Rdict(str(data / "tables" / "cases-0.db"), options=Options(raw_mode=True))
    db[b"B-1"] = b"state"
    db.close()
    (data / CLEAN_STOP).write_text("")
    return data, data / "tables" / "cases-0.db"


def test_a_store_a_clean_stop_left_that_does_not_open_is_discarded(tmp_path):
    data, store = _clean_stop_with_a_store(tmp_path)
    for manifest in store.glob("MANIFEST-*"):
        manifest.write_bytes(b"\x00damaged" * 64)
    prepare(data)
    assert [p.name for p in data.iterdir()] == ["REBUILT"] and (data / "REBUILT").read_text().strip() == "damaged"


def test_a_store_a_clean_stop_left_that_opens_is_kept(tmp_path):
    from rocksdict import Options, Rdict

    data, store = _clean_stop_with_a_store(tmp_path)
    prepare(data)
    db = Rdict(str(store), options=Options(raw_mode=True))
    assert db[b"B-1"] == b"state" and not (data / "REBUILT").exists()
    db.close()

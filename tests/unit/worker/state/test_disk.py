"""The worker's own check of the disk its local tables live on."""

import shutil

from streams.worker.state.local import DISK_RESERVE_BYTES, disk_free, disk_too_full


def test_the_free_space_is_that_of_the_nearest_existing_folder(tmp_path):
    assert disk_free(tmp_path / "not" / "yet" / "made") == shutil.disk_usage(tmp_path).free


def test_a_disk_with_less_than_the_reserve_free_says_so_with_the_figures(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    assert disk_too_full(tmp_path, reserve=min(free, DISK_RESERVE_BYTES)) is None
    why = disk_too_full(tmp_path / "tables", reserve=free + 2**30)
    assert why is not None and " MiB free, under the " in why and str(tmp_path / "tables") in why

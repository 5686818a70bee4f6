"""The worker's local tables on disk: when they can be trusted, and what is done when they cannot.

Local tables are written as events are handled, before their outputs and changelog are sure to be in Kafka;
after a crash they may be ahead of both. Only a clean stop leaves a marker (CLEAN_STOP) that they can be
trusted; otherwise they are dropped at the next start and rebuilt from the changelog. A store that a clean stop
left but that cannot be opened and read through (a damaged file, a disk error) is dropped and rebuilt too, in the
same start. Either way the start leaves REBUILT saying why, for the worker's metrics. And the worker does not
start on a disk with less free space than its tables need.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from rocksdict import AccessType, Options, Rdict

log = logging.getLogger(__name__)

#: the worker's exit status when Kafka or the disk failed under it: a supervisor restarts it, and it resumes from the
#: last committed offsets
EXIT_INFRASTRUCTURE = 75


def disk_free(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the file system of `folder` (or its nearest parent)."""
    for place in (folder, *folder.parents):
        try:
            return shutil.disk_usage(place).free
        except OSError:
            continue
    return None


#: left in the data dir by a clean stop
CLEAN_STOP = "CLEAN_STOP"
#: the least free space the worker starts with: a RocksDB compaction of a county's cases needs tens of MiB
DISK_RESERVE_BYTES = 64 * 1024 * 1024


def disk_too_full(data_dir: Path, reserve: int = DISK_RESERVE_BYTES) -> str | None:
    """Why the local tables' disk cannot take the worker's writes, or None."""
    free = disk_free(data_dir)
    if free is None or free >= reserve:
        return None
    return (f"the disk of {data_dir} has {free / 1024 / 1024:.1f} MiB free, under the {reserve / 1024 / 1024:.0f} "
            "MiB the local tables need")


#: written into the data dir when its tables were dropped at start, with why; the worker's metrics report it
REBUILT = "REBUILT"


def mark_clean_stop(data_dir: Path) -> None:
    """The worker stopped cleanly: its tables may be reused by the next start."""
    (data_dir / CLEAN_STOP).write_text("the worker stopped cleanly; its local tables can be reused\n")


def take_rebuilt(data_dir: Path) -> str | None:
    """Why the tables were dropped at this start (crash, damaged), once; None when they were not."""
    marker = data_dir / REBUILT
    if not marker.exists():
        return None
    why = marker.read_text().strip() or "crash"
    marker.unlink()
    return why


def prepare(data_dir: Path) -> None:
    """Before the worker opens its tables: drop them after a crash or when damaged (see the module)."""
    marker = data_dir / CLEAN_STOP
    why = None
    if data_dir.exists() and not marker.exists() and any(data_dir.iterdir()):
        why = "crash"
        log.warning("no clean stop recorded in %s: rebuilding tables from the changelog", data_dir)
    elif marker.exists():
        damaged = damaged_store(data_dir)
        if damaged is not None:
            why = "damaged"
            log.error("the local store %s cannot be opened (%s): discarding %s and rebuilding its tables from the "
                      "changelog", damaged[0], damaged[1], data_dir)
    if why is not None:
        shutil.rmtree(data_dir)
    marker.unlink(missing_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    if why is not None:
        (data_dir / REBUILT).write_text(why + "\n")


def damaged_store(data_dir: Path) -> tuple[Path, str] | None:
    """The first RocksDB store under the data dir that cannot be opened and read through, and why; else None."""
    for current in sorted(data_dir.rglob("CURRENT")):
        try:
            db = Rdict(str(current.parent), options=Options(raw_mode=True), access_type=AccessType.read_only())
            try:
                for _ in db.keys():
                    pass
            finally:
                db.close()
        except Exception as exc:  # noqa: BLE001 - RocksDB reports damage with many exception types
            return current.parent, f"{type(exc).__name__}: {exc}"
    return None

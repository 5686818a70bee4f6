"""The backlog tests at full size: a simulated backlog of about 50,000 events on every case topic, taken by a worker
on a busy machine, with records stamped by the producer's clock, killed five times, and under a broker killed and
restarted; each must give `decide`'s outputs, net of corrections (tests/integration/test_backlog_faults.py, which
`make test` runs at 5,000)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = "tests/integration/test_backlog_faults.py"
LINE = re.compile(r"backlog: (\d+) events, (\d+) outputs as decide gives them, (\d+) missing, (\d+) false, (\d+) sent, "
                  r"(\d+) correction\(s\) withdrawing (\d+), (\d+) worker run\(s\)")
FIELDS = ("events", "outputs", "missing", "false", "sent", "corrections", "withdrawn", "worker_runs")


def measure(size: int = 50_000) -> dict:
    """Run the three tests at `size`; what each found and whether it passed."""
    began = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TESTS],
                         cwd=ROOT, env={**os.environ, "DT_TEST_BACKLOG": str(size)}, capture_output=True, text=True,
                         check=False)
    found = [dict(zip(FIELDS, map(int, m.groups()), strict=True)) for m in LINE.finditer(run.stdout)]
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    return {"size": size, "passed": run.returncode == 0, "summary": summary, "runs": found,
            "seconds": time.monotonic() - began}


FUZZ_TESTS = ("tests/integration/test_fuzz.py", "tests/integration/test_broker_outages.py")
FUZZ_LINE = re.compile(r"fuzz: (\d+) bad messages of (\d+) kinds \((.*?)\), (\d+) dead letters, (\d+) written twice, "
                       r"(\d+) with another reason; (\d+) valid events")
OUTAGE_LINE = re.compile(r"outage (\d+): input written after the broker's return committed (\d+) s later; "
                         r"(\d+) restart\(s\)")


def measure_fuzz(bad: int = 10_000, size: int = 50_000, outages: int = 5) -> dict:
    """The fuzz test with `bad` bad messages among `size` valid events, and `outages` broker outages."""
    began = time.monotonic()
    env = {**os.environ, "DT_TEST_FUZZ": str(bad), "DT_TEST_BACKLOG": str(size), "DT_TEST_OUTAGES": str(outages)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *FUZZ_TESTS],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    fuzz = FUZZ_LINE.search(run.stdout)
    backlog = LINE.search(run.stdout)
    resumed = [tuple(map(int, m.groups())) for m in OUTAGE_LINE.finditer(run.stdout)]
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    return {"passed": run.returncode == 0, "summary": summary, "seconds": time.monotonic() - began,
            "bad": int(fuzz.group(1)) if fuzz else None, "kinds": int(fuzz.group(2)) if fuzz else None,
            "dead_letters": int(fuzz.group(4)) if fuzz else None, "twice": int(fuzz.group(5)) if fuzz else None,
            "other_reason": int(fuzz.group(6)) if fuzz else None, "valid": int(fuzz.group(7)) if fuzz else None,
            "backlog": dict(zip(FIELDS, map(int, backlog.groups()), strict=True)) if backlog else None,
            "outages": outages, "resumed": len(resumed), "restarts": resumed[-1][2] if resumed else None,
            "slowest_resume_seconds": max(r[1] for r in resumed) if resumed else None}

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

"""Sampling a running process with py-spy and naming where its time goes."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>[^(]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """Start py-spy sampling `pid` for `seconds` into collapsed stacks at `out` (None when py-spy is absent)."""
    spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
    if not Path(spy).exists():
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                             "--format", "raw", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top(collapsed: Path, n: int = 12) -> dict[str, list[tuple[str, float]]]:
    """The functions with the largest share of samples: `inclusive` (on the stack) and `self` (running)."""
    inclusive, own, total = Counter(), Counter(), 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_name(f) for f in stack.split(";") if f]
        for name in set(frames):
            inclusive[name] += samples
        if frames:
            own[frames[-1]] += samples
    if not total:
        return {"inclusive": [], "self": []}
    ours = [(name, c / total) for name, c in inclusive.most_common() if _interesting(name)][:n]
    return {"inclusive": ours, "self": [(name, c / total) for name, c in own.most_common(n)]}


def _name(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    if "site-packages" in path:
        short = "/".join(path.split("/site-packages/")[-1].split("/")[-2:])
    elif "/streams/" in f"/{path}":  # the project's own modules by their path in the package (py-spy may give it
        short = "streams/" + f"/{path}".rsplit("/streams/", 1)[1]  # relative to the working directory)
    else:
        short = "/".join(path.split("/")[-2:])
    return f"{m.group('func').strip()} ({short})"


def _interesting(name: str) -> bool:
    # the whole-program frames (event loop, thread start) are on every stack and say nothing
    return not any(s in name for s in ("<module>", "run_forever", "_run_once", "_run (asyncio", "run (asyncio",
                                       "main (", "_bootstrap", "run_until_complete", "execute_from_commandline",
                                       "worker (streams/cli", "__call__ (click"))

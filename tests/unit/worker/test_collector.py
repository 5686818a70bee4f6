"""The worker's garbage collection policy, in a process of its own (it changes the interpreter's collector)."""

import json
import subprocess
import sys

CHECK = r"""
import gc, json
from streams.worker import collector

class Cycle:
    def __init__(self):
        self.me = self

started = [Cycle() for _ in range(100)]
garbage_at_start = Cycle()
del garbage_at_start
young, middle, _ = gc.get_threshold()
collector.set_aside()
after_set_aside = {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}

# cycles that outlive the young generations: no automatic full collection frees them
gc.collect(1)
for _ in range(3):
    kept = [Cycle() for _ in range(5000)]
    gc.collect(1)
    gc.collect(1)  # into the oldest generation
    del kept
    for _ in range(50):
        [Cycle() for _ in range(1000)]
print(json.dumps({**after_set_aside, "young": [young, middle], "freed_by_timer": collector.collect(),
                  "frozen_after": gc.get_freeze_count()}))
"""


def test_the_started_heap_is_set_aside_and_full_collections_wait_for_the_timer():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] > 100  # at least the started objects, set aside
    assert seen["threshold"][:2] == seen["young"]  # the young generations as the interpreter had them
    assert seen["threshold"][2] >= 2**31 - 1  # the oldest only by the timer
    # the 15,000 cycles that outlived the young generations were still there for the timer's collection to free;
    # what was set aside stays set aside
    assert seen["freed_by_timer"] >= 15_000
    assert seen["frozen_after"] == seen["frozen"]


"""Garbage-collector settings for fingress's long-running processes (edge, connector, demo, emulator, bench).

CPython's cyclic collector runs a full collection whenever objects surviving into its oldest generation
reach a quarter of those already there. A gateway holding thousands of agents promotes a steady stream of
medium-lived objects (each agent's current dialog and user models live until the next notification), so
full collections came every few seconds, each scanning every session's objects: 70–120 ms with 500
agents on this machine, pauses that were the whole p99 tail of event latency (`fingress bench`, README
"Performance"). Two settings, applied once at start-up:

* the objects alive after start-up (modules, classes, configuration) are moved to the permanent
  generation (``gc.freeze``), which no collection scans;
* a full collection waits for many more young-generation collections (``FULL_COLLECTION_AFTER``, instead
  of 10): minutes rather than seconds apart under load. Garbage without reference cycles is still freed
  at once by reference counting; only cyclic garbage waits longer, a bounded amount.
"""

from __future__ import annotations

import gc

# Middle-generation collections between two full collections (CPython's default is 10).
FULL_COLLECTION_AFTER = 1000


def tune_for_serving() -> None:
    """Apply the settings above to this process (idempotent)."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)

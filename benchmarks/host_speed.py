"""How fast this host is right now: one fixed CPU-bound workload (JSON encoding, SHA-256, a Python loop) on
one core, then on two at once. The shared development machine's speed moves by a third within a day;
print this beside a benchmark's figures so two runs can be told apart from two hosts.

    python benchmarks/host_speed.py
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor


def workload(_: int = 0) -> tuple[float, float]:
    """CPU and wall seconds of the fixed workload."""
    cpu, wall = time.process_time(), time.perf_counter()
    document = {"a": [1, 2, 3] * 50, "b": "x" * 100}
    for _ in range(20_000):
        json.dumps(document)
        hashlib.sha256(b"x" * 1000).digest()
    total = 0
    for number in range(2_000_000):
        total += number
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    cpu_s, wall_s = workload()
    print(f"one core: {cpu_s:.3f} s CPU, {wall_s:.3f} s wall")
    with ProcessPoolExecutor(2) as pool:
        both = list(pool.map(workload, [0, 1]))
    print("two at once: " + ", ".join(f"{cpu:.3f} s CPU / {wall:.3f} s wall" for cpu, wall in both))


if __name__ == "__main__":
    main()

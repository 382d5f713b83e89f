"""Python anchors for weft-thread's benchmarks: the same workloads with CPython's threading.

Run by `cargo xtask bench thread` when python3 is present. Prints one line per workload:
`<criterion group name> <nanoseconds per operation>`, the median of REPEATS runs.
"""

import statistics
import sys
import threading
import time

REPEATS = 3


def spawn_join(n):
    t0 = time.perf_counter()
    for _ in range(n):
        t = threading.Thread(target=lambda: 1)
        t.start()
        t.join()
    return time.perf_counter() - t0


def join_finished(n):
    total = 0.0
    for _ in range(n):
        t = threading.Thread(target=lambda: 1)
        t.start()
        while t.is_alive():
            time.sleep(0)
        t0 = time.perf_counter()
        t.join(10)
        total += time.perf_counter() - t0
    return total


def is_stopped(n):
    stop = threading.Event()
    t0 = time.perf_counter()
    for _ in range(n):
        stop.is_set()
    return time.perf_counter() - t0


def stop_wakes_sleeper(n):
    total = 0.0
    for _ in range(n):
        stop = threading.Event()
        woke = []
        t = threading.Thread(target=lambda: (stop.wait(3600), woke.append(time.perf_counter())))
        t.start()
        time.sleep(0.001)  # let it park
        t0 = time.perf_counter()
        stop.set()
        t.join()
        total += woke[0] - t0
    return total


WORKLOADS = [
    ("thread-spawn_join", spawn_join, 2_000),
    ("thread-join_timeout_finished", join_finished, 2_000),
    ("thread-is_stopped", is_stopped, 1_000_000),
    ("thread-stop_wakes_sleeper", stop_wakes_sleeper, 300),
]


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for name, fn, n in WORKLOADS:
        if only in name:
            runs = [fn(n) / n * 1e9 for _ in range(REPEATS)]
            print(f"{name} {statistics.median(runs):.1f}", flush=True)


if __name__ == "__main__":
    main()

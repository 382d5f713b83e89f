"""Python anchors for weft-executor's benchmarks: the same workloads with concurrent.futures.

Run by `cargo xtask bench executor` when python3 is present. Prints one line per workload:
`<criterion group name> <nanoseconds per criterion iteration>` (an iteration is the whole batch,
as in the Rust bench), the median of REPEATS runs. Pools have 2 workers, as in the Rust bench.
"""

import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

REPEATS = 3
WORKERS = 2


def noop(i):
    return i


def work(x):
    return ((x * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 7


def thread_batch(n):
    with ThreadPoolExecutor(WORKERS) as ex:
        ex.submit(noop, 0).result()
        t0 = time.perf_counter()
        fs = [ex.submit(noop, i) for i in range(n)]
        sum(f.result() for f in fs)
        return time.perf_counter() - t0


def thread_serial(n):
    with ThreadPoolExecutor(WORKERS) as ex:
        ex.submit(noop, 0).result()
        t0 = time.perf_counter()
        for i in range(n):
            ex.submit(noop, i).result()
        return time.perf_counter() - t0


def thread_map(n):
    with ThreadPoolExecutor(WORKERS) as ex:
        ex.submit(noop, 0).result()
        t0 = time.perf_counter()
        sum(ex.map(work, range(n)))
        return time.perf_counter() - t0


def process_pool():
    return ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("fork"))


def process_batch(n):
    with process_pool() as ex:
        list(ex.map(noop, range(WORKERS * 4)))  # workers started
        t0 = time.perf_counter()
        fs = [ex.submit(noop, i) for i in range(n)]
        sum(f.result() for f in fs)
        return time.perf_counter() - t0


def process_serial(n):
    with process_pool() as ex:
        list(ex.map(noop, range(WORKERS * 4)))
        t0 = time.perf_counter()
        for i in range(n):
            ex.submit(noop, i).result()
        return time.perf_counter() - t0


def process_map_chunked(n):
    with process_pool() as ex:
        list(ex.map(noop, range(WORKERS * 4)))
        t0 = time.perf_counter()
        sum(ex.map(work, range(n), chunksize=1000))
        return time.perf_counter() - t0


# (criterion group, function, items per iteration, repetitions of the batch measured)
WORKLOADS = [
    ("executor-thread_batch_100k", thread_batch, 100_000),
    ("executor-thread_serial", thread_serial, 1),
    ("executor-thread_map_100k", thread_map, 100_000),
    ("executor-process_batch_10k", process_batch, 10_000),
    ("executor-process_serial", process_serial, 1),
    ("executor-process_map_chunked_100k", process_map_chunked, 100_000),
]

# Per-operation workloads (an iteration is one task) are measured over this many operations.
SERIAL_OPS = {"executor-thread_serial": 5_000, "executor-process_serial": 2_000}


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for name, fn, n in WORKLOADS:
        if only not in name:
            continue
        ops = SERIAL_OPS.get(name)
        if ops:
            runs = [fn(ops) / ops * 1e9 for _ in range(REPEATS)]
        else:
            runs = [fn(n) * 1e9 for _ in range(REPEATS)]
        print(f"{name} {statistics.median(runs):.1f}", flush=True)


if __name__ == "__main__":
    main()

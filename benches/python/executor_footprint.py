"""Python's side of weft-executor's burst footprint row (BENCHMARKS.md, weft-executor, Footprint).

Not run by `cargo xtask bench` (its lines are not timings):
`python3 benches/python/executor_footprint.py`.
A ProcessPoolExecutor of 2 workers (fork context), warm, takes BURST submits; prints the heap
bytes (tracemalloc) the queued tasks hold, and what is still held against the idle pool once
every result was taken and the futures dropped.
"""

import concurrent.futures as cf
import gc
import multiprocessing as mp
import tracemalloc

BURST = 200_000


def noop(x):
    return x


def main():
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
        list(ex.map(noop, range(8)))
        gc.collect()
        tracemalloc.start()
        idle = tracemalloc.get_traced_memory()[0]
        fs = [ex.submit(noop, x) for x in range(BURST)]
        queued = tracemalloc.get_traced_memory()[0] - idle
        assert sum(f.result() for f in fs) == BURST * (BURST - 1) // 2
        del fs
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - idle
        print(f"{BURST} tasks queued: +{queued} heap bytes ({queued // BURST} per task); "
              f"once answered: {kept:+} heap bytes against the idle pool")


if __name__ == "__main__":
    main()

"""Python anchors for weft-channel's benchmarks: the same workloads with CPython's queue and asyncio.

Run by `cargo xtask bench channel` when python3 is present. Prints one line per workload:
`<criterion group name> <nanoseconds per message>`, the median of REPEATS runs.

The shapes follow crates/weft-channel/benches/channel.rs: `seq` (one thread puts a round, then
gets it), `spsc` (one producer thread, one consumer thread), `mpmc` (4 producers, 4 consumers).
Threads are released together by a barrier; a run's time goes from the first thread's start to the
last one's end.
"""

import asyncio
import queue
import statistics
import sys
import threading
import time

REPEATS = 3
MASK = (1 << 64) - 1


def msg(i):
    """The i-th message a producer sends, scrambled like the Rust bench's (for PriorityQueue)."""
    return (i * 0x9E3779B97F4A7C15) & MASK


def share(n, k, i):
    """Worker i's share of n messages split among k workers."""
    return n // k + (1 if i < n % k else 0)


def per_msg(fn, n):
    """Median over REPEATS of fn(n)'s seconds, in ns per message."""
    return statistics.median(fn(n) / n * 1e9 for _ in range(REPEATS))


def run_threads(jobs):
    """Runs each job on a thread of its own, released together; returns the span in seconds."""
    start = threading.Barrier(len(jobs))
    spans = [None] * len(jobs)

    def runner(idx, job):
        start.wait()
        t0 = time.perf_counter()
        job()
        spans[idx] = (t0, time.perf_counter())

    threads = [threading.Thread(target=runner, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(s[1] for s in spans) - min(s[0] for s in spans)


def producer(q, items):
    def job():
        put = q.put
        for item in items:
            put(item)

    return job


def consumer(q, k):
    def job():
        get = q.get
        for _ in range(k):
            get()

    return job


def threads(make, producers, consumers):
    """n messages through make() with producer and consumer threads."""

    def run(n):
        q = make()
        jobs = [producer(q, [msg(i) for i in range(share(n, producers, p))]) for p in range(producers)]
        jobs += [consumer(q, share(n, consumers, c)) for c in range(consumers)]
        return run_threads(jobs)

    return run


def seq_unbounded(n):
    """One thread puts all n messages, then gets them."""
    q = queue.Queue()
    items = [msg(i) for i in range(n)]
    put, get = q.put, q.get
    t0 = time.perf_counter()
    for item in items:
        put(item)
    for _ in range(n):
        get()
    return time.perf_counter() - t0


def task_done_spsc(n):
    """The consumer calls task_done per item; the producer joins at the end."""
    q = queue.Queue(1000)
    items = [msg(i) for i in range(n)]

    def prod():
        put = q.put
        for item in items:
            put(item)
        q.join()

    def cons():
        get, done = q.get, q.task_done
        for _ in range(n):
            get()
            done()

    return run_threads([prod, cons])


def async_spsc(n):
    """asyncio.Queue(1000): one producer task, one consumer task."""

    async def main():
        q = asyncio.Queue(1000)
        items = [msg(i) for i in range(n)]

        async def prod():
            put = q.put
            for item in items:
                await put(item)

        async def cons():
            get = q.get
            for _ in range(n):
                await get()

        t0 = time.perf_counter()
        await asyncio.gather(prod(), cons())
        return time.perf_counter() - t0

    return asyncio.run(main())


WORKLOADS = [
    ("channel-queue_seq_unbounded", seq_unbounded, 100_000),
    ("channel-queue_spsc_bounded1000", threads(lambda: queue.Queue(1000), 1, 1), 100_000),
    ("channel-queue_spsc_unbounded", threads(queue.Queue, 1, 1), 100_000),
    ("channel-queue_mpmc_bounded1000", threads(lambda: queue.Queue(1000), 4, 4), 60_000),
    ("channel-queue_mpmc_unbounded", threads(queue.Queue, 4, 4), 60_000),
    ("channel-queue_task_done_spsc_bounded1000", task_done_spsc, 100_000),
    ("channel-simple_spsc", threads(queue.SimpleQueue, 1, 1), 1_000_000),
    ("channel-async_spsc_bounded1000", async_spsc, 200_000),
    ("channel-lifo_mpmc_bounded1000", threads(lambda: queue.LifoQueue(1000), 4, 4), 60_000),
    ("channel-priority_mpmc_bounded1000", threads(lambda: queue.PriorityQueue(1000), 4, 4), 60_000),
]


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for name, run, n in WORKLOADS:
        if only in name:
            print(f"{name} {per_msg(run, n):.1f}", flush=True)


if __name__ == "__main__":
    main()

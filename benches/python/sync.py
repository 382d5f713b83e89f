"""Python anchors for weft-sync's benchmarks: the same workloads with CPython's threading.

Run by `cargo xtask bench sync` when python3 is present. Prints one line per workload:
`<criterion group name> <nanoseconds per operation>`, the median of REPEATS runs.
"""

import statistics
import sys
import threading
import time

REPEATS = 3


def per_op(fn, n):
    """Median over REPEATS of fn(n)'s seconds, in ns per operation."""
    runs = []
    for _ in range(REPEATS):
        runs.append(fn(n) / n * 1e9)
    return statistics.median(runs)


def single(body):
    def run(n):
        t0 = time.perf_counter()
        for _ in range(n):
            body()
        return time.perf_counter() - t0

    return run


def two_threads(mine, partner):
    """Time n iterations of mine(n) while partner(n) runs on another thread."""

    def run(n):
        start = threading.Barrier(2)

        def other():
            start.wait()
            partner(n)

        t = threading.Thread(target=other)
        t.start()
        start.wait()
        t0 = time.perf_counter()
        mine(n)
        t.join()
        return time.perf_counter() - t0

    return run


def lock_uncontended():
    lock = threading.Lock()

    def body():
        with lock:
            pass

    return single(body)


def lock_contended():
    lock = threading.Lock()

    def loop(n):
        for _ in range(n):
            with lock:
                pass

    return two_threads(loop, loop)


def rlock_uncontended():
    lock = threading.RLock()

    def body():
        with lock:
            pass

    return single(body)


def rlock_reentered():
    lock = threading.RLock()

    def body():
        with lock:
            with lock:
                with lock:
                    pass

    return single(body)


def semaphore_uncontended():
    sem = threading.Semaphore(1)

    def body():
        with sem:
            pass

    return single(body)


def semaphore_contended():
    sem = threading.Semaphore(1)

    def loop(n):
        for _ in range(n):
            with sem:
                pass

    return two_threads(loop, loop)


def semaphore_handoff():
    a, b = threading.Semaphore(0), threading.Semaphore(0)

    def mine(n):
        for _ in range(n):
            b.release()
            a.acquire()

    def partner(n):
        for _ in range(n):
            b.acquire()
            a.release()

    return two_threads(mine, partner)


def barrier():
    bar = threading.Barrier(2)

    def loop(n):
        for _ in range(n):
            bar.wait()

    return two_threads(loop, loop)


def condition_pingpong():
    cond = threading.Condition()
    turn = [True]

    def side(me):
        def loop(n):
            for _ in range(n):
                with cond:
                    cond.wait_for(lambda: turn[0] == me)
                    turn[0] = not me
                    cond.notify()

        return loop

    return two_threads(side(True), side(False))


def event_pingpong():
    events = [threading.Event(), threading.Event()]
    events[0].set()

    def side(me):
        def loop(n):
            for _ in range(n):
                events[me].wait()
                events[me].clear()
                events[1 - me].set()

        return loop

    return two_threads(side(0), side(1))


WORKLOADS = [
    ("sync-lock_uncontended", lock_uncontended, 1_000_000),
    ("sync-lock_contended_2t", lock_contended, 200_000),
    ("sync-rlock_uncontended", rlock_uncontended, 1_000_000),
    ("sync-rlock_reentered_3", rlock_reentered, 300_000),
    ("sync-semaphore_uncontended", semaphore_uncontended, 300_000),
    ("sync-semaphore_contended_2t", semaphore_contended, 50_000),
    ("sync-semaphore_handoff_2t", semaphore_handoff, 5_000),
    ("sync-barrier_2t", barrier, 2_000),
    ("sync-condition_pingpong_2t", condition_pingpong, 2_000),
    ("sync-event_pingpong_2t", event_pingpong, 2_000),
]


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    for name, make, n in WORKLOADS:
        if only in name:
            print(f"{name} {per_op(make(), n):.1f}", flush=True)


if __name__ == "__main__":
    main()

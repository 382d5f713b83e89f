"""Python anchors for weft-process's benchmarks: the same workloads with CPython's subprocess and
multiprocessing.

Run by `cargo xtask bench process` when python3 is present. Prints one line per workload:
`<criterion group name> <nanoseconds per operation>`, the median of REPEATS runs. Extra lines
(`process-start_join_fork`, `process-rss_*_kib`) are figures for BENCHMARKS.md that have no
criterion group of the same name.
"""

import multiprocessing as mp
import statistics
import subprocess
import time

REPEATS = 3


def noop():
    pass


def start_join(ctx, n):
    t0 = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    return (time.perf_counter() - t0) / n


def echo(conn):
    # A forked child also holds the parent's end, so it would never see EOF: stop on None.
    while (v := conn.recv()) is not None:
        conn.send(v)


def pipe_round_trip(ctx, n):
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=echo, args=(theirs,))
    p.start()
    theirs.close()
    t0 = time.perf_counter()
    for _ in range(n):
        ours.send(7)
        ours.recv()
    took = (time.perf_counter() - t0) / n
    ours.send(None)
    p.join()
    return took


def consume(q, done):
    count = 0
    while True:
        item = q.get()
        if not item:
            done.put(count)
            return
        count += 1


def queue_1p1c(ctx, n):
    q = ctx.Queue(1000)
    done = ctx.Queue()
    p = ctx.Process(target=consume, args=(q, done))
    p.start()
    item = b"\x01" * 64
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(item)
    q.put(b"")
    assert done.get() == n
    took = (time.perf_counter() - t0) / n
    p.join()
    return took


def rss_kib():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:")):
                fields[line.split(":")[0]] = int(line.split()[1])
    return fields.get("VmRSS", 0), fields.get("RssAnon", 0)


def report_rss(q):
    q.put(rss_kib())


def child_rss(ctx):
    q = ctx.Queue()
    p = ctx.Process(target=report_rss, args=(q,))
    p.start()
    value = q.get()
    p.join()
    return value


def run_true(n):
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"])
    return (time.perf_counter() - t0) / n


def median(f, *args):
    return statistics.median(f(*args) for _ in range(REPEATS)) * 1e9


def main():
    spawn = mp.get_context("spawn")
    fork = mp.get_context("fork")
    print("process-start_join", median(start_join, spawn, 5))
    print("process-start_join_fork", median(start_join, fork, 50))
    print("process-start_join_forkserver", median(start_join, mp.get_context("forkserver"), 20))
    print("process-pipe_round_trip", median(pipe_round_trip, fork, 2000))
    print("process-queue_1p1c_64B", median(queue_1p1c, fork, 100_000))
    print("process-run", median(run_true, 200))
    for name, ctx in (("spawn", spawn), ("fork", fork)):
        rss, anon = child_rss(ctx)
        print(f"process-rss_{name}_child_kib", rss)
        print(f"process-rss_anon_{name}_child_kib", anon)


if __name__ == "__main__":
    main()

"""Python anchors for weft-async's benchmarks: the same workloads with asyncio.

Run by `cargo xtask bench async` when python3 is present. Prints one line per workload:
`<criterion group name> <nanoseconds per criterion iteration>` (an iteration is the whole batch,
as in the Rust bench), the median of REPEATS runs. Each batch runs inside asyncio.run, as the
Rust bench runs inside weft_async::run.
"""

import asyncio
import statistics
import time

REPEATS = 3
TASKS = 100_000
GROUP = 10_000
ITEMS = 1_000_000


async def value(i):
    return i


async def gather_batch():
    return sum(await asyncio.gather(*(asyncio.create_task(value(i)) for i in range(TASKS))))


async def group_batch():
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(value(i)) for i in range(GROUP)]
    return sum(t.result() for t in tasks)


async def numbers(n):
    for i in range(n):
        yield i


async def generator_batch():
    total = 0
    async for i in numbers(ITEMS):
        total += i
    return total


def timed(coro_fn):
    runs = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        asyncio.run(coro_fn())
        runs.append((time.perf_counter() - t0) * 1e9)
    return statistics.median(runs)


def main():
    print(f"async-gather-100k {timed(gather_batch):.0f}")
    print(f"async-task-group-10k {timed(group_batch):.0f}")
    gen = timed(generator_batch)
    # One Python generator anchors both Rust forms (macro and macro-free).
    print(f"async-generator-macro {gen:.0f}")
    print(f"async-generator-fn {gen:.0f}")


if __name__ == "__main__":
    main()

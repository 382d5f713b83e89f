//! async generators: `async def` + `yield` consumed by `async for`, two-way asend, and aclose
//!
//! ```python
//! async def ticker(n):
//!     for i in range(n):
//!         await asyncio.sleep(0.005)     # awaits between yields
//!         yield i
//!
//! async for t in ticker(3): ...
//!
//! async def averager():                  # two-way: v = yield x, driven by asend(v)
//!     total = n = 0
//!     while True:
//!         v = yield (total / n if n else None)
//!         total, n = total + v, n + 1
//!
//! async def lines():
//!     try:
//!         while True:
//!             yield "line"
//!     finally:
//!         await flush()                  # awaited by aclose()
//!
//! async with contextlib.aclosing(lines()) as g:
//!     async for line in g: break
//! ```
//!
//! weft writes `yield` two ways: inside the `async_gen!` macro (async-stream's `stream!`), or
//! without a macro, `generator(|mut co| async move { co.yield_(x).await; })`, which also gives
//! `aclose()` and, with `coroutine`, `asend`. `anext(&mut g)` returns `None` where Python raises
//! `StopAsyncIteration`; `anext_or(&mut g, default)` is `anext(g, default)`.

use std::pin::pin;
use std::time::{Duration, Instant};

use weft::aio::{
    anext, anext_or, async_gen, coroutine, generator, run, sleep, try_generator, GeneratorExit,
};

fn main() {
    run(async {
        let start = Instant::now();

        println!("async_gen! with an await between yields; async for:");
        let mut ticker = pin!(async_gen! {
            for i in 0..3u32 {
                sleep(Duration::from_millis(5)).await;
                yield i;
            }
        });
        while let Some(t) = anext(&mut ticker).await {
            println!("  tick {t} at {:>2} ms", start.elapsed().as_millis());
        }

        println!("generator(|mut co| ...), no macro; anext with a default after the end:");
        let mut pages = generator(|mut co| async move {
            for page in 1..=2 {
                sleep(Duration::from_millis(5)).await; // the request
                co.yield_(format!("page {page}")).await;
            }
        });
        for _ in 0..3 {
            println!(
                "  {}",
                anext_or(&mut pages, "(no more pages)".to_string()).await
            );
        }

        println!("try_generator: an error midway is the last item:");
        let mut parsed = try_generator(|mut co| async move {
            for s in ["1", "2", "three", "4"] {
                co.yield_(s.parse::<u32>()?).await;
            }
            Ok::<(), std::num::ParseIntError>(())
        });
        while let Some(item) = anext(&mut parsed).await {
            println!("  {item:?}");
        }

        println!("coroutine: start(), then asend(v) resumes `v = yield x`:");
        let mut avg = coroutine(|mut co| async move {
            let (mut total, mut n) = (0.0, 0.0);
            loop {
                let v: f64 = co.yield_((n > 0.0).then(|| total / n)).await;
                total += v;
                n += 1.0;
            }
        });
        let first = avg.start().await.expect("not started yet");
        println!("  start() -> {:?}", first.flatten());
        for v in [10.0, 20.0, 60.0] {
            let average = avg.asend(v).await.expect("suspended at its yield");
            println!("  asend({v}) -> {:?}", average.flatten());
        }

        println!("early break, then aclose(): the generator's cleanup runs and is awaited:");
        let mut lines = generator(|mut co| async move {
            let mut n = 0;
            loop {
                n += 1;
                if co.yield_or_exit(format!("line {n}")).await == Err(GeneratorExit) {
                    sleep(Duration::from_millis(5)).await; // await flush()
                    println!("  (lines: flushed after {n} lines)");
                    return;
                }
            }
        });
        while let Some(line) = anext(&mut lines).await {
            println!("  {line}");
            if line == "line 2" {
                break;
            }
        }
        lines.aclose().await.expect("the generator ended quietly");
        println!("  after aclose: anext -> {:?}", anext(&mut lines).await);
        println!("(dropping a generator instead runs its destructors, but cannot await)");
    })
    .expect("not inside another runtime");
}

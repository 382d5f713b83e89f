//! async generators: `async def` + `yield` consumed by `async for`, asend, aclose, `__anext__`
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
//!
//! class Countdown:                       # an AsyncIterator written by hand
//!     def __init__(self, n): self.n = n
//!     def __aiter__(self): return self
//!     async def __anext__(self):
//!         if self.n == 0: raise StopAsyncIteration
//!         self.n -= 1
//!         return self.n + 1
//! ```
//!
//! weft writes `yield` two ways: inside the `async_gen!` macro (async-stream's `stream!`), or
//! without a macro, `generator(|mut co| async move { co.yield_(x).await; })`, which also gives
//! `aclose()` and, with `coroutine`, `asend`. `anext(&mut g)` returns `None` where Python raises
//! `StopAsyncIteration`; `anext_or(&mut g, default)` is `anext(g, default)`. What all of them are
//! is a `Stream`: a class with `__aiter__`/`__anext__` is a type implementing `Stream::poll_next`
//! by hand, and `async for` takes either.

use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;

use weft::aio::{
    anext, anext_or, async_gen, coroutine, generator, run, sleep, try_generator, GeneratorExit,
};

/// Python's class with `__aiter__` and `__anext__`: a type implementing `Stream` by hand.
struct Countdown(u32);

impl Stream for Countdown {
    type Item = u32;

    /// `__anext__`: the next item, `None` for `StopAsyncIteration` (or `Pending`, after arranging
    /// a wake-up, when the next item is not ready yet: what an `await` inside `__anext__` does).
    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u32>> {
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        self.0 -= 1;
        Poll::Ready(Some(self.0 + 1))
    }
}

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

        println!("a hand-written AsyncIterator (impl Stream for Countdown), read the same way:");
        let mut countdown = Countdown(3);
        while let Some(n) = anext(&mut countdown).await {
            println!("  {n}");
        }
    })
    .expect("not inside another runtime");
}

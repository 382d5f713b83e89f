//! Behaviour tests of async generators: [`generator`], [`try_generator`], [`coroutine`], the
//! re-exported macros [`async_gen!`] and [`try_async_gen!`], [`anext`], [`anext_or`] and
//! `aclose`.
//!
//! Re-expressed from CPython's `Lib/test/test_asyncgen.py`: `test_async_gen_iteration_01`/`_02`
//! (yields in order, awaits between them), `test_async_gen_asyncio_01` (sleeps between yields),
//! `test_async_gen_exception_04` and `test_async_gen_asyncio_02` (an error midway ends the
//! iteration: the `try_` forms), `test_async_gen_exception_03` (a failure propagates to the
//! consumer: here a panic), `test_async_gen_asyncio_anext_04` and
//! `check_async_iterator_anext` (an exhausted generator keeps answering `StopAsyncIteration`:
//! `None`), `test_async_generator_anext` and `test_python_async_iterator_anext` (`anext` with
//! a default, on a generator and on a hand-written async iterator), `test_async_gen_asyncio_anext_05`
//! and `test_async_gen_asyncio_asend_01` (two-way `asend`), `test_async_gen_exception_10`
//! (sending before starting), `test_async_gen_asyncio_asend_02` (the body fails after `asend`;
//! its cleanup runs), `test_async_gen_asyncio_aclose_07`/`_08`/`_10` (`aclose` awaits the
//! cleanup; code after it does not run), `test_async_gen_asyncio_aclose_06`/`_11` (a generator
//! that yields after `GeneratorExit`), `test_asyncgen_nonstarted_hooks_are_cancellable`,
//! `test_async_gen_aclose_twice_with_different_coros` and
//! `test_async_gen_aclose_after_exhaustion` (`aclose` of a never-started, closed, or finished
//! generator). `athrow` has no counterpart (Rust has no exceptions to throw in; a two-way
//! generator can be sent an enum), nor do the syntax, frame and `ag_*` attribute tests.
//! Added: drop of a generator mid-iteration drops what it captured, `aclose` of a body
//! interrupted between two yields, an `aclose` itself interrupted, `aclose` of a two-way
//! coroutine, a yield future dropped after its first poll, the misuse of a
//! yielder (awaited in a spawned task; awaited inside another generator's body, the shape of
//! async-stream issue 106), `Send` (consumed by a task of a multi-thread runtime), and `Debug`
//! and `Display`.

mod common;
use common::block_on_without_a_runtime;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_core::FusedStream;
use futures_util::{poll, FutureExt, StreamExt};
use tokio::time::Instant;
use weft_async::{
    anext, anext_or, async_gen, coroutine, generator, try_async_gen, try_generator, AcloseError,
    AlreadyStarted, AsendError, Coroutine, Generator, GeneratorExit, TryGenerator, Yield, Yielder,
};

/// A current-thread runtime with a real clock, for tests that block on it step by step.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Runs `f` on a current-thread runtime whose clock is paused (sleeps advance it at once).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A shared counter.
fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn get(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

fn add(c: &AtomicUsize, n: usize) {
    c.fetch_add(n, Ordering::SeqCst);
}

/// Counts its drops in the shared counter.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        add(&self.0, 1);
    }
}

/// The message of a panic payload.
use weft_sync::panic_message as message;

// ---------------------------------------------------------------------------------------------
// Iteration: test_async_gen_iteration_01/_02, test_async_gen_asyncio_01

#[test]
fn yields_in_order_with_awaits_between_then_ends() {
    block_on(async {
        let g = generator(|mut co| async move {
            tokio::task::yield_now().await;
            co.yield_(123).await;
            tokio::task::yield_now().await;
            co.yield_(456).await;
            tokio::task::yield_now().await;
            co.yield_(789).await;
            tokio::task::yield_now().await;
        });
        assert_eq!(g.collect::<Vec<_>>().await, [123, 456, 789]);

        let m = async_gen! {
            tokio::task::yield_now().await;
            yield 123;
            tokio::task::yield_now().await;
            yield 456;
        };
        assert_eq!(m.collect::<Vec<_>>().await, [123, 456]);
    });
}

#[test]
fn the_body_runs_only_when_items_are_asked_for() {
    block_on(async {
        let steps = counter();
        let s = steps.clone();
        let mut g = generator(|mut co| async move {
            add(&s, 1);
            co.yield_(1).await;
            add(&s, 1);
            co.yield_(2).await;
            add(&s, 1);
        });
        assert_eq!(get(&steps), 0, "not started before the first anext");
        assert_eq!(anext(&mut g).await, Some(1));
        assert_eq!(get(&steps), 1, "suspended at the first yield");
        assert_eq!(anext(&mut g).await, Some(2));
        assert_eq!(get(&steps), 2);
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(get(&steps), 3);
    });
}

#[test]
fn sleeps_between_yields_take_their_time() {
    block_on(async {
        let start = Instant::now();
        let mut g = generator(|mut co| async move {
            co.yield_(1).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            co.yield_(2).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            // `return` before `yield 3`
        });
        assert_eq!(anext(&mut g).await, Some(1));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(anext(&mut g).await, Some(2));
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    });
}

// ---------------------------------------------------------------------------------------------
// Failure midway: test_async_gen_exception_04, test_async_gen_asyncio_02, _exception_03

#[test]
fn try_generator_error_midway_is_the_last_item() {
    block_on(async {
        let after = counter();
        let a = after.clone();
        let mut g = try_generator(|mut co| async move {
            co.yield_(1).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            co.yield_(2).await;
            let n: u32 = "x".parse()?; // 1 / 0
            add(&a, 1);
            co.yield_(n).await;
            Ok::<(), std::num::ParseIntError>(())
        });
        assert_eq!(anext(&mut g).await, Some(Ok(1)));
        assert_eq!(anext(&mut g).await, Some(Ok(2)));
        assert!(matches!(anext(&mut g).await, Some(Err(_))));
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(anext(&mut g).await, None);
        assert!(g.is_terminated());
        assert_eq!(get(&after), 0, "nothing after the error ran");

        let mut m = pin!(try_async_gen! {
            yield 1;
            let n: u32 = "x".parse()?;
            yield n;
        });
        let first: Option<Result<u32, std::num::ParseIntError>> = anext(&mut m).await;
        assert_eq!(first, Some(Ok(1)));
        assert!(matches!(anext(&mut m).await, Some(Err(_))));
        assert_eq!(anext(&mut m).await, None);
    });
}

#[test]
fn a_panic_in_the_body_reaches_the_consumer_and_ends_the_generator() {
    let rt = current_thread();
    let dropped = counter();
    let d = DropCount(dropped.clone());
    let mut g = generator(move |mut co| async move {
        let _d = d;
        co.yield_(123).await;
        panic!("AwaitException");
    });
    assert_eq!(rt.block_on(anext(&mut g)), Some(123));
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(anext(&mut g)))).unwrap_err();
    assert_eq!(message(&*err), "AwaitException");
    assert_eq!(
        get(&dropped),
        1,
        "the body was dropped as the panic unwound"
    );
    assert_eq!(rt.block_on(anext(&mut g)), None, "finished after the panic");
    assert!(g.is_terminated());

    // In a task, the panic is the task's.
    let joined = rt.block_on(async {
        tokio::spawn(async {
            let mut g = generator(|mut co| async move {
                co.yield_(1).await;
                panic!("boom in the body");
            });
            while anext(&mut g).await.is_some() {}
        })
        .await
    });
    let payload = joined.unwrap_err().into_panic();
    assert_eq!(message(&*payload), "boom in the body");
}

/// After a panic in its body, a coroutine is finished for every method, not only for `next`:
/// `asend` gives its value back, `start` answers `None`, `aclose` succeeds at once, and it says
/// "finished"; its body's captures were dropped by the panic.
#[test]
fn after_a_panic_every_method_sees_a_finished_coroutine() {
    let rt = current_thread();
    let dropped = counter();
    let d = DropCount(dropped.clone());
    let mut c = coroutine(move |mut co| async move {
        let _d = d;
        let v: u32 = co.yield_(1u32).await;
        if v == 13 {
            panic!("unlucky");
        }
        co.yield_(v).await;
    });
    assert_eq!(rt.block_on(c.start()), Ok(Some(1)));
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(c.asend(13)))).unwrap_err();
    assert_eq!(message(&*err), "unlucky");
    assert_eq!(
        get(&dropped),
        1,
        "the body's captures were dropped by the panic"
    );
    assert_eq!(format!("{c:?}"), "Coroutine { state: \"finished\" }");
    assert!(c.is_finished());
    assert_eq!(rt.block_on(c.asend(2)), Err(AsendError::Finished(2)));
    assert_eq!(rt.block_on(c.start()), Ok(None));
    assert_eq!(rt.block_on(c.aclose()), Ok(()));

    // A generator whose body panicked closes at once too, and stays finished.
    let mut g = generator(|mut co| async move {
        co.yield_(1).await;
        panic!("boom");
    });
    assert_eq!(rt.block_on(anext(&mut g)), Some(1));
    assert!(catch_unwind(AssertUnwindSafe(|| rt.block_on(anext(&mut g)))).is_err());
    assert!(g.is_terminated());
    assert_eq!(rt.block_on(g.aclose()), Ok(()));
    assert_eq!(rt.block_on(anext(&mut g)), None);
}

/// A body that is not an async block (here a combinator owning a capture) is dropped as the
/// panic unwinds too, before the consumer sees the panic, not at some later call.
#[test]
fn a_panicking_combinator_body_is_dropped_before_the_panic_reaches_the_consumer() {
    let rt = current_thread();
    let dropped = counter();
    let d = DropCount(dropped.clone());
    let mut g = generator(move |mut co| {
        async move {
            co.yield_(1u32).await;
            panic!("boom");
        }
        .map(move |()| drop(d))
    });
    assert_eq!(rt.block_on(anext(&mut g)), Some(1));
    assert!(catch_unwind(AssertUnwindSafe(|| rt.block_on(anext(&mut g)))).is_err());
    assert_eq!(
        get(&dropped),
        1,
        "the combinator's capture went with the unwinding"
    );
    assert!(g.is_terminated());
}

/// A body whose destructor panics once it has returned (a hand-written future here) finishes its
/// coroutine for every method too: the panic reaches `start`, and after it the coroutine says
/// "finished" and `asend` answers `Finished`, not `NotStarted`.
#[test]
fn a_body_panicking_in_its_drop_after_returning_finishes_the_coroutine() {
    struct ReturnsThenPanicsOnDrop<Y>(Y);
    impl<Y: Unpin> Future for ReturnsThenPanicsOnDrop<Y> {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            let _yielder = &self.0; // held, never used: the body returns at once
            std::task::Poll::Ready(())
        }
    }
    impl<Y> Drop for ReturnsThenPanicsOnDrop<Y> {
        fn drop(&mut self) {
            panic!("dropped after returning");
        }
    }
    let rt = current_thread();
    let mut c = coroutine(ReturnsThenPanicsOnDrop::<weft_async::CoYielder<u32, u32>>);
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(c.start()))).unwrap_err();
    assert_eq!(message(&*err), "dropped after returning");
    assert!(c.is_finished());
    assert_eq!(format!("{c:?}"), "Coroutine { state: \"finished\" }");
    assert_eq!(rt.block_on(c.asend(2)), Err(AsendError::Finished(2)));
    assert_eq!(rt.block_on(c.start()), Ok(None));
    assert_eq!(rt.block_on(c.aclose()), Ok(()));
}

/// A panic in the cleanup that `aclose` runs finishes the generator for every view of it: it
/// says "finished", not "closing".
#[test]
fn a_panic_during_aclose_leaves_a_finished_generator() {
    let rt = current_thread();
    let mut g = generator(|mut co| async move {
        if co.yield_or_exit(1u32).await.is_err() {
            panic!("cleanup failed");
        }
    });
    assert_eq!(rt.block_on(anext(&mut g)), Some(1));
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(g.aclose()))).unwrap_err();
    assert_eq!(message(&*err), "cleanup failed");
    assert_eq!(format!("{g:?}"), "Generator { state: \"finished\" }");
    assert!(g.is_terminated());
    assert_eq!(rt.block_on(g.aclose()), Ok(()));
    assert_eq!(rt.block_on(anext(&mut g)), None);

    let mut c = coroutine(|mut co| async move {
        if co.yield_or_exit(1u32).await.is_err() {
            panic!("cleanup failed");
        }
        let _: () = co.yield_(2).await;
    });
    assert_eq!(rt.block_on(c.start()), Ok(Some(1)));
    assert!(catch_unwind(AssertUnwindSafe(|| rt.block_on(c.aclose()))).is_err());
    assert_eq!(format!("{c:?}"), "Coroutine { state: \"finished\" }");
    assert!(c.is_finished());
    assert_eq!(rt.block_on(c.asend(())), Err(AsendError::Finished(())));
}

// ---------------------------------------------------------------------------------------------
// anext: test_async_gen_asyncio_anext_04, check_async_iterator_anext, test_async_generator_anext

#[test]
fn an_exhausted_generator_keeps_returning_none() {
    block_on(async {
        let mut g = generator(|mut co| async move {
            co.yield_(1).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            co.yield_(2).await;
        });
        assert!(!g.is_terminated());
        assert_eq!(anext(&mut g).await, Some(1));
        assert_eq!(anext(&mut g).await, Some(2));
        for _ in 0..3 {
            assert_eq!(anext(&mut g).await, None);
        }
        assert!(g.is_terminated());
    });
}

#[test]
fn anext_with_a_default() {
    block_on(async {
        let agen = || {
            generator(|mut co| async move {
                co.yield_("1").await;
                co.yield_("2").await;
            })
        };
        let mut g = agen();
        assert_eq!(anext(&mut g).await, Some("1"));
        assert_eq!(anext(&mut g).await, Some("2"));
        assert_eq!(anext_or(&mut g, "buckle my shoe").await, "buckle my shoe");
        assert_eq!(anext(&mut g).await, None);

        let mut g = agen();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(anext_or(&mut g, "default").await);
        }
        assert_eq!(seen, ["1", "2", "default", "default"]);

        // Any Unpin stream: a hand-written async iterator, and a pinned macro stream.
        let mut it = futures_util::stream::iter([1, 2]);
        assert_eq!(anext_or(&mut it, 0).await, 1);
        assert_eq!(anext_or(&mut it, 0).await, 2);
        assert_eq!(anext_or(&mut it, 0).await, 0);
        let mut m = pin!(async_gen! { yield 1; });
        assert_eq!(anext_or(&mut m, 0).await, 1);
        assert_eq!(anext_or(&mut m, 0).await, 0);
    });
}

// ---------------------------------------------------------------------------------------------
// aclose: test_async_gen_asyncio_aclose_06/_07/_08/_10/_11, nonstarted, twice, after exhaustion

#[test]
fn early_break_then_aclose_awaits_the_cleanup() {
    block_on(async {
        let done = counter();
        let d = done.clone();
        let mut g = generator(|mut co| async move {
            let mut i = 0;
            loop {
                if co.yield_or_exit(i).await == Err(GeneratorExit) {
                    // finally: await asyncio.sleep(0.01) twice; DONE += 1
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    add(&d, 1);
                    return;
                }
                i += 1;
                add(&d, 1000); // runs only when resumed by anext
            }
        });
        while let Some(i) = anext(&mut g).await {
            if i == 1 {
                break;
            }
        }
        assert_eq!(get(&done), 1000);
        let start = Instant::now();
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(20),
            "aclose awaited the cleanup"
        );
        assert_eq!(get(&done), 1001);
        assert_eq!(anext(&mut g).await, None);
        assert!(g.is_terminated());
    });
}

#[test]
fn aclose_at_a_plain_yield_drops_the_body_there() {
    block_on(async {
        let resumed = counter();
        let dropped = counter();
        let (r, d) = (resumed.clone(), DropCount(dropped.clone()));
        let mut g = generator(move |mut co| async move {
            let _d = d;
            let mut n = 0u64;
            loop {
                co.yield_(n).await;
                add(&r, 1);
                n += 1;
            }
        });
        assert_eq!(anext(&mut g).await, Some(0));
        assert_eq!(anext(&mut g).await, Some(1));
        assert_eq!(get(&resumed), 1);
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(get(&resumed), 1, "the yield was not resumed");
        assert_eq!(get(&dropped), 1, "the body and its captures were dropped");
        assert_eq!(anext(&mut g).await, None);
    });
}

#[test]
fn aclose_of_a_generator_that_yields_after_generator_exit() {
    block_on(async {
        let dropped = counter();
        let d = DropCount(dropped.clone());
        let mut g = generator(move |mut co| async move {
            let _d = d;
            // try: yield 1 / finally: await sleep; yield 12
            let _ = co.yield_or_exit(1).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            co.yield_(12).await;
            unreachable!("never resumed");
        });
        assert_eq!(anext(&mut g).await, Some(1));
        let err = g.aclose().await.unwrap_err();
        assert!(err.is_ignored_exit());
        assert_eq!(err, AcloseError::IgnoredGeneratorExit(12));
        assert_eq!(get(&dropped), 1);
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(g.aclose().await, Ok(()), "closing again is a no-op");
    });
}

#[test]
fn aclose_of_a_never_started_generator_runs_nothing() {
    block_on(async {
        let ran = counter();
        let dropped = counter();
        let (r, d) = (ran.clone(), DropCount(dropped.clone()));
        let mut g = generator(move |mut co| async move {
            let _d = d;
            add(&r, 1);
            co.yield_(1).await;
        });
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(get(&ran), 0);
        assert_eq!(get(&dropped), 1);
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(get(&ran), 0);
    });
}

#[test]
fn aclose_of_a_finished_generator_is_a_no_op() {
    block_on(async {
        let mut g = generator(|mut co| async move {
            co.yield_(1).await;
            co.yield_(2).await;
        });
        while anext(&mut g).await.is_some() {}
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(anext(&mut g).await, None);
    });
}

#[test]
fn aclose_between_two_yields_drops_the_body() {
    block_on(async {
        let cleanup = counter();
        let dropped = counter();
        let (c, d) = (cleanup.clone(), DropCount(dropped.clone()));
        let mut g = generator(move |mut co| async move {
            let _d = d;
            co.yield_(1).await;
            std::future::pending::<()>().await; // a request that never answers
            if co.yield_or_exit(2).await.is_err() {
                add(&c, 1);
            }
        });
        assert_eq!(anext(&mut g).await, Some(1));
        let r = tokio::time::timeout(Duration::from_millis(10), anext(&mut g)).await;
        assert!(r.is_err(), "anext timed out");
        assert_eq!(get(&dropped), 0);
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(get(&dropped), 1, "dropped at its await");
        assert_eq!(get(&cleanup), 0, "no yield to raise GeneratorExit at");
    });
}

/// Python's `wait_for(anext(g), t)` timing out raises `CancelledError` in the body and ends the
/// generator; here (as documented) the body stays where it was awaiting and the next `anext`
/// resumes it there, its value not lost.
#[test]
fn an_anext_dropped_mid_step_leaves_the_body_to_be_resumed() {
    block_on(async {
        let dropped = counter();
        let d = DropCount(dropped.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let mut g = generator(move |mut co| async move {
            let _d = d;
            co.yield_(1).await;
            let v = rx.await.unwrap(); // a request that answers late
            co.yield_(v).await;
        });
        assert_eq!(anext(&mut g).await, Some(1));
        let r = tokio::time::timeout(Duration::from_millis(10), anext(&mut g)).await;
        assert!(r.is_err(), "anext timed out");
        assert_eq!(get(&dropped), 0, "the body is not dropped");
        tx.send(2).unwrap();
        assert_eq!(anext(&mut g).await, Some(2), "resumed at its await");
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(get(&dropped), 1);
    });
}

#[test]
fn try_generator_aclose_reports_an_error_from_the_cleanup() {
    block_on(async {
        let mut g = try_generator(|mut co| async move {
            if co.yield_or_exit(1).await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Err("flush failed");
            }
            Ok(())
        });
        assert_eq!(anext(&mut g).await, Some(Ok(1)));
        let err = g.aclose().await.unwrap_err();
        assert_eq!(err, AcloseError::Failed("flush failed"));
        assert_eq!(
            err.to_string(),
            "async generator failed while closing: flush failed"
        );
        assert_eq!(anext(&mut g).await, None);
        // The message shows the error's text; the chain goes on below it, not through it.
        let io = AcloseError::<u8, _>::Failed(std::io::Error::other("disk full"));
        assert!(std::error::Error::source(&io).is_none());
    });
}

#[test]
fn an_interrupted_aclose_leaves_the_generator_closed() {
    block_on(async {
        let cleaned = counter();
        let c = cleaned.clone();
        let mut g = generator(|mut co| async move {
            if co.yield_or_exit(1).await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                add(&c, 1);
            }
            co.yield_(2).await; // never reached through `next()`
        });
        assert_eq!(anext(&mut g).await, Some(1));
        let r = tokio::time::timeout(Duration::from_millis(10), g.aclose()).await;
        assert!(r.is_err(), "aclose timed out during the cleanup");
        assert_eq!(format!("{g:?}"), "Generator { state: \"closing\" }");
        assert!(!g.is_terminated(), "the body is still there");
        assert_eq!(
            anext(&mut g).await,
            None,
            "a closing generator yields nothing more"
        );
        assert_eq!(get(&cleaned), 0, "dropped where the cleanup was");
        assert!(g.is_terminated());
        assert_eq!(format!("{g:?}"), "Generator { state: \"finished\" }");
        assert_eq!(g.aclose().await, Ok(()));
    });
}

#[test]
fn coroutine_aclose_at_yield_or_exit_awaits_the_cleanup_and_at_a_plain_yield_drops() {
    block_on(async {
        let done = counter();
        let d = done.clone();
        let mut c = coroutine(|mut co| async move {
            let mut total = 0u32;
            loop {
                match co.yield_or_exit(total).await {
                    Ok(n) => total += n,
                    Err(GeneratorExit) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        add(&d, total as usize);
                        return;
                    }
                }
            }
        });
        assert_eq!(c.start().await, Ok(Some(0)));
        assert_eq!(c.asend(5).await, Ok(Some(5)));
        let start = Instant::now();
        assert_eq!(c.aclose().await, Ok(()));
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        assert_eq!(get(&done), 5);
        assert!(c.is_finished());

        let resumed = counter();
        let dropped = counter();
        let (r, d) = (resumed.clone(), DropCount(dropped.clone()));
        let mut c = coroutine(move |mut co| async move {
            let _d = d;
            loop {
                let _: u8 = co.yield_(()).await;
                add(&r, 1);
            }
        });
        c.start().await.unwrap();
        assert_eq!(c.aclose().await, Ok(()));
        assert_eq!((get(&resumed), get(&dropped)), (0, 1));
    });
}

// ---------------------------------------------------------------------------------------------
// Two-way: test_async_gen_asyncio_anext_05, _asend_01/_02, test_async_gen_exception_10

#[test]
fn asend_resumes_the_yield_with_the_value_sent() {
    block_on(async {
        let done = counter();
        let d = done.clone();
        struct Finally(Arc<AtomicUsize>);
        impl Drop for Finally {
            fn drop(&mut self) {
                self.0.store(1, Ordering::SeqCst);
            }
        }
        let mut g = coroutine(|mut co| async move {
            let _finally = Finally(d);
            tokio::time::sleep(Duration::from_millis(10)).await;
            let v: u32 = co.yield_(1).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            let w = co.yield_(v * 2).await;
            co.yield_(w * 100).await;
        });
        assert_eq!(g.start().await, Ok(Some(1)));
        assert_eq!(g.asend(100).await, Ok(Some(200)));
        assert_eq!(g.asend(12).await, Ok(Some(1200)));
        assert_eq!(get(&done), 0);
        assert!(!g.is_finished());
        assert_eq!(g.asend(0).await, Ok(None), "StopAsyncIteration");
        assert_eq!(get(&done), 1, "its finally ran");
        assert!(g.is_finished());
        assert_eq!(g.asend(5).await, Err(AsendError::Finished(5)));
        assert_eq!(g.start().await, Ok(None));
    });
}

#[test]
fn asend_before_start_and_start_twice_are_refused() {
    block_on(async {
        let mut g = coroutine(|mut co| async move {
            let v: String = co.yield_(1).await;
            co.yield_(v.len()).await;
        });
        let err = g.asend("early".to_owned()).await.unwrap_err();
        assert!(err.is_not_started());
        assert_eq!(err.into_inner(), "early", "the value comes back");
        assert_eq!(g.start().await, Ok(Some(1)));
        assert_eq!(g.start().await, Err(AlreadyStarted));
        assert_eq!(g.asend("four".to_owned()).await, Ok(Some(4)));
    });
}

#[test]
fn an_interrupted_asend_leaves_the_coroutine_running_until_start() {
    block_on(async {
        let mut g = coroutine(|mut co| async move {
            let mut v: u64 = co.yield_(0).await;
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                v = co.yield_(v + 1).await;
            }
        });
        assert_eq!(g.start().await, Ok(Some(0)));
        let r = tokio::time::timeout(Duration::from_millis(10), g.asend(41)).await;
        assert!(r.is_err(), "timed out mid-step");
        assert_eq!(g.asend(7).await, Err(AsendError::Running(7)));
        assert_eq!(
            g.start().await,
            Ok(Some(42)),
            "41 was delivered; the step finishes"
        );
        assert_eq!(g.asend(1).await, Ok(Some(2)));
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(g.asend(1).await, Err(AsendError::Finished(1)));
    });
}

#[test]
fn a_body_that_fails_after_asend_runs_its_cleanup_and_the_failure_reaches_asend() {
    let done = counter();
    let d = DropCount(done.clone());
    let joined = block_on(async move {
        tokio::spawn(async move {
            let mut g = coroutine(move |mut co| async move {
                let _finally = d;
                let v: u32 = co.yield_(1).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert_eq!(v, 100);
                panic!("ZeroDivisionError");
            });
            assert_eq!(g.start().await, Ok(Some(1)));
            let _ = g.asend(100).await;
        })
        .await
    });
    assert_eq!(
        message(&*joined.unwrap_err().into_panic()),
        "ZeroDivisionError"
    );
    assert_eq!(get(&done), 1);
}

// ---------------------------------------------------------------------------------------------
// Drop

#[test]
fn a_generator_dropped_mid_iteration_drops_what_it_holds() {
    block_on(async {
        let captured = Arc::new(());
        let c = captured.clone();
        let mut g = generator(move |mut co| async move {
            let local = c.clone(); // a local of the suspended body
            for i in 0.. {
                co.yield_(i).await;
            }
            drop((c, local));
        });
        assert_eq!(anext(&mut g).await, Some(0));
        assert_eq!(Arc::strong_count(&captured), 3);
        drop(g);
        assert_eq!(Arc::strong_count(&captured), 1);

        let c = captured.clone();
        let mut m = Box::pin(async_gen! {
            let local = c.clone();
            for i in 0.. {
                yield i;
            }
            drop((c, local));
        });
        assert_eq!(anext(&mut m).await, Some(0));
        assert_eq!(Arc::strong_count(&captured), 3);
        drop(m);
        assert_eq!(Arc::strong_count(&captured), 1);

        // A value yielded but never taken is dropped with the generator too.
        let c = captured.clone();
        let g = generator(move |mut co| async move {
            co.yield_(c).await;
        });
        drop(g);
        assert_eq!(Arc::strong_count(&captured), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Yield futures and misuse

#[test]
fn a_yield_dropped_after_its_first_poll_still_delivers_its_value() {
    block_on(async {
        // The yield of 1 is polled once (it places its value), then dropped.
        let g = generator(|mut co| async move {
            {
                let mut y: Yield<'_, u32> = co.yield_(1);
                assert!(poll!(&mut y).is_pending());
            }
            co.yield_(2).await;
            co.yield_(3).await;
        });
        assert_eq!(g.collect::<Vec<_>>().await, [1, 2, 3]);

        // ... and then the body returns at once.
        let mut g = try_generator(|mut co| async move {
            let mut y = co.yield_(1);
            let _ = poll!(&mut y);
            drop(y);
            Err("after")
        });
        assert_eq!(anext(&mut g).await, Some(Ok(1)));
        assert_eq!(format!("{g:?}"), "TryGenerator { state: \"returning\" }");
        assert_eq!(anext(&mut g).await, Some(Err("after")));
        assert_eq!(anext(&mut g).await, None);
    });
}

#[test]
fn a_yield_joined_with_other_work_in_the_body() {
    block_on(async {
        let g = generator(|mut co| async move {
            for i in 0..3u32 {
                let (_, slept) = tokio::join!(co.yield_(i), async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    i
                });
                assert_eq!(slept, i);
            }
        });
        assert_eq!(g.collect::<Vec<_>>().await, [0, 1, 2]);
    });
}

#[test]
fn a_yielder_moved_into_a_spawned_task_panics_there_with_a_clear_message() {
    block_on(async {
        let mut g = generator(|co: Yielder<u32>| async move {
            let mut co = co;
            let joined = tokio::spawn(async move { co.yield_(1).await }).await;
            let payload = joined.unwrap_err().into_panic();
            let msg = message(&*payload);
            assert!(msg.contains("outside its generator's body"), "{msg}");
        });
        assert_eq!(
            anext(&mut g).await,
            None,
            "the value was not lost silently: it panicked"
        );
    });
}

#[test]
fn a_yield_awaited_inside_another_generators_body_panics() {
    // async-stream issue 106: a yield of the outer generator (of usize) awaited by an inner one
    // (of Box<i32>) must not write a usize where a Box is read.
    let rt = current_thread();
    let mut outer = generator(|mut co: Yielder<usize>| async move {
        let yield_42 = co.yield_(42);
        let mut inner = generator(move |mut ico: Yielder<Box<i32>>| async move {
            ico.yield_(Box::new(12345)).await;
            yield_42.await;
        });
        assert_eq!(anext(&mut inner).await.as_deref(), Some(&12345));
        let _ = anext(&mut inner).await;
        unreachable!("the misplaced yield panicked");
    });
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(anext(&mut outer)))).unwrap_err();
    assert!(message(&*err).contains("outside its generator's body"));
    assert_eq!(rt.block_on(anext(&mut outer)), None);
}

#[test]
fn a_yield_awaited_inside_another_generators_closing_body_panics() {
    // The same while the inner generator is closing, when the key of its slot carries flags.
    let rt = current_thread();
    let mut outer = generator(|mut co: Yielder<usize>| async move {
        let yield_42 = co.yield_(42);
        let mut inner = generator(move |mut ico: Yielder<Box<i32>>| async move {
            if ico.yield_or_exit(Box::new(12345)).await.is_err() {
                yield_42.await;
            }
        });
        assert_eq!(anext(&mut inner).await.as_deref(), Some(&12345));
        let _ = inner.aclose().await;
        unreachable!("the misplaced yield panicked");
    });
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(anext(&mut outer)))).unwrap_err();
    assert!(message(&*err).contains("outside its generator's body"));
    assert_eq!(rt.block_on(anext(&mut outer)), None);
}

// ---------------------------------------------------------------------------------------------
// Send, Unpin

#[test]
fn generators_are_send_and_consumed_on_a_multi_thread_runtime() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_unpin<T: Unpin>(_: &T) {}
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let g = generator(move |mut co| async move {
                for i in 0..1000u64 {
                    if i % 10 == 0 {
                        tokio::task::yield_now().await; // may resume on another worker
                    }
                    co.yield_(t * 1000 + i).await;
                }
            });
            assert_send(&g);
            assert_unpin(&g);
            tasks.push(tokio::spawn(async move {
                let mut g = g;
                let mut sum = 0u64;
                while let Some(x) = g.next().await {
                    sum += x;
                }
                sum
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..4000u64).sum::<u64>());

    let c: Coroutine<u8, String, _> = coroutine(|mut co| async move {
        let _s: String = co.yield_(1u8).await;
    });
    assert_send(&c);
    assert_unpin(&c);
    let t: TryGenerator<u8, String, _> = try_generator(|_co| async { Ok(()) });
    assert_send(&t);
}

// ---------------------------------------------------------------------------------------------
// Debug and Display

#[test]
fn debug_names_the_state_and_errors_display_in_lower_case() {
    block_on(async {
        let mut g: Generator<u8, _> = generator(|mut co| async move {
            co.yield_(1).await;
            std::future::pending::<()>().await;
        });
        assert_eq!(format!("{g:?}"), "Generator { state: \"created\" }");
        anext(&mut g).await;
        assert_eq!(format!("{g:?}"), "Generator { state: \"suspended\" }");
        let _ = tokio::time::timeout(Duration::from_millis(1), anext(&mut g)).await;
        assert_eq!(format!("{g:?}"), "Generator { state: \"running\" }");
        g.aclose().await.unwrap();
        assert_eq!(format!("{g:?}"), "Generator { state: \"finished\" }");

        let mut c = coroutine(|mut co| async move {
            let _: () = co.yield_(1).await;
        });
        c.start().await.unwrap();
        assert_eq!(format!("{c:?}"), "Coroutine { state: \"suspended\" }");
    });
    assert_eq!(GeneratorExit.to_string(), "generator is closing");
    assert_eq!(
        AcloseError::<u8>::IgnoredGeneratorExit(1).to_string(),
        "async generator ignored GeneratorExit"
    );
    assert_eq!(
        format!("{:?}", AcloseError::<u8>::IgnoredGeneratorExit(1)),
        "IgnoredGeneratorExit(..)"
    );
    assert_eq!(format!("{:?}", AsendError::Running(1)), "Running(..)");
    assert_eq!(
        AsendError::Finished(1).to_string(),
        "can't send to a finished coroutine"
    );
    assert_eq!(
        AsendError::Running(1).to_string(),
        "can't send to a coroutine that is between two yields"
    );
    assert_eq!(
        AlreadyStarted.to_string(),
        "coroutine already started; resume it with asend"
    );
}

// ---------------------------------------------------------------------------------------------
// From review

/// A `yield_or_exit` whose future was dropped after placing its value leaves `exit_aware` set;
/// the body then sits at a plain `yield_`, which per the docs `aclose` drops. Instead `aclose`
/// polls the body on, the plain yield places its value, and `aclose` reports a body that
/// "ignored GeneratorExit" it never received.
#[test]
fn aclose_at_a_plain_yield_after_a_dropped_yield_or_exit_drops_the_body() {
    block_on(async {
        let resumed = counter();
        let seen = resumed.clone();
        let mut g = generator(|mut co| async move {
            {
                let mut y = co.yield_or_exit(1u32);
                assert!(poll!(&mut y).is_pending()); // places 1, then is dropped
            }
            co.yield_(2).await; // plain yield: aclose must drop the body here
            add(&seen, 1);
        });
        assert_eq!(anext(&mut g).await, Some(1));
        assert_eq!(g.aclose().await, Ok(()));
        assert_eq!(get(&resumed), 0);
    });
}

/// Same stale flag, body not at a yield at all (e.g. a `select!` whose other branch won right
/// after the yield placed its value): `aclose` resumes the body's normal flow instead of
/// dropping it mid-step, and waits for it; here forever.
#[test]
fn aclose_after_a_dropped_yield_or_exit_does_not_hang() {
    block_on(async {
        let mut g = generator(|mut co| async move {
            tokio::select! {
                biased;
                _ = co.yield_or_exit(1u32) => {}
                () = std::future::ready(()) => {} // wins after the yield placed 1
            }
            std::future::pending::<()>().await; // mid-step, not at a yield
        });
        assert_eq!(anext(&mut g).await, Some(1));
        let closed = tokio::time::timeout(Duration::from_secs(1), g.aclose()).await;
        assert!(
            closed.is_ok(),
            "aclose hung: it resumed a body that is not at a yield"
        );
    });
}

/// A yield future dropped after its first poll delivers its value only when the slot was empty:
/// a second such yield in the same step finds the first value there, keeps its own, and loses it
/// when dropped, as any cancelled future loses what it holds (async-stream's `send` does the
/// same). Documented on `Yielder::yield_`.
#[test]
fn only_the_first_yield_dropped_in_a_step_delivers_its_value() {
    block_on(async {
        let g = generator(|mut co| async move {
            for i in 1..=2u32 {
                let mut y = co.yield_(i);
                assert!(poll!(&mut y).is_pending()); // polled once, then dropped
            }
            co.yield_(3).await;
        });
        assert_eq!(g.collect::<Vec<_>>().await, [1, 3]);
    });
}

/// Checked correct (kept as a regression test): a panic in a nested generator's body, caught
/// inside the outer body, restores the thread-local slot so the outer yields still work.
#[test]
fn nested_generator_panic_restores_the_outer_slot() {
    block_on(async {
        let g = generator(|mut co: Yielder<u32>| async move {
            co.yield_(1).await;
            let mut inner = generator(|mut ico: Yielder<String>| async move {
                ico.yield_("x".to_owned()).await;
                panic!("inner");
            });
            assert_eq!(anext(&mut inner).await.as_deref(), Some("x"));
            let caught =
                futures_util::FutureExt::catch_unwind(AssertUnwindSafe(anext(&mut inner))).await;
            assert!(caught.is_err());
            co.yield_(2).await;
            assert_eq!(anext(&mut inner).await, None);
            co.yield_(3).await;
        });
        assert_eq!(g.collect::<Vec<_>>().await, [1, 2, 3]);
    });
}

/// A yield polled again in the step that placed its value (a `select!` loop with another branch
/// ready) is still waiting for the consumer: the body does not run past it before the consumer
/// asks for the next item, and `aclose` then finds it there and raises `GeneratorExit`.
#[test]
fn a_yield_polled_again_in_a_select_loop_waits_for_the_consumer() {
    block_on(async {
        let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let body_log = log.clone();
        let mut g = generator(|mut co| async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&str>();
            tx.send("ping").unwrap();
            for i in 0..2u32 {
                let mut y = pin!(co.yield_or_exit(i));
                loop {
                    tokio::select! {
                        biased;
                        r = &mut y => {
                            if r.is_err() {
                                body_log.lock().unwrap().push(format!("exit at {i}"));
                                return;
                            }
                            break;
                        }
                        Some(m) = rx.recv() => body_log.lock().unwrap().push(format!("got {m}")),
                    }
                }
                body_log.lock().unwrap().push(format!("resumed after {i}"));
            }
        });
        assert_eq!(anext(&mut g).await, Some(0));
        assert_eq!(*log.lock().unwrap(), ["got ping"]);
        g.aclose().await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["got ping", "exit at 0"]);
    });
}

/// The same for a plain yield: the body resumes only when the next item is asked for.
#[test]
fn a_plain_yield_polled_again_in_a_select_loop_waits_for_the_consumer() {
    block_on(async {
        let resumed = counter();
        let seen = resumed.clone();
        let mut g = generator(|mut co| async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            tx.send(()).unwrap();
            let mut y = pin!(co.yield_(1u8));
            loop {
                tokio::select! {
                    biased;
                    () = &mut y => break,
                    Some(()) = rx.recv() => {}
                }
            }
            add(&seen, 1);
        });
        assert_eq!(anext(&mut g).await, Some(1));
        assert_eq!(
            get(&resumed),
            0,
            "the body ran past the yield before it was asked to"
        );
        assert_eq!(anext(&mut g).await, None);
        assert_eq!(get(&resumed), 1);
    });
}

/// `aclose` awaits the exits of the blocks a body it drops was inside, and needs no runtime to
/// do so: without one, an `async_with`'s exit ran no more (only a stack's did), though nothing
/// has to be spawned.
#[test]
fn aclose_awaits_an_async_with_exit_without_a_tokio_runtime() {
    use std::convert::Infallible;
    use std::sync::Mutex;
    use weft_async::{async_with, context_manager, AsyncExitStack, Outcome};

    let events = Arc::new(Mutex::new(Vec::new()));
    let manager = |name: &'static str| {
        let (enter_log, exit_log) = (events.clone(), events.clone());
        context_manager(
            move || async move {
                enter_log.lock().unwrap().push(format!("enter {name}"));
                Ok::<_, Infallible>(())
            },
            move |(), outcome: Outcome<'_>| {
                let cancelled = outcome.is_cancelled();
                async move {
                    exit_log
                        .lock()
                        .unwrap()
                        .push(format!("exit {name} {cancelled}"));
                    Ok(())
                }
            },
        )
    };
    let (with, stacked) = (manager("with"), manager("stacked"));
    let seen = events.clone();
    common::within_watchdog(
        move || {
            block_on_without_a_runtime(async move {
                let mut g = generator(|mut co| async move {
                    let _ = async_with(with, async |()| {
                        let mut stack = AsyncExitStack::new();
                        stack.enter_async_context(stacked).await.unwrap();
                        co.yield_(1u8).await;
                        co.yield_(2).await;
                        stack.aclose().await.unwrap();
                        Ok::<(), Infallible>(())
                    })
                    .await;
                });
                assert_eq!(anext(&mut g).await, Some(1));
                g.aclose().await.unwrap();
                assert_eq!(
                    *seen.lock().unwrap(),
                    [
                        "enter with",
                        "enter stacked",
                        "exit stacked true",
                        "exit with true"
                    ],
                    "both exits ran, innermost first, before aclose returned"
                );
            })
        },
        "aclose without a runtime",
    );
}

/// The same for a coroutine's yields, also when an `asend` left a value nothing received (the
/// yield it was for was dropped after placing its value): polled again in the step that placed
/// its value, a yield waits for the consumer, and the next `asend` replaces that value as
/// documented. The yield used to take the stale value there and then, running the body past it
/// before the consumer had seen what it yielded, and the value sent for it was lost.
#[test]
fn a_coroutine_yield_polled_again_in_a_select_loop_waits_for_the_consumer() {
    for or_exit in [false, true] {
        block_on(async move {
            let got = Arc::new(std::sync::Mutex::new(Vec::new()));
            let body_got = got.clone();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let mut c = coroutine(move |mut co| async move {
                {
                    let mut dropped = co.yield_(1u32);
                    let _ = poll!(&mut dropped); // places 1; the body moves on
                }
                let r: u32 = if or_exit {
                    let mut y = pin!(co.yield_or_exit(2));
                    loop {
                        tokio::select! {
                            biased;
                            r = &mut y => break r.unwrap(),
                            Some(()) = rx.recv() => {}
                        }
                    }
                } else {
                    let mut y = pin!(co.yield_(2));
                    loop {
                        tokio::select! {
                            biased;
                            r = &mut y => break r,
                            Some(()) = rx.recv() => {}
                        }
                    }
                };
                body_got.lock().unwrap().push(r);
                let r = co.yield_(3).await;
                body_got.lock().unwrap().push(r);
            });
            assert_eq!(c.start().await, Ok(Some(1)));
            // Wakes the select loop in the next step, so that it polls the yield again.
            tx.send(()).unwrap();
            tx.send(()).unwrap();
            assert_eq!(c.asend(10).await, Ok(Some(2)));
            assert_eq!(
                *got.lock().unwrap(),
                [] as [u32; 0],
                "the body ran past the yield of 2 before the consumer saw 2"
            );
            assert_eq!(c.asend(20).await, Ok(Some(3)));
            assert_eq!(c.asend(30).await, Ok(None));
            assert_eq!(*got.lock().unwrap(), [20, 30]);
        });
    }
}

/// A cleanup after `GeneratorExit` whose `aclose` was interrupted is where it stopped: a later
/// `aclose` resumes it and waits for it (the module docs said that nothing resumes it).
#[test]
fn a_later_aclose_resumes_a_cleanup_whose_aclose_was_interrupted() {
    use std::sync::Mutex;

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let log = seen.clone();
        let mut g = generator(move |mut co| async move {
            if co.yield_or_exit(1u8).await.is_err() {
                log.lock().unwrap().push("cleanup starts");
                rx.await.unwrap();
                log.lock().unwrap().push("cleanup ends");
            }
        });
        assert_eq!(anext(&mut g).await, Some(1));
        {
            let mut interrupted = pin!(g.aclose());
            assert!(
                poll!(&mut interrupted).is_pending(),
                "the cleanup waits for rx"
            );
        }
        tx.send(()).unwrap();
        g.aclose().await.unwrap();
        assert_eq!(anext(&mut g).await, None);
    });
    assert_eq!(*events.lock().unwrap(), ["cleanup starts", "cleanup ends"]);
}

/// With no runtime, an `async_with` dropped mid-body while inside another one that is dropped
/// too (nothing awaits either exit) hands its exit to the outer block, so its teardown is
/// called: the synchronous part runs, the future it returns is dropped unrun. The outer
/// block's teardown is not called. As the Cancellation section of `async_with` says.
#[test]
fn a_nested_block_dropped_without_a_runtime_calls_only_the_inner_teardown() {
    use std::convert::Infallible;
    use std::sync::Mutex;
    use weft_async::{async_with, context_manager, Outcome};

    let events = Arc::new(Mutex::new(Vec::new()));
    let held = Arc::new(());
    let manager = |name: &'static str| {
        let (log, resource) = (events.clone(), held.clone());
        context_manager(
            move || async move { Ok::<_, Infallible>(resource) },
            move |resource: Arc<()>, _: Outcome<'_>| {
                log.lock().unwrap().push(format!("teardown {name} called"));
                let log = log.clone();
                async move {
                    drop(resource);
                    log.lock().unwrap().push(format!("teardown {name} ran"));
                    Ok(())
                }
            },
        )
    };
    let (outer, inner) = (manager("outer"), manager("inner"));
    let mut block = Box::pin(async_with(outer, async |_| {
        let _ = async_with(inner, async |_| {
            std::future::pending::<()>().await;
            Ok::<(), Infallible>(())
        })
        .await;
        Ok::<(), Infallible>(())
    }));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(block.as_mut().poll(&mut cx).is_pending());
    drop(block);
    assert_eq!(*events.lock().unwrap(), ["teardown inner called"]);
    assert_eq!(Arc::strong_count(&held), 1, "both resources were dropped");
}

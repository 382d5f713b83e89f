//! `Loop`: `get_running_loop`, `run_coroutine_threadsafe` and `call_soon_threadsafe`, checked
//! against what CPython 3.11's `asyncio` does in the same scenario (each test says what Python
//! does). Every wait on another thread is bounded: a hang fails the test.

mod common;

use std::sync::Arc;

use common::within_watchdog;
use weft_async::{get_running_loop, run, to_thread, Loop, NoRunningLoop};

/// Python: `get_running_loop()` raises `RuntimeError: no running event loop` outside a loop
/// and in a `to_thread` worker.
#[test]
fn no_running_loop_outside_a_runtime_and_in_to_thread() {
    assert_eq!(Loop::current().unwrap_err(), NoRunningLoop);
    assert_eq!(
        get_running_loop().unwrap_err().to_string(),
        "no running event loop"
    );
    run(async {
        assert!(Loop::current().is_ok());
        assert!(create_and_check().await);
        let in_thread = to_thread(|| Loop::current().map(drop)).await.unwrap();
        assert_eq!(in_thread, Err(NoRunningLoop));
        // A `run` of its own inside the worker has a loop again.
        let nested = to_thread(|| run(async { Loop::current().is_ok() }).unwrap())
            .await
            .unwrap();
        assert!(nested);
    })
    .unwrap();
}

async fn create_and_check() -> bool {
    weft_async::create_task(async { Loop::current().is_ok() })
        .await
        .unwrap()
}

/// Python: `call_soon_threadsafe` callbacks run on the loop in the order they were handed
/// over; one that raises is logged and the loop goes on.
#[test]
fn call_soon_threadsafe_runs_in_order_and_survives_a_panic() {
    within_watchdog(
        || {
            run(async {
                let lp = Loop::current().unwrap();
                let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
                let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                let l = log.clone();
                to_thread(move || {
                    let loop_thread = lp.clone();
                    lp.call_soon_threadsafe(|| panic!("a bad callback"))
                        .unwrap();
                    for i in 0..100 {
                        let l = l.clone();
                        loop_thread
                            .call_soon_threadsafe(move || l.lock().push(i))
                            .unwrap();
                    }
                    lp.call_soon_threadsafe(move || done_tx.send(()).unwrap())
                        .unwrap();
                })
                .await
                .unwrap();
                done_rx.await.unwrap();
                assert_eq!(*log.lock(), (0..100).collect::<Vec<_>>());
            })
            .unwrap()
        },
        "the callbacks never ran",
    );
}

/// Python: a callback handed over with `call_soon_threadsafe` before the loop's main coroutine
/// returns runs: `asyncio.run` runs the ready callbacks while it shuts down (100 of 100 runs,
/// with the thread waking the coroutine right after handing it over). Checked on both runtimes.
#[test]
fn call_soon_threadsafe_taken_before_the_run_ends_runs() {
    within_watchdog(
        || {
            for multi in [false, true] {
                let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                for _ in 0..100 {
                    let ran = ran.clone();
                    let main = async move {
                        let lp = Loop::current().unwrap();
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        std::thread::spawn(move || {
                            lp.call_soon_threadsafe(move || {
                                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            })
                            .unwrap();
                            tx.send(()).unwrap();
                        });
                        rx.await.unwrap();
                    };
                    if multi {
                        weft_async::run_multi_thread(main).unwrap();
                    } else {
                        run(main).unwrap();
                    }
                }
                let ran = ran.load(std::sync::atomic::Ordering::SeqCst);
                assert_eq!(ran, 100, "multi-thread: {multi}");
            }
        },
        "a run never ended",
    );
}

/// `run_coroutine_threadsafe`, whose future is weft-executor's.
#[cfg(feature = "executor")]
mod threadsafe {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use crate::common::{within_watchdog, HOUR};
    use weft_async::{
        async_with, context_manager, run, run_multi_thread, sleep, to_thread, yield_now, Loop,
        LoopClosed,
    };

    /// Long enough for anything that does answer; a hang fails the test.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// Python: `run_coroutine_threadsafe(coro, loop).result()` gives the coroutine's value.
    #[test]
    fn a_thread_gets_the_value() {
        within_watchdog(
            || {
                run(async {
                    let lp = Loop::current().unwrap();
                    let got = to_thread(move || {
                        let f = lp
                            .run_coroutine_threadsafe(async {
                                yield_now().await;
                                6 * 7
                            })
                            .unwrap();
                        f.result_timeout(PATIENCE).ok()
                    })
                    .await
                    .unwrap();
                    assert_eq!(got, Some(42));
                })
                .unwrap()
            },
            "the thread's result never came",
        );
    }

    /// Python: an exception in the coroutine is the future's exception, and the loop goes on.
    #[test]
    fn a_panic_is_the_futures_failure_and_the_loop_goes_on() {
        within_watchdog(
            || {
                run(async {
                    let lp = Loop::current().unwrap();
                    let (failed, after) = to_thread(move || {
                        let f = lp
                            .run_coroutine_threadsafe(async {
                                yield_now().await;
                                panic!("bad coroutine");
                            })
                            .unwrap();
                        let failed = f.result_timeout(PATIENCE).map_err(|e| match e {
                            weft_executor::ResultTimeoutError::Task(e) => {
                                e.panic_message().map(str::to_owned)
                            }
                            weft_executor::ResultTimeoutError::Timeout(_) => None,
                        });
                        let after = lp.run_coroutine_threadsafe(async { "alive" }).unwrap();
                        (failed, after.result_timeout(PATIENCE).ok())
                    })
                    .await
                    .unwrap();
                    assert_eq!(failed, Err::<(), _>(Some("bad coroutine".to_owned())));
                    assert_eq!(after, Some("alive"));
                })
                .unwrap()
            },
            "a panicking coroutine's future never answered",
        );
    }

    /// Python: the future's exception keeps its traceback (where the coroutine raised it), on
    /// a single-threaded and a multi-threaded loop alike, as a thread pool's future does.
    #[test]
    fn a_panicking_coroutines_failure_has_its_location() {
        for multi in [false, true] {
            let location = within_watchdog(
                move || {
                    let main = async {
                        let lp = Loop::current().unwrap();
                        to_thread(move || {
                            let f = lp
                                .run_coroutine_threadsafe(async {
                                    yield_now().await;
                                    panic!("bad coroutine");
                                })
                                .unwrap();
                            match f.result_timeout(PATIENCE) {
                                Err(weft_executor::ResultTimeoutError::Task(e)) => {
                                    e.panic_location().map(str::to_owned)
                                }
                                _ => None,
                            }
                        })
                        .await
                        .unwrap()
                    };
                    if multi {
                        run_multi_thread(main).unwrap()
                    } else {
                        run(main).unwrap()
                    }
                },
                "a panicking coroutine's future never answered",
            );
            let location = location.expect("the failure has a location");
            assert!(location.contains("event_loop.rs:"), "{location}");
        }
    }

    /// Sets its flag when dropped, after giving the other threads a chance to run (so that a
    /// waiter woken before the drop would see the flag unset).
    struct SetOnDrop(Arc<AtomicBool>, bool);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            std::thread::yield_now();
            self.0.store(true, Ordering::SeqCst);
            if self.1 {
                panic!("drop fails");
            }
        }
    }

    /// Python: a coroutine's locals are gone when its future answers (`f.result()` returns
    /// after they were freed), as a task's future is dropped before its output is given. A
    /// panic in that drop is the coroutine's failure (a task's panic), not a cancellation.
    #[test]
    fn a_coroutines_state_is_dropped_before_its_future_answers() {
        let (early, failure) = within_watchdog(
            || {
                run(async {
                    let lp = Loop::current().unwrap();
                    to_thread(move || {
                        let mut early = 0;
                        for _ in 0..20 {
                            let dropped = Arc::new(AtomicBool::new(false));
                            let state = SetOnDrop(dropped.clone(), false);
                            let f = lp
                                .run_coroutine_threadsafe(std::future::poll_fn(move |_| {
                                    let _state = &state;
                                    std::task::Poll::Ready(1)
                                }))
                                .unwrap();
                            assert_eq!(f.result_timeout(PATIENCE).ok(), Some(1));
                            if !dropped.load(Ordering::SeqCst) {
                                early += 1;
                            }
                        }
                        let state = SetOnDrop(Arc::new(AtomicBool::new(false)), true);
                        let f = lp
                            .run_coroutine_threadsafe(std::future::poll_fn(move |_| {
                                let _state = &state;
                                std::task::Poll::Ready(1)
                            }))
                            .unwrap();
                        let failure = match f.result_timeout(PATIENCE) {
                            Err(weft_executor::ResultTimeoutError::Task(e)) => {
                                Some((e.is_cancelled(), e.panic_location().map(str::to_owned)))
                            }
                            _ => None,
                        };
                        (early, failure)
                    })
                    .await
                    .unwrap()
                })
                .unwrap()
            },
            "a coroutine's future never answered",
        );
        assert_eq!(
            early, 0,
            "answers seen before the coroutine's state was dropped"
        );
        let (cancelled, location) = failure.expect("the drop's panic fails the future");
        assert!(!cancelled);
        assert!(location
            .expect("with its location")
            .contains("event_loop.rs:"));
    }

    /// Python: `fut.cancel()` from the thread returns `True`, `cancelled()` and `done()` are true
    /// at once, `result()` raises `CancelledError`, the done callback runs in the cancelling
    /// thread, and the task on the loop sees the cancellation: its `finally` and `__aexit__` run.
    #[test]
    fn a_threads_cancel_cancels_the_task_and_its_exits_run() {
        within_watchdog(
            || {
                let exited = Arc::new(AtomicBool::new(false));
                let x = exited.clone();
                run(async move {
                    let lp = Loop::current().unwrap();
                    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
                    let (entered_tx, entered_rx) = mpsc::channel();
                    let cm = context_manager(
                        move || async move {
                            entered_tx.send(()).unwrap();
                            Ok::<_, Infallible>(())
                        },
                        move |(), outcome| {
                            let cancelled = outcome.is_cancelled();
                            async move {
                                yield_now().await; // an async exit
                                x.store(true, Ordering::SeqCst);
                                let _ = exit_tx.send(cancelled);
                                Ok::<_, Infallible>(())
                            }
                        },
                    );
                    let checks = to_thread(move || {
                        let f = lp
                            .run_coroutine_threadsafe(async move {
                                async_with(cm, async |_: &mut ()| {
                                    sleep(HOUR).await;
                                    Ok::<_, Infallible>(())
                                })
                                .await
                            })
                            .unwrap();
                        entered_rx.recv_timeout(PATIENCE).expect("the task entered");
                        assert!(!f.running(), "pending while it runs, as Python's");
                        let (cb_tx, cb_rx) = mpsc::channel();
                        f.add_done_callback(move |r| {
                            let _ = cb_tx.send((r.is_err(), std::thread::current().id()));
                        });
                        assert!(f.cancel());
                        assert!(f.cancelled() && f.done());
                        assert_eq!(
                            cb_rx.try_recv(),
                            Ok((true, std::thread::current().id())),
                            "the callback ran in the cancelling thread"
                        );
                        assert!(f.cancel(), "cancelling again says it is cancelled");
                        f.result().unwrap_err().is_cancelled()
                    })
                    .await
                    .unwrap();
                    assert!(checks);
                    assert_eq!(
                        exit_rx.await,
                        Ok(true),
                        "the exit ran, told of the cancellation"
                    );
                })
                .unwrap();
                assert!(exited.load(Ordering::SeqCst));
            },
            "a cancelled coroutine hung",
        );
    }

    /// A future cancelled before the loop got to its task: the task never starts.
    #[test]
    fn cancelled_before_it_started_it_never_runs() {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        within_watchdog(
            move || {
                run(async move {
                    let lp = Loop::current().unwrap();
                    // On the loop's own thread: the task cannot start before the cancel.
                    let f = lp
                        .run_coroutine_threadsafe(async move { r.store(true, Ordering::SeqCst) })
                        .unwrap();
                    assert!(f.cancel());
                    for _ in 0..10 {
                        yield_now().await;
                    }
                    assert!(f.result().unwrap_err().is_cancelled());
                })
                .unwrap()
            },
            "hung",
        );
        assert!(!ran.load(Ordering::SeqCst));
    }

    /// Python: `asyncio.run` cancels a task handed over by a thread that still runs when the main
    /// coroutine returns; the thread's future is cancelled, and the task's `finally` ran.
    #[test]
    fn the_runs_end_cancels_the_task_and_the_future_answers() {
        within_watchdog(
            || {
                let exited = Arc::new(AtomicBool::new(false));
                let x = exited.clone();
                let (fut_tx, fut_rx) = mpsc::channel();
                run(async move {
                    let lp = Loop::current().unwrap();
                    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
                    let cm = context_manager(
                        || async { Ok::<_, Infallible>(()) },
                        move |(), _| async move {
                            yield_now().await;
                            x.store(true, Ordering::SeqCst);
                            Ok::<_, Infallible>(())
                        },
                    );
                    let f = lp
                        .run_coroutine_threadsafe(async move {
                            async_with(cm, async |_: &mut ()| {
                                started_tx.send(()).unwrap();
                                sleep(HOUR).await;
                                Ok::<_, Infallible>(())
                            })
                            .await
                        })
                        .unwrap();
                    started_rx.await.unwrap();
                    fut_tx.send(f).unwrap();
                })
                .unwrap();
                assert!(exited.load(Ordering::SeqCst), "run awaited the exit");
                let f = fut_rx.recv().unwrap();
                assert!(f.done());
                assert!(f.result().unwrap_err().is_cancelled());
            },
            "the run's end left the future unanswered",
        );
    }

    /// Python: `RuntimeError: Event loop is closed` once `asyncio.run` has returned; the
    /// coroutine comes back here.
    #[test]
    fn after_the_run_the_future_comes_back() {
        let lp = run(async { Loop::current().unwrap() }).unwrap();
        let back = lp.run_coroutine_threadsafe(async { 5 }).unwrap_err();
        assert_eq!(back.to_string(), "event loop is closed");
        assert_eq!(run(back.into_inner()).unwrap(), 5);
        assert!(lp.call_soon_threadsafe(|| ()).is_err());
    }

    /// A runtime weft did not start, once dropped: the future comes back too (the runtime
    /// refuses the task), and a late `call_soon_threadsafe` gets its function back.
    #[test]
    fn a_dropped_tokio_runtime_gives_the_future_back() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let lp = rt.block_on(async { Loop::current().unwrap() });
        let f = lp.run_coroutine_threadsafe(async { 1 }).unwrap();
        assert_eq!(rt.block_on(f), Ok(1));
        drop(rt);
        let LoopClosed(fut) = lp.run_coroutine_threadsafe(async { 2 }).unwrap_err();
        assert_eq!(run(fut).unwrap(), 2);
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let back = lp
            .call_soon_threadsafe(move || f2.store(true, Ordering::SeqCst))
            .unwrap_err();
        back.into_inner()();
        assert!(flag.load(Ordering::SeqCst));
    }

    /// Python's future, handed to a loop that is shutting down, may never answer ("Task was
    /// destroyed but it is pending!"); here every submission either comes back or answers, with
    /// its value or cancelled.
    #[test]
    fn submissions_racing_the_runs_end_always_answer() {
        within_watchdog(
            || {
                let mut totals = [0usize; 3];
                for round in 0..50 {
                    let (lp_tx, lp_rx) = mpsc::channel();
                    let (going_tx, going_rx) = tokio::sync::oneshot::channel();
                    let submitter = std::thread::spawn(move || {
                        let lp: Loop = lp_rx.recv().unwrap();
                        let mut going = Some(going_tx);
                        let mut futures = Vec::new();
                        let mut outcomes = [0usize; 3];
                        // One value before the race: the run waits for `going` meanwhile.
                        let first = lp
                            .run_coroutine_threadsafe(async { yield_now().await })
                            .expect("the run waits for `going`");
                        assert!(first.result_timeout(PATIENCE).is_ok(), "no value");
                        outcomes[0] += 1;
                        // Some tasks yield for long, so that the run's end finds them running.
                        while let Ok(f) = lp.run_coroutine_threadsafe(async move {
                            for _ in 0..round % 7 {
                                yield_now().await;
                            }
                        }) {
                            futures.push(f);
                            if futures.len() == 3 {
                                let _ = going.take().map(|g| g.send(()));
                            }
                        }
                        outcomes[2] += 1;
                        for f in futures {
                            match f.result_timeout(PATIENCE) {
                                Ok(()) => outcomes[0] += 1,
                                Err(weft_executor::ResultTimeoutError::Task(e)) => {
                                    assert!(e.is_cancelled(), "{e}");
                                    outcomes[1] += 1;
                                }
                                Err(weft_executor::ResultTimeoutError::Timeout(_)) => {
                                    panic!("a future handed over as the run ended never answered")
                                }
                            }
                        }
                        outcomes
                    });
                    run(async move {
                        lp_tx.send(Loop::current().unwrap()).unwrap();
                        let _ = going_rx.await;
                    })
                    .unwrap();
                    let outcomes = submitter.join().unwrap();
                    assert_eq!(outcomes[2], 1, "one submission found the loop closed");
                    for (t, o) in totals.iter_mut().zip(outcomes) {
                        *t += o;
                    }
                }
                // Both ends were reached: values (one per round is sure; those racing the end
                // depend on which the runtime polls first), and tasks the run's end cancelled.
                assert!(totals[0] > 0 && totals[1] > 0, "{totals:?}");
            },
            "a submission racing the run's end hung",
        );
    }

    /// The functions and tasks run on the loop's own thread, as asyncio's.
    #[test]
    fn they_run_on_the_loops_thread() {
        within_watchdog(
            || {
                let loop_thread = std::thread::current().id();
                run(async move {
                    let lp = Loop::current().unwrap();
                    let (a, b) = to_thread(move || {
                        let (tx, rx) = mpsc::channel();
                        lp.call_soon_threadsafe(move || {
                            tx.send(std::thread::current().id()).unwrap()
                        })
                        .unwrap();
                        let f = lp
                            .run_coroutine_threadsafe(async { std::thread::current().id() })
                            .unwrap();
                        (
                            rx.recv_timeout(PATIENCE).ok(),
                            f.result_timeout(PATIENCE).ok(),
                        )
                    })
                    .await
                    .unwrap();
                    assert_eq!(a, Some(loop_thread));
                    assert_eq!(b, Some(loop_thread));
                })
                .unwrap()
            },
            "hung",
        );
    }

    /// Python: `result(timeout)` raises `TimeoutError` and leaves the task running; its result
    /// comes later.
    #[test]
    fn a_timeout_leaves_the_task_running() {
        within_watchdog(
            || {
                run(async {
                    let lp = Loop::current().unwrap();
                    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
                    let got = to_thread(move || {
                        let f = lp
                            .run_coroutine_threadsafe(async move {
                                go_rx.await.unwrap();
                                "late"
                            })
                            .unwrap();
                        let f = match f.result_timeout(Duration::from_millis(20)) {
                            Err(weft_executor::ResultTimeoutError::Timeout(f)) => f,
                            other => panic!("expected a timeout, got {other:?}"),
                        };
                        go_tx.send(()).unwrap();
                        f.result_timeout(PATIENCE).ok()
                    })
                    .await
                    .unwrap();
                    assert_eq!(got, Some("late"));
                })
                .unwrap()
            },
            "hung",
        );
    }

    /// Under `run_multi_thread` too, and many threads at once: every future answers once.
    #[test]
    fn many_threads_on_a_multi_thread_loop() {
        within_watchdog(
            || {
                let sum = Arc::new(AtomicUsize::new(0));
                let s = sum.clone();
                run_multi_thread(async move {
                    let lp = Loop::current().unwrap();
                    let threads: Vec<_> = (0..4)
                        .map(|t| {
                            let (lp, s) = (lp.clone(), s.clone());
                            std::thread::spawn(move || {
                                for i in 0..50 {
                                    let f = lp
                                        .run_coroutine_threadsafe(async move {
                                            yield_now().await;
                                            t * 50 + i
                                        })
                                        .unwrap();
                                    s.fetch_add(
                                        f.result_timeout(PATIENCE).unwrap(),
                                        Ordering::SeqCst,
                                    );
                                }
                            })
                        })
                        .collect();
                    to_thread(move || threads.into_iter().for_each(|t| t.join().unwrap()))
                        .await
                        .unwrap();
                })
                .unwrap();
                assert_eq!(sum.load(Ordering::SeqCst), (0..200).sum::<usize>());
            },
            "hung",
        );
    }
}

/// Python: `loop.call_soon_threadsafe(f)` returns a `Handle`; `handle.cancel()` before the loop
/// gets to it means `f` never runs, and after it ran does nothing (`cancelled()` is `True`
/// either way). Raced here against a multi-thread loop that runs the calls meanwhile: each
/// call either ran or was stopped by `cancel`, never both, never neither.
#[test]
fn a_call_cancelled_before_it_runs_never_runs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const CALLS: usize = 2000;
    let ran: Arc<Vec<AtomicBool>> = Arc::new((0..CALLS).map(|_| AtomicBool::new(false)).collect());
    let r = ran.clone();
    let stopped = within_watchdog(
        move || {
            weft_async::run_multi_thread(async move {
                let lp = Loop::current().unwrap();
                to_thread(move || {
                    (0..CALLS)
                        .map(|i| {
                            let r = r.clone();
                            let h = lp
                                .call_soon_threadsafe(move || r[i].store(true, Ordering::SeqCst))
                                .unwrap();
                            if i % 2 == 0 {
                                std::thread::yield_now(); // let some run first
                            }
                            let stopped = h.cancel();
                            assert!(h.cancelled());
                            assert!(!h.cancel(), "a second cancel stops nothing");
                            stopped
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap()
            })
            .unwrap()
        },
        "the run returned",
    );
    // The run's end let every call taken and not stopped run.
    let both = (0..CALLS)
        .filter(|&i| stopped[i] && ran[i].load(Ordering::SeqCst))
        .count();
    let neither = (0..CALLS)
        .filter(|&i| !stopped[i] && !ran[i].load(Ordering::SeqCst))
        .count();
    let n_stopped = stopped.iter().filter(|&&s| s).count();
    assert_eq!(both, 0, "a call ran although its cancel stopped it");
    assert_eq!(neither, 0, "a call neither ran nor was stopped");
    assert!(
        n_stopped < CALLS,
        "some calls ran first ({n_stopped} stopped)"
    );
}

/// Python: with no run under way (a `Runner` between runs), a cancelled call never runs, and
/// a cancel after the call ran does nothing.
#[test]
fn a_call_cancelled_between_runs_never_runs() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut runner = weft_async::Runner::new();
    let lp = runner.get_loop().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (r1, r2) = (ran.clone(), ran.clone());
    let kept = lp
        .call_soon_threadsafe(move || {
            r1.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let cancelled = lp
        .call_soon_threadsafe(move || {
            r2.fetch_add(10, Ordering::SeqCst);
        })
        .unwrap();
    assert!(!cancelled.cancelled());
    assert!(cancelled.cancel());
    assert!(cancelled.cancelled());
    runner.run(weft_async::yield_now()).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(!kept.cancel(), "it had run");
    assert!(kept.cancelled());
    runner.close().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

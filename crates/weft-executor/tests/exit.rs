//! Python's exit rule for pools: a pool still alive when the main body returns (kept in a
//! `static`, leaked, or dropped by one of its own tasks) is shut down by `weft_process::main`
//! (`weft::main`), which waits for its queued work before it returns, as Python's interpreter
//! does at exit (`concurrent.futures` registers its pools with `threading._register_atexit`).
//!
//! This file has its own `main` (`harness = false`): each case is checked after
//! `weft_process::main` has returned, which a test harness's threads could not see. The binary
//! is also the process pool's worker program. It prints cargo-test-style lines so that
//! `cargo xtask test` counts its cases.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use weft_executor::{Future, ProcessPoolExecutor, ThreadPoolExecutor};
use weft_sync::Event;

/// A pool in a `static`, never dropped.
static POOL: LazyLock<ThreadPoolExecutor> = LazyLock::new(|| {
    ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .expect("a pool")
});

/// Set by the end of the main body: the tasks under test wait for it, so they can only finish
/// after the body has returned.
static BODY_RETURNED: LazyLock<Event> = LazyLock::new(Event::new);

static QUEUED_RAN: AtomicBool = AtomicBool::new(false);
static LEAKED_RAN: AtomicBool = AtomicBool::new(false);
static SELF_DROPPED_RAN: AtomicBool = AtomicBool::new(false);
/// Whether a thread pool and a process pool refused a submit with `ShutDown` once the exit had
/// begun, before it shut them down.
static REFUSED_BEFORE_SHUTDOWN: AtomicBool = AtomicBool::new(false);
/// Whether a pool made during the exit refused a submit with `ShutDown`, the task given back.
static LATE_REFUSED: AtomicBool = AtomicBool::new(false);
/// What a submit to a pool made after another one got once the exit had shut the first down:
/// 0 not tried yet, 1 taken, 2 refused (`ShutDown`), 3 the thread gave up, 4 another error.
static SECOND_POOL_SUBMIT: AtomicU8 = AtomicU8::new(0);

/// The work a task still has to do once the body has returned: a program that did not wait for
/// it would exit long before (not a synchronization: the exit rule waits however long it takes).
const LATE_WORK: Duration = Duration::from_millis(300);

/// A process-pool call that is still running when the body returns.
fn slow_double(x: u64) -> u64 {
    std::thread::sleep(LATE_WORK);
    x * 2
}

/// What the thread pools' tasks do first: wait for the body's end, then work a while.
fn after_the_body() {
    BODY_RETURNED.wait();
    std::thread::sleep(LATE_WORK);
}

struct Body {
    thread_futures: Vec<Future<()>>,
    process_futures: Vec<Future<u64>>,
}

fn body() -> Body {
    let mut thread_futures = Vec::new();

    // Two pools, the first one made first, so the exit waits for it first: its task holds that
    // wait until a thread `main` waits for has seen the first pool refuse a submit and tried the
    // second. Python's exit refuses every thread pool's submits before it joins any: the second
    // pool must refuse too, not take work while the exit waits for the first.
    let first: &'static ThreadPoolExecutor = Box::leak(Box::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .expect("a pool"),
    ));
    let second: &'static ThreadPoolExecutor = Box::leak(Box::new(ThreadPoolExecutor::new()));
    let tried = Arc::new(Event::new());
    let tried_in_task = Arc::clone(&tried);
    thread_futures.push(
        first
            .submit(move || {
                // A bound, not a synchronization: a broken thread must not hang the exit.
                let _ = tried_in_task.wait_timeout(Duration::from_secs(30));
            })
            .expect("submitted"),
    );
    weft_thread::spawn(move || {
        BODY_RETURNED.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // Until the exit has shut the first pool down.
        let outcome = loop {
            if first.submit(|| ()).is_err() {
                // The exit refuses every pool's submits at once (Python's global flag): the
                // second pool, which the exit shuts down only after the first, refuses already,
                // while the first pool's wait is held by this thread's `tried`.
                break match second.submit(|| ()) {
                    Err(e) if e.is_shut_down() => 2,
                    Err(_) => 4,
                    Ok(_) => 1,
                };
            }
            if std::time::Instant::now() > deadline {
                break 3;
            }
            std::thread::yield_now();
        };
        SECOND_POOL_SUBMIT.store(outcome, Ordering::SeqCst);
        tried.set();
    })
    .expect("a thread");

    // A thread `main` waits for makes a pool once the exit has begun (a `before_exit` function
    // lets it go): as in Python, whose pools refuse work once the interpreter's shutdown has
    // begun, the new pool refuses a submit with `ShutDown` and gives the task back.
    let exit_began = Arc::new(Event::new());
    let began = Arc::clone(&exit_began);
    weft_thread::before_exit(move || began.set());
    weft_thread::spawn(move || {
        exit_began.wait();
        let late: &'static ThreadPoolExecutor = Box::leak(Box::new(ThreadPoolExecutor::new()));
        let refused = match late.submit(|| 7) {
            Err(e) if e.is_shut_down() => e.into_inner()() == 7,
            _ => false,
        };
        LATE_REFUSED.store(refused && weft_thread::is_exiting(), Ordering::SeqCst);
    })
    .expect("a thread");
    // A `static` pool: a task waits for the body's end, and a second one is queued behind it.
    thread_futures.push(POOL.submit(after_the_body).expect("submitted"));
    thread_futures.push(
        POOL.submit(|| QUEUED_RAN.store(true, Ordering::SeqCst))
            .expect("submitted"),
    );

    // A leaked pool.
    let leaked: &'static ThreadPoolExecutor = Box::leak(Box::new(ThreadPoolExecutor::new()));
    thread_futures.push(
        leaked
            .submit(|| {
                after_the_body();
                LEAKED_RAN.store(true, Ordering::SeqCst);
            })
            .expect("submitted"),
    );

    // A pool whose last handle one of its own tasks drops: that drop does not wait (it could
    // wait on itself), so nothing but the exit rule waits for the task's end.
    let pool = Arc::new(ThreadPoolExecutor::new());
    let handle = Arc::clone(&pool);
    let body_let_go = Arc::new(Event::new());
    let let_go = Arc::clone(&body_let_go);
    thread_futures.push(
        pool.submit(move || {
            let_go.wait();
            drop(handle); // the last handle
            after_the_body();
            SELF_DROPPED_RAN.store(true, Ordering::SeqCst);
        })
        .expect("submitted"),
    );
    drop(pool);
    body_let_go.set();

    // A leaked process pool, one worker: the second call is queued behind the first.
    let processes: &'static ProcessPoolExecutor = Box::leak(Box::new(
        ProcessPoolExecutor::builder()
            .max_workers(1)
            .build()
            .expect("a process pool"),
    ));
    let process_futures = (1..=2)
        .map(|x| processes.submit(slow_double, x).expect("submitted"))
        .collect();

    // Registered last, so the exit runs it first, before it shuts any pool down: only its
    // exiting flag can refuse these submits, to a thread pool and to a process pool.
    weft_thread::before_exit(move || {
        let thread = matches!(POOL.submit(|| ()), Err(e) if e.is_shut_down());
        let process = matches!(processes.submit(slow_double, 3), Err(e) if e.is_shut_down());
        REFUSED_BEFORE_SHUTDOWN.store(thread && process, Ordering::SeqCst);
    });

    BODY_RETURNED.set();
    Body {
        thread_futures,
        process_futures,
    }
}

type Check = fn(&mut Body) -> Result<(), String>;

const CASES: &[(&str, Check)] = &[
    (
        "a_static_pools_queued_work_runs_before_main_returns",
        |_| ran(&QUEUED_RAN, "the static pool's queued task"),
    ),
    ("a_leaked_pools_work_runs_before_main_returns", |_| {
        ran(&LEAKED_RAN, "the leaked pool's task")
    }),
    ("every_pool_refuses_submits_once_the_exit_has_begun", |_| {
        if REFUSED_BEFORE_SHUTDOWN.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("a pool took a submit after the exit had begun".into())
        }
    }),
    ("a_pool_made_during_the_exit_refuses_submits", |_| {
        if LATE_REFUSED.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("a pool made during the exit did not refuse a submit with ShutDown".into())
        }
    }),
    ("a_pool_dropped_by_its_own_task_is_waited_for", |_| {
        ran(&SELF_DROPPED_RAN, "the task that dropped its own pool")
    }),
    (
        "the_exit_refuses_every_pools_submits_before_it_waits",
        |_| match SECOND_POOL_SUBMIT.load(Ordering::SeqCst) {
            2 => Ok(()),
            1 => Err("a pool took a submit after the exit had refused another's".into()),
            n => Err(format!("the thread did not get to try (state {n})")),
        },
    ),
    (
        "a_leaked_process_pools_work_completes_before_main_returns",
        answered,
    ),
    ("the_thread_pools_futures_are_done_when_main_returns", |b| {
        let done: Vec<bool> = b.thread_futures.iter().map(Future::done).collect();
        if done.iter().all(|&d| d) {
            Ok(())
        } else {
            Err(format!("not every future was done: {done:?}"))
        }
    }),
];

fn ran(flag: &AtomicBool, what: &str) -> Result<(), String> {
    if flag.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(format!("{what} had not run when main returned"))
    }
}

/// The process pool's calls are done, with their values (a pool that failed them would be done
/// too).
fn answered(body: &mut Body) -> Result<(), String> {
    let got: Vec<Option<u64>> = body
        .process_futures
        .drain(..)
        .map(|f| if f.done() { f.result().ok() } else { None })
        .collect();
    if got == [Some(2), Some(4)] {
        Ok(())
    } else {
        Err(format!(
            "the calls were not answered with their values: {got:?}"
        ))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CASES {
            println!("{name}: test");
        }
        return;
    }
    let mut body = weft_process::main(body);
    println!("\nrunning {} tests", CASES.len());
    let mut failed = 0;
    for (name, check) in CASES {
        match check(&mut body) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n  {why}");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" },
        CASES.len() - failed
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

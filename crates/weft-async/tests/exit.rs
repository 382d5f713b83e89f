//! Python's exit rule for `to_thread`, tested on real processes: the program's exit
//! (`weft_thread::main`) waits for the `to_thread` calls under way, as Python's interpreter exit
//! joins the threads of the default executors (`concurrent.futures`' exit hook), also those of an
//! `asyncio.run` in a daemon thread, which itself is not waited for; a `to_thread` future never
//! polled (outside any runtime, nothing started) does not hold the exit up; and a call made once
//! the exit has begun is refused (`TaskError::Cancelled`), as Python's exit refuses it with
//! `RuntimeError`, so a thread that keeps starting calls cannot hold the exit up either.
//!
//! This file has its own `main` (`harness = false`): run with `WEFT_ASYNC_EXIT_SCENARIO=<name>` it
//! *is* the program under test; run without, it starts itself once per scenario and checks what
//! the child printed and how it ended (as weft-thread's `tests/exit.rs` does).

use std::process::{Command, Output};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use weft_async::{create_task, run, run_multi_thread, to_thread};
use weft_sync::Event;
use weft_thread::Thread;

const SCENARIO: &str = "WEFT_ASYNC_EXIT_SCENARIO";
/// How long a child may take before the test fails instead of hanging.
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// The work a `to_thread` function still has to do after the main body has returned; a process
/// that did not wait for it would exit long before.
const LATE_WORK: Duration = Duration::from_millis(300);

/// Each scenario, with what its child must print (and exit 0 after); a child that hangs is killed
/// after [`CHILD_LIMIT`] and fails its case.
const CASES: &[(&str, &str)] = &[
    (
        "exit_waits_for_to_thread_of_a_daemon_threads_run",
        // The exit waited for the work, not for the daemon thread.
        "main body returns\nto_thread work finished\n",
    ),
    (
        "exit_is_not_held_by_an_unpolled_to_thread",
        "main body returns\n",
    ),
    (
        "exit_is_not_held_by_calls_started_without_end",
        "main body returns\n",
    ),
    (
        "exit_refuses_a_call_made_while_it_waits",
        "main body returns\nsecond call: Err(Cancelled)\nfirst call finished\n",
    ),
    (
        "exit_refuses_a_deferred_call_first_polled_then",
        "main body returns\ndeferred call: Err(Cancelled)\n",
    ),
    (
        "exit_refuses_a_call_made_in_a_run_of_a_before_exit_function",
        "main body returns\ncall: Err(Cancelled)\n",
    ),
    (
        "exit_waits_for_to_thread_of_a_worker_of_a_daemon_threads_run_multi_thread",
        "main body returns\nto_thread work finished\n",
    ),
    (
        "exit_refuses_a_call_made_by_a_worker_while_it_waits",
        "main body returns\nworker's call: Err(Cancelled)\nfirst call finished\n",
    ),
    (
        "a_main_inside_a_call_does_not_wait_for_that_call",
        "inner main body returns\ninner main returned\ncall: Ok(())\n",
    ),
    (
        "a_main_inside_a_call_waits_for_the_other_calls",
        "main body returns\nto_thread work finished\ninner main returned\ncall: Ok(())\n",
    ),
    (
        "exit_waits_for_a_call_made_as_it_begins",
        "calls that outlived main: 0\n",
    ),
];

/// How many `main`s [`exit_waits_for_a_call_made_as_it_begins`]'s child runs, each racing a call
/// against its exit.
const RACES: usize = 1000;

fn main() {
    if let Ok(name) = std::env::var(SCENARIO) {
        child(&name);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CASES {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let cases: Vec<_> = CASES
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", cases.len());
    let mut failed = Vec::new();
    for (name, expected) in &cases {
        match run_child(name).and_then(|out| check(&out, expected)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n  {why}");
                failed.push(*name);
            }
        }
    }
    let passed = cases.len() - failed.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        CASES.len() - cases.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

/// Runs this binary as scenario `name`, killing it if it outlives [`CHILD_LIMIT`].
fn run_child(name: &str) -> Result<Output, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .env(SCENARIO, name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CHILD_LIMIT) {
        Ok(out) => out.map_err(|e| e.to_string()),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            Err(format!("the child hung for {CHILD_LIMIT:?} and was killed"))
        }
    }
}

fn child(name: &str) {
    match name {
        "exit_waits_for_to_thread_of_a_daemon_threads_run" => weft_thread::main(|| {
            in_daemon_thread(|signal| {
                run(to_thread(late_work(signal)))
                    .expect("not nested")
                    .expect("no panic");
            });
            // Returned while the work runs: the daemon thread is not waited for, its work is.
        }),
        "exit_is_not_held_by_an_unpolled_to_thread" => weft_thread::main(|| {
            in_daemon_thread(|signal| {
                // Made outside any runtime and never polled: nothing has started.
                let _held = to_thread(|| println!("never runs"));
                signal.set();
                loop {
                    std::thread::park();
                }
            });
        }),
        "exit_is_not_held_by_calls_started_without_end" => weft_thread::main(|| {
            // A daemon thread's run in which each call starts the next before it ends: some
            // call is always under way until the exit refuses the next, as Python's does.
            fn relay() {
                drop(to_thread(relay));
                std::thread::sleep(Duration::from_millis(1));
            }
            in_daemon_thread(|signal| {
                run(async move {
                    to_thread(relay).await.expect("no panic");
                    signal.set();
                    std::future::pending::<()>().await
                })
                .expect("not nested");
            });
        }),
        "exit_refuses_a_call_made_while_it_waits" => weft_thread::main(|| {
            // A daemon thread's run: its call works on after the main body has returned (the
            // exit waits for it) and then, the exit under way, makes a second call: refused,
            // as Python's exit refuses it, so nothing is left running when the process ends.
            let exiting = Arc::new(Event::new());
            let exit_begun = exiting.clone();
            in_daemon_thread(|signal| {
                run(async move {
                    let first = to_thread(move || {
                        exit_begun.wait();
                        std::thread::sleep(LATE_WORK);
                        let second = to_thread(|| println!("second call ran"));
                        let refused = tokio::runtime::Handle::current().block_on(second);
                        println!("second call: {refused:?}");
                        println!("first call finished");
                    });
                    signal.set();
                    first.await.expect("no panic");
                    std::future::pending::<()>().await
                })
                .expect("not nested");
            });
            // Registered after the first call's exit wait, so it runs first: the exit has begun.
            weft_thread::before_exit(move || exiting.set());
        }),
        "exit_refuses_a_deferred_call_first_polled_then" => weft_thread::main(|| {
            // Made outside any runtime, a call starts when first polled: here in a
            // `before_exit` function, once the exit has begun, so it is refused.
            let deferred = to_thread(|| println!("deferred call ran"));
            weft_thread::before_exit(move || {
                let answer = run(deferred).expect("not nested");
                println!("deferred call: {answer:?}");
            });
            println!("main body returns");
        }),
        "exit_refuses_a_call_made_in_a_run_of_a_before_exit_function" => weft_thread::main(|| {
            // Made inside a runtime (handed to its pool at once, not deferred), by a
            // `before_exit` function: refused. Python's exit still takes the calls of a
            // `threading._register_atexit` function that runs before `concurrent.futures`' own
            // (one registered after the first thread pool or `to_thread`); weft refuses every
            // `before_exit` function's, as its pools refuse their submits.
            weft_thread::before_exit(|| {
                let answer = run(async { to_thread(|| println!("call ran")).await });
                println!("call: {:?}", answer.expect("not nested"));
            });
            println!("main body returns");
        }),
        "exit_waits_for_to_thread_of_a_worker_of_a_daemon_threads_run_multi_thread" => {
            weft_thread::main(|| {
                in_daemon_thread(|signal| {
                    // The call is made by a task on one of the runtime's worker threads (the
                    // run's own future is polled on this thread, so it is made in the task).
                    run_multi_thread(async move {
                        let runner = std::thread::current().id();
                        create_task(async move {
                            assert_ne!(std::thread::current().id(), runner, "not on a worker");
                            to_thread(late_work(signal)).await
                        })
                        .await
                        .expect("not cancelled")
                        .expect("no panic");
                    })
                    .expect("not nested");
                });
            });
        }
        "exit_refuses_a_call_made_by_a_worker_while_it_waits" => weft_thread::main(|| {
            // A task on a worker of a daemon thread's `run_multi_thread` makes a call once the
            // exit has begun, while the exit waits for a first call: refused.
            let exiting = Arc::new(Event::new());
            let exit_begun = exiting.clone();
            in_daemon_thread(|signal| {
                run_multi_thread(async move {
                    let first_done = Arc::new(Event::new());
                    let done = first_done.clone();
                    let first = to_thread(move || {
                        done.wait();
                        println!("first call finished");
                    });
                    signal.set();
                    let worker = create_task(async move {
                        let begun = exit_begun.clone();
                        // Waited for on the blocking pool, not on the worker.
                        let _ = to_thread(move || begun.wait()).await;
                        // The wait's call has ended; the exit still waits for `first`.
                        let answer = to_thread(|| println!("worker's call ran")).await;
                        println!("worker's call: {answer:?}");
                        first_done.set();
                    });
                    let _ = worker.await;
                    first.await.expect("no panic");
                    std::future::pending::<()>().await
                })
                .expect("not nested");
            });
            // Registered after the calls' exit wait, so it runs first: the exit has begun.
            weft_thread::before_exit(move || exiting.set());
        }),
        "a_main_inside_a_call_does_not_wait_for_that_call" => {
            // The call's function cannot end before its `main` returns: that `main`'s exit
            // waits for the other calls only (it hung waiting for this one before).
            let answer = run(to_thread(|| {
                weft_thread::main(|| println!("inner main body returns"));
                println!("inner main returned");
            }));
            println!("call: {:?}", answer.expect("not nested"));
        }
        "a_main_inside_a_call_waits_for_the_other_calls" => {
            // That `main`'s exit leaves out its own call but waits for the others: here one of
            // a daemon thread's run, which ends while the exit waits, the count then at one, not
            // zero (the exit was not woken then, and hung).
            let answer = run(to_thread(|| {
                weft_thread::main(|| {
                    in_daemon_thread(|signal| {
                        run(to_thread(late_work(signal)))
                            .expect("not nested")
                            .expect("no panic");
                    });
                });
                println!("inner main returned");
            }));
            println!("call: {:?}", answer.expect("not nested"));
        }
        "exit_waits_for_a_call_made_as_it_begins" => exit_waits_for_a_call_made_as_it_begins(),
        other => panic!("unknown scenario {other}"),
    }
}

/// Many `main`s in a row, each with a call made by a thread `main` does not wait for (as a
/// tokio worker's, or a daemon thread's) as its body returns: refused if the exit has begun,
/// else waited for by it, the call that registers the exit's wait included (the first since
/// the last `main`'s). Two threads keep adding `before_exit` functions until the exit begins,
/// so that the registration contends with the exit for the list, as a loaded machine makes it
/// do. Each `main`'s last step (weft-process's hook for its children, here) holds it until the
/// call has been made, so every call accepted was made before `main` returned; the call waits
/// briefly for `main` to have returned, which it sees only if the exit did not wait for it.
fn exit_waits_for_a_call_made_as_it_begins() {
    /// How long a call looks out for its `main`'s return.
    const OUTLIVE: Duration = Duration::from_millis(2);
    const CONTENDERS: usize = 2;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a runtime");
    let mut outlived = 0;
    for _ in 0..RACES {
        let returned = Arc::new(Event::new());
        let made = Arc::new(Event::new());
        let start = Arc::new(std::sync::Barrier::new(2 + CONTENDERS));
        let (tx, rx) = mpsc::channel();
        let caller = {
            let handle = runtime.handle().clone();
            let (returned, made, start) = (returned.clone(), made.clone(), start.clone());
            move || {
                let call = {
                    let _runtime = handle.enter();
                    start.wait();
                    to_thread(move || returned.wait_timeout(OUTLIVE))
                };
                made.set();
                let _ = tx.send(handle.block_on(call));
            }
        };
        // `main_then` (weft-process's `main` is made of it): `main` with a last step.
        weft_thread::main_then(
            || {
                for _ in 0..CONTENDERS {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        while !weft_thread::is_exiting() {
                            weft_thread::before_exit(|| ());
                        }
                    });
                }
                std::thread::spawn(caller);
                start.wait();
            },
            || made.wait(),
        );
        returned.set();
        // `Ok(true)`: the call saw `main` return; `Err(Cancelled)`: refused.
        if let Ok(true) = rx.recv().expect("the call's thread answers") {
            outlived += 1;
        }
    }
    println!("calls that outlived main: {outlived}");
}

/// The function of a call whose exit the scenario checks: sets `signal` once under way, then
/// works on for [`LATE_WORK`] and says it finished (a process that did not wait for it would
/// exit before that line).
fn late_work(signal: Arc<Event>) -> impl FnOnce() + Send + 'static {
    move || {
        signal.set();
        std::thread::sleep(LATE_WORK);
        println!("to_thread work finished");
    }
}

/// Every scenario's main body: starts `f` on a daemon thread with an event to set once its
/// work is under way, waits for that, then says it returns.
fn in_daemon_thread(f: impl FnOnce(Arc<Event>) + Send + 'static) {
    let started = Arc::new(Event::new());
    let signal = started.clone();
    Thread::new(move || f(signal))
        .daemon(true)
        .start()
        .expect("a thread");
    started.wait();
    println!("main body returns");
}

/// Whether the child exited 0 having printed `expected`.
fn check(out: &Output, expected: &str) -> Result<(), String> {
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text != expected {
        return Err(format!(
            "{:?}, printed {text:?}, expected {expected:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

//! Thread.join(timeout): wait a bounded time, ask is_alive(), wait again; a panic comes back too
//!
//! `join()` inserts another thread's flow into yours: you continue once it has finished.
//! `join(timeout)` waits at most that long; afterwards only `is_alive()` tells whether the thread
//! finished. The timeout bounds the caller's wait, not the thread (it is not, as the chapter
//! puts it, the most time the thread may hold the CPU): the worker below runs on to its end,
//! whatever the joins that timed out meanwhile. In Python:
//!
//! ```python
//! t = threading.Thread(target=slow_work)
//! t.start()
//! t.join(0.1)
//! while t.is_alive():
//!     print("still working")
//!     t.join(0.1)
//!
//! threading.excepthook = lambda args: print("hook:", args.exc_value)
//! threading.current_thread().join()  # RuntimeError: cannot join current thread
//! ```
//!
//! weft's `join_timeout(d)` returns the value when the thread finished in time, or gives the
//! handle back in `Err(JoinTimeoutError::Timeout(handle))` to wait again. A thread that panics is
//! reported by the excepthook (by default `Exception in thread NAME:` on stderr, as in Python) and
//! its panic comes back from `join` as `JoinError::Panicked`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft::thread::{self, JoinError, JoinTimeoutError, Thread, ThreadHandle};

fn main() {
    weft::main(|| {
        println!("1. join(timeout) on a worker doing 250 ms of work:");
        let began = Instant::now();
        let mut worker = Thread::new(|| {
            std::thread::sleep(Duration::from_millis(250)); // simulated work
            42
        })
        .name("slow-worker")
        .start()
        .expect("the OS refused a thread");
        let answer = loop {
            match worker.join_timeout(Duration::from_millis(100)) {
                Ok(value) => break value,
                Err(JoinTimeoutError::Timeout(handle)) => {
                    println!(
                        "  join_timeout(100 ms) -> Timeout at {:>3} ms; is_alive() = {}",
                        began.elapsed().as_millis(),
                        handle.is_alive()
                    );
                    worker = handle; // the handle came back: wait again
                }
                Err(e) => panic!("unexpected: {e}"),
            }
        };
        println!(
            "  join_timeout(100 ms) -> Ok({answer}) at {} ms",
            began.elapsed().as_millis()
        );

        println!();
        println!("2. a thread that panics, with a one-line excepthook installed:");
        thread::set_excepthook(|p| {
            println!(
                "  excepthook: thread '{}' raised: {}",
                p.thread_name(),
                p.message()
            );
        });
        let parser = Thread::new(|| -> u32 { "forty-two".parse().expect("not a number") })
            .name("parser")
            .start()
            .expect("the OS refused a thread");
        match parser.join() {
            Err(JoinError::Panicked(p)) => {
                println!("  join() -> Err(Panicked): {}", p.message());
                println!(
                    "    in thread '{}' at {}",
                    p.thread_name(),
                    p.location().unwrap_or("?")
                );
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        thread::reset_excepthook();

        println!();
        println!("3. a thread that joins itself gets an error instead of waiting forever:");
        let (handle_tx, handle_rx) = mpsc::channel::<ThreadHandle<&str>>();
        let (back_tx, back_rx) = mpsc::channel();
        let selfish = Thread::new(move || {
            let me = handle_rx.recv().expect("main sends my handle");
            let err = me.join().expect_err("a thread cannot see itself finished");
            println!("  selfish: join() on myself -> Err: {err}");
            if let JoinError::CurrentThread(me) = err {
                back_tx.send(me).expect("main is listening"); // give the handle back
            }
            "finished normally"
        })
        .name("selfish")
        .start()
        .expect("the OS refused a thread");
        handle_tx.send(selfish).expect("selfish is listening");
        let selfish = back_rx.recv().expect("selfish sends its handle back");
        println!(
            "  main: join() -> {:?}",
            selfish.join().expect("selfish panicked")
        );
    })
}

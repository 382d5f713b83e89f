//! threading.Thread(daemon=True): at exit the program waits for non-daemon threads, not daemons
//!
//! A thread runs to completion by default: a Python program does not exit while a non-daemon
//! thread is still working. A daemon thread is one the program does not wait for: it ends with the
//! main thread, finished or not.
//!
//! ```python
//! def heartbeat():
//!     while True:                    # never returns
//!         print("heartbeat"); time.sleep(0.08)
//!
//! threading.Thread(target=heartbeat, daemon=True).start()   # or t.setDaemon(True)
//! threading.Thread(target=save_file).start()                # non-daemon: waited for
//! print("main body returned")        # the interpreter now waits for save_file, not heartbeat
//! ```
//!
//! A plain Rust program is different: when `main` returns the process exits and every other
//! thread dies, daemon or not. `weft::main(|| ...)` restores Python's rule: it returns only once
//! every non-daemon weft thread has finished. (A program that does not use `weft::main` can call
//! `weft::thread::wait_non_daemon()` at the end of `main` for the same effect.)

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::sync::Event;
use weft::thread::{self, Thread};

fn main() {
    let (returned_at, heartbeat) = weft::main(|| {
        // A daemon thread that would run forever.
        let (child_tx, child_rx) = mpsc::channel();
        let heartbeat = Thread::new(move || {
            // Started from a daemon thread, a thread is a daemon too (Python's default).
            let never = Arc::new(Event::new());
            let child = thread::spawn(move || never.wait()) // blocks forever
                .expect("the OS refused a thread");
            child_tx.send(child.is_daemon()).expect("main is listening");
            for beat in 1.. {
                println!("  [daemon] heartbeat {beat}");
                std::thread::sleep(Duration::from_millis(80));
            }
        })
        .name("heartbeat")
        .daemon(true)
        .start()
        .expect("the OS refused a thread");
        let child_is_daemon = child_rx.recv().expect("heartbeat reports");
        println!(
            "main: started '{}' (daemon: {}); the thread it started is a daemon too: {child_is_daemon}",
            heartbeat.name(),
            heartbeat.is_daemon()
        );

        // A non-daemon thread with work left to do when main's body returns.
        let go = Arc::new(Event::new());
        let writer = {
            let go = Arc::clone(&go);
            Thread::new(move || {
                go.wait(); // starts saving only once main's body has returned
                println!(
                    "  [writer] saving the file... (the program is exiting: {})",
                    thread::is_exiting()
                );
                std::thread::sleep(Duration::from_millis(200)); // simulated I/O
                println!("  [writer] saved, 200 ms after main's body returned");
            })
            .name("writer")
            .start()
            .expect("the OS refused a thread")
        };
        println!(
            "main: started '{}' (daemon: {}) and dropped its handle without joining",
            writer.name(),
            writer.is_daemon()
        );
        drop(writer); // detached: nobody will join it, yet the program must not lose its work

        // Run by weft::main once this body has returned (Python's threading._register_atexit),
        // when weft::thread::is_exiting() has turned true, before it waits for the non-daemon
        // threads. (Python's main_thread().is_alive() is still True in such a function and
        // turns False right after them, before the join.)
        weft::thread::before_exit(move || go.set());
        println!("main: body returned; weft::main now waits for the non-daemon threads");
        (Instant::now(), heartbeat)
    });

    println!(
        "main: weft::main returned {} ms later, once 'writer' had finished",
        returned_at.elapsed().as_millis()
    );
    println!(
        "main: 'heartbeat' is still alive ({}), but it is a daemon: the process exits now",
        heartbeat.is_alive()
    );
    // Returning from `main` ends the process, and with it the daemon threads, mid-loop.
}

//! multiprocessing.Process: run a function in a child process, and why `weft::main` is the guard
//!
//! `multiprocessing` runs a *function* in a child process with the same API as a thread. In
//! Python the child imports the main module again, which is why every multiprocessing program
//! needs the guard:
//!
//! ```python
//! def work(n):
//!     return sum(i * i for i in range(n))
//!
//! if __name__ == "__main__":        # without it, the child would run this block again
//!     p = multiprocessing.Process(target=work, args=(10_000,), name="squares")
//!     p.start()
//!     p.join()
//!     print(p.exitcode)              # 0; the result needs a Queue or Pipe in Python
//! ```
//!
//! A weft child is this same program started again. `weft::main` is the guard: in a child it
//! runs the child's function and exits before any of the closure below runs. The function is a
//! plain `fn(A) -> R` whose argument and result are serde types, and `join` returns the result —
//! or the child's panic, or the signal that killed it.

use std::time::{Duration, Instant};

use weft::process::{current_process_name, Process, ProcessError, StartMethod};

fn sum_of_squares(n: u64) -> u64 {
    let (name, pid) = (current_process_name(), std::process::id());
    println!("  [{name}] pid {pid}: computing the sum of squares below {n}");
    (0..n).map(|i| i * i).sum()
}

fn fails(reason: String) -> u64 {
    panic!("{reason}");
}

fn sleeps(seconds: u64) {
    std::thread::sleep(Duration::from_secs(seconds));
}

fn main() {
    weft::main(|| {
        println!("[{}] pid {}", current_process_name(), std::process::id());

        // start + join, like a thread, with the result coming back.
        let child = Process::new(sum_of_squares, 10_000)
            .name("squares")
            .start()
            .expect("start");
        println!("started {} (pid {})", child.name(), child.pid());
        let total = child.join().expect("the child's result");
        println!("join -> {total}");

        // A panic in the child comes back as an error with its message (exit code 1).
        let failing = Process::new(fails, "bad input".to_string())
            .start()
            .expect("start");
        match failing.join() {
            Err(ProcessError::Panicked { message, .. }) => {
                println!("join -> the child panicked: {message}")
            }
            other => println!("unexpected: {other:?}"),
        }

        // join with a timeout gives the handle back; terminate() sends SIGTERM.
        let slow = Process::new(sleeps, 60).start().expect("start");
        let slow = match slow.join_timeout(Duration::from_millis(100)) {
            Err((ProcessError::Timeout, Some(handle))) => handle,
            other => panic!("expected a timeout: {:?}", other.map_err(|e| e.0)),
        };
        println!(
            "after join_timeout(100 ms): alive {}, exitcode {:?}",
            slow.is_alive(),
            slow.exitcode()
        );
        slow.terminate().expect("terminate");
        println!("after terminate: join -> {}", slow.join().unwrap_err());

        // Python's start methods. The default is the fork server (as in Python 3.14 on Linux):
        // the first start ran this program once more as a server stopped inside the guard;
        // each child is a fork of that server, which skips the exec and the program's start.
        // Spawn executes this program again for each child.
        for method in [StartMethod::Spawn, StartMethod::ForkServer] {
            let started = Instant::now();
            for _ in 0..20 {
                let child = Process::new(sum_of_quiet_squares, 1_000)
                    .start_method(method)
                    .start()
                    .expect("start");
                child.join().expect("the child's result");
            }
            println!(
                "{method:?}: 20 children started and joined in {:?}",
                started.elapsed()
            );
        }
    })
}

fn sum_of_quiet_squares(n: u64) -> u64 {
    (0..n).map(|i| i * i).sum()
}

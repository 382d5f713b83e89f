//! threading.Thread: start named threads, list them while they run, join them for their results
//!
//! `start()` sets each function running on its own flow, "as if simultaneously": three
//! downloads that each wait on (simulated) I/O finish in about the time of the slowest one, not
//! the sum. In Python:
//!
//! ```python
//! def fetch(page, seconds):
//!     print(threading.current_thread().name, "fetching", page)
//!     time.sleep(seconds)            # waiting on the network
//!
//! t = threading.Thread(target=fetch, args=("index.html", 0.06), name="fetch-1")
//! t.start()
//! print(threading.active_count(), [t.name for t in threading.enumerate()])
//! t.join()                           # always None: a Python thread cannot return a value
//! ```
//!
//! A weft thread is built the same way (`Thread::new(f).name(..).start()`, or `spawn(f)` for the
//! defaults), but `join()` hands back the closure's return value, or its panic.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::sync::Event;
use weft::thread::{self, Thread};

/// The pages to fetch and how long each one's (simulated) network wait takes.
const PAGES: [(&str, u64); 3] = [("index.html", 60), ("about.html", 20), ("logo.png", 40)];

fn main() {
    weft::main(|| {
        let me = thread::current_thread();
        println!("main runs in {} (ident {})", me.name(), me.ident());

        // Each fetcher says it has started, then waits at `go` so that main can list the
        // threads while all of them are certainly alive.
        let go = Arc::new(Event::new());
        let (started, started_rx) = mpsc::channel();
        let began = Instant::now();
        let fetchers: Vec<_> = PAGES
            .iter()
            .enumerate()
            .map(|(i, &(page, ms))| {
                let (go, started) = (Arc::clone(&go), started.clone());
                Thread::new(move || {
                    let me = thread::current_thread();
                    println!("  {}: fetching {page}", me.name());
                    started.send(()).expect("main is listening");
                    go.wait();
                    std::thread::sleep(Duration::from_millis(ms)); // the network wait
                    (me.ident(), page.len() * 100) // "bytes downloaded"
                })
                .name(format!("fetch-{}", i + 1))
                .start()
                .expect("the OS refused a thread")
            })
            .collect();
        // `spawn` is the short form, with a default `Thread-N` name.
        let counter = {
            let go = Arc::clone(&go);
            thread::spawn(move || {
                go.wait();
                let name = thread::current_thread().name().to_owned();
                (name, (1..=100u32).sum::<u32>())
            })
            .expect("the OS refused a thread")
        };
        for _ in &fetchers {
            started_rx.recv().expect("every fetcher reports");
        }

        println!("while they run:");
        println!("  active_count() = {}", thread::active_count());
        let names: Vec<_> = thread::enumerate()
            .iter()
            .map(|t| t.name().to_owned())
            .collect();
        println!("  enumerate()    = {names:?}");
        go.set();

        println!("join() gives each thread's return value back:");
        for fetcher in fetchers {
            let (name, ident) = (fetcher.name().to_owned(), fetcher.ident());
            let (inside_ident, bytes) = fetcher.join().expect("fetcher panicked");
            assert_eq!(inside_ident, ident);
            println!("  {name} (ident {ident}, the same inside and out): {bytes} bytes");
        }
        let (name, sum) = counter.join().expect("counter panicked");
        println!("  {name}: 1 + 2 + ... + 100 = {sum}");
        let took = began.elapsed().as_millis();
        if took < 120 {
            println!(
                "all done in {took} ms: about the slowest fetch (60 ms), not the sum (120 ms)"
            );
        } else {
            println!("all done in {took} ms: a busy machine; the waits still overlapped");
        }
        println!("after joining: active_count() = {}", thread::active_count());
    })
}

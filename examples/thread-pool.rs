//! concurrent.futures.ThreadPoolExecutor: I/O-bound tasks on a pool of threads, results in order
//!
//! The chapter: `concurrent.futures` wraps threads (and processes) in a high-level interface for
//! asynchronous tasks, and I/O-bound work goes to a ThreadPoolExecutor:
//!
//! ```python
//! with ThreadPoolExecutor(max_workers=8) as ex:
//!     pages = list(ex.map(fetch, urls))
//! ```
//!
//! Here `fetch` waits on a timer instead of a socket (the demo needs no network): each call spends
//! 50 ms blocked, as a download does, so eight of them on eight threads take about as long as one.
//! `map` yields the results in input order; dropping the pool waits for its work, like leaving the
//! `with` block.

use std::time::{Duration, Instant};

use weft::executor::ThreadPoolExecutor;
use weft::sync::Event;

/// Stands in for a download: blocked 50 ms (a wait that nobody will cut short), then a "page".
fn fetch(url: &'static str) -> String {
    let never = Event::new();
    never.wait_timeout(Duration::from_millis(50));
    format!("<html>{url}</html>")
}

const URLS: [&str; 8] = [
    "a.example",
    "b.example",
    "c.example",
    "d.example",
    "e.example",
    "f.example",
    "g.example",
    "h.example",
];

fn main() {
    let t0 = Instant::now();
    let sequential: Vec<String> = URLS.iter().map(|u| fetch(u)).collect();
    let one_by_one = t0.elapsed();
    println!("sequential: {} pages in {one_by_one:.0?}", sequential.len());

    let pool = ThreadPoolExecutor::builder()
        .max_workers(8)
        .thread_name_prefix("fetch")
        .build()
        .expect("8 workers");
    let t0 = Instant::now();
    let pages: Vec<String> = pool
        .map(fetch, URLS)
        .collect::<Result<_, _>>()
        .expect("every fetch returns");
    let pooled = t0.elapsed();
    println!(
        "thread pool: {} pages in {pooled:.0?} ({:.1}x faster), first: {}",
        pages.len(),
        one_by_one.as_secs_f64() / pooled.as_secs_f64(),
        pages[0]
    );
    assert_eq!(pages, sequential, "map keeps the input order");

    // One task, one future: submit returns at once; result() waits.
    let future = pool
        .submit(|| fetch("i.example").len())
        .expect("pool is open");
    println!("submitted one more; done yet? {}", future.done());
    println!("its page is {} bytes", future.result().expect("fetched"));
}

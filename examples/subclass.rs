//! Subclassing threading.Thread: a Runnable struct's run() is the thread; why a closure is better
//!
//! The chapter shows how to subclass `Thread`: call `super().__init__()` in `__init__` and put the
//! work in `run()`. It works, but it is not recommended, because the work then depends on the
//! `threading.Thread` type.
//!
//! ```python
//! class Downloader(threading.Thread):
//!     def __init__(self, pages):
//!         super().__init__()
//!         self.pages = pages
//!         self.total = 0
//!
//!     def run(self):
//!         for page in self.pages:
//!             self.total += fetch(page)
//!
//! d = Downloader(["a.html", "b.html"])
//! d.start(); d.join()
//! print(d.total)                     # results are read from the object's fields
//! ```
//!
//! weft's counterpart is a struct implementing `weft::thread::Runnable`, started with
//! `Thread::from_runnable`; `join()` gives the struct back with its fields filled in. The
//! preferred form is a plain function called from a closure, `Thread::new(move || f(..))`.

use std::time::Duration;

use weft::thread::{self, Runnable, Thread};

const PAGES: [&str; 4] = ["index.html", "about.html", "blog.html", "logo.png"];

/// Simulated download: a short network wait, then the page's size.
fn fetch(page: &str) -> usize {
    std::thread::sleep(Duration::from_millis(10));
    page.len() * 100
}

/// The subclass style: the state and the work live in one type, tied to being run as a thread.
struct Downloader {
    pages: Vec<&'static str>,
    total: usize,
    ran_in: String,
}

impl Runnable for Downloader {
    fn run(&mut self) {
        self.ran_in = thread::current_thread().name().to_owned();
        for page in &self.pages {
            self.total += fetch(page);
        }
    }
}

/// The closure style: an ordinary function, with no idea how it is going to be run.
fn download_all(pages: &[&str]) -> usize {
    pages.iter().map(|page| fetch(page)).sum()
}

fn main() {
    weft::main(|| {
        println!("1. subclass style: impl Runnable for Downloader, Thread::from_runnable");
        let halves: Vec<_> = PAGES
            .chunks(2)
            .enumerate()
            .map(|(i, pages)| {
                let downloader = Downloader {
                    pages: pages.to_vec(),
                    total: 0,
                    ran_in: String::new(),
                };
                Thread::from_runnable(downloader)
                    .name(format!("downloader-{}", i + 1))
                    .start()
                    .expect("the OS refused a thread")
            })
            .collect();
        for handle in halves {
            let d = handle.join().expect("downloader panicked"); // the struct comes back
            println!(
                "  {}: {:?} -> total = {} bytes (its field, after join)",
                d.ran_in, d.pages, d.total
            );
        }

        println!();
        println!("2. closure style: the same work as a plain function, download_all(&pages)");
        let inline = download_all(&PAGES);
        println!("  called inline:          {inline} bytes");
        let in_thread = Thread::new(|| download_all(&PAGES))
            .name("downloader")
            .start()
            .expect("the OS refused a thread")
            .join()
            .expect("downloader panicked");
        println!("  in one thread:          {in_thread} bytes (the return value, from join)");
        let pool: Vec<_> = PAGES
            .chunks(1)
            .map(|page| thread::spawn(move || download_all(page)).expect("the OS refused a thread"))
            .collect();
        let pooled: usize = pool
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .sum();
        println!("  one thread per page:    {pooled} bytes (like pool.map over the pages)");
        assert_eq!(inline, in_thread);
        assert_eq!(inline, pooled);

        println!();
        println!("Why prefer the closure: the flow is not tied to the Thread type.");
        println!("  download_all() runs inline, in a thread, or in a pool unchanged, is tested");
        println!("  without threads, and returns its result instead of leaving it in a field.");
    })
}

//! Deadlock detection across weft-thread threads (feature `deadlock-detection`): an inversion
//! made by two weft threads, one after the other, is reported with their names, and the umbrella
//! re-exports the detector as `weft::sync::deadlock`.
#![cfg(all(feature = "deadlock-detection", feature = "thread"))]

use std::sync::{Arc, Mutex};

use weft::sync::deadlock::{set_deadlock_hook, DeadlockReport, ReportKind};
use weft::sync::{Event, Lock};

#[test]
fn inversion_between_weft_threads_is_reported_with_their_names() {
    let reports: Arc<Mutex<Vec<DeadlockReport>>> = Arc::default();
    let sink = Arc::clone(&reports);
    set_deadlock_hook(move |r| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.clone())
    });

    let a = Arc::new(Lock::named("wt-a", ()));
    let b = Arc::new(Lock::named("wt-b", ()));
    let first_done = Arc::new(Event::new());
    let forward = {
        let (a, b, done) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&first_done));
        weft::thread::Thread::new(move || {
            let _a = a.acquire();
            let _b = b.acquire();
            drop((_b, _a));
            done.set();
        })
        .name("forward")
        .start()
        .unwrap()
    };
    let backward = {
        let (a, b, done) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&first_done));
        weft::thread::Thread::new(move || {
            done.wait(); // never at the same time: nothing can hang
            let _b = b.acquire();
            let _a = a.acquire();
        })
        .name("backward")
        .start()
        .unwrap()
    };
    forward.join().unwrap();
    backward.join().unwrap();

    let reports = reports.lock().unwrap_or_else(|e| e.into_inner());
    let mine: Vec<_> = reports
        .iter()
        .filter(|r| r.cycle.iter().any(|s| s.held.contains("wt-")))
        .collect();
    assert_eq!(mine.len(), 1, "{reports:#?}");
    assert_eq!(mine[0].kind, ReportKind::OrderCycle);
    let threads: Vec<&str> = mine[0].cycle.iter().map(|s| s.thread.as_str()).collect();
    assert!(
        threads.contains(&"forward") && threads.contains(&"backward"),
        "{threads:?}"
    );
}

//! The `progress` feature: `.progress()` on `as_completed` and `map` yields every item unchanged,
//! counts them on its bar, and is drawn only when stderr is a terminal.
#![cfg(feature = "progress")]

use std::io::IsTerminal;

use weft_executor::{as_completed, ThreadPoolExecutor};

fn pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap()
}

/// indicatif hides a bar when stderr is not a terminal or TERM is dumb/unset.
fn expect_hidden() -> bool {
    !std::io::stderr().is_terminal()
        || std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb")
}

#[test]
fn as_completed_progress_counts_every_future() {
    let pool = pool();
    let futures: Vec<_> = (0..50u64)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    let mut it = as_completed(futures, None).progress();
    assert_eq!(it.bar().length(), Some(50));
    assert_eq!(it.bar().is_hidden(), expect_hidden());
    let mut sum = 0;
    for f in it.by_ref() {
        sum += f.unwrap().result().unwrap();
    }
    assert_eq!(sum, (0..50).sum::<u64>());
    assert_eq!(it.bar().position(), 50);
    assert!(it.bar().is_finished());
}

#[test]
fn map_progress_knows_the_length_of_a_sized_input() {
    let pool = pool();
    let mut it = pool
        .map(|x: u32| x + 1, vec![1, 2, 3])
        .chunksize(2)
        .progress();
    assert_eq!(it.bar().length(), Some(3));
    let out: Vec<u32> = it.by_ref().map(Result::unwrap).collect();
    assert_eq!(out, [2, 3, 4]);
    assert_eq!(it.bar().position(), 3);
}

/// A `map` given a zero `chunksize` or `buffersize` yields only that error, which is no task
/// done: the bar stays at 0 of the input's length (it used to count the error, 1 of 3).
#[test]
fn map_progress_does_not_count_an_options_error() {
    let pool = pool();
    for (chunksize, buffersize) in [(0, 1), (1, 0)] {
        let mut it = pool
            .map(|x: u32| x, vec![1, 2, 3])
            .chunksize(chunksize)
            .buffersize(buffersize)
            .progress();
        assert!(
            matches!(it.next(), Some(Err(_))),
            "{chunksize} {buffersize}"
        );
        assert!(it.next().is_none());
        assert_eq!(it.bar().position(), 0, "{chunksize} {buffersize}");
    }
}

/// A `map` that stops at a failing item, and an `as_completed` that times out, leave the bar at
/// what they yielded instead of filling it (tqdm stays where it stopped too).
#[test]
fn progress_that_stops_early_is_not_shown_complete() {
    let pool = pool();
    let mut it = pool
        .map(|x: u32| if x == 3 { panic!("bad") } else { x }, 0..100)
        .progress();
    let yielded = it.by_ref().count();
    assert_eq!(yielded, 4, "three values, then the failure");
    assert_eq!((it.bar().position(), it.bar().length()), (4, Some(100)));
    assert!(it.bar().is_finished());

    // A map's timeout: one item done, then the timeout's item, which is not progress.
    let gate = std::sync::Arc::new(weft_sync::Event::new());
    let g = std::sync::Arc::clone(&gate);
    let mut it = pool
        .map(
            move |x: u32| {
                if x > 0 {
                    g.wait();
                }
                x
            },
            0..10,
        )
        .timeout(std::time::Duration::from_secs(2)) // item 0 is done long before
        .progress();
    let outcomes: Vec<bool> = it.by_ref().map(|r| r.is_ok()).collect();
    gate.set(); // before asserting: a failure must not leave the pool's workers blocked
    assert_eq!(outcomes, [true, false], "item 0, then the timeout");
    assert_eq!((it.bar().position(), it.bar().length()), (1, Some(10)));

    // One of three finishes before the timeout, whose item (the two others) is not progress.
    let gate = std::sync::Arc::new(weft_sync::Event::new());
    let mut futures = vec![pool.submit(|| ()).unwrap()];
    for _ in 0..2 {
        let g = std::sync::Arc::clone(&gate);
        futures.push(pool.submit(move || g.wait()).unwrap());
    }
    assert!(futures[0].wait_timeout(std::time::Duration::from_secs(60)));
    let timeout = std::time::Duration::from_millis(100);
    let mut it = as_completed(futures, Some(timeout)).progress();
    let outcomes: Vec<bool> = it.by_ref().map(|r| r.is_ok()).collect();
    gate.set();
    assert_eq!(outcomes, [true, false], "one finished, then the timeout");
    assert_eq!((it.bar().position(), it.bar().length()), (1, Some(3)));
}

#[test]
fn map_progress_over_an_endless_input_has_no_length() {
    let pool = pool();
    let it = pool.map(|x: u64| x * 2, 0..).buffersize(2).progress();
    assert_eq!(it.bar().length(), None);
    let first: Vec<u64> = it.take(4).map(Result::unwrap).collect();
    assert_eq!(first, [0, 2, 4, 6]);
}

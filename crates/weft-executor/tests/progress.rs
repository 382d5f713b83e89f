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

#[test]
fn map_progress_over_an_endless_input_has_no_length() {
    let pool = pool();
    let it = pool.map(|x: u64| x * 2, 0..).buffersize(2).progress();
    assert_eq!(it.bar().length(), None);
    let first: Vec<u64> = it.take(4).map(Result::unwrap).collect();
    assert_eq!(first, [0, 2, 4, 6]);
}

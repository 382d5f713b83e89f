//! Scenario: the chapter's server/client rendezvous with `weft::sync::Barrier`. A "server" and a
//! "client" thread each prepare, meet at `Barrier::new(2)?.timeout(5 s)`, then proceed; both
//! pass, with indices {0, 1}, and neither proceeds before the other has prepared. When the client
//! never comes, the server's wait breaks the barrier with `BreakCause::Timeout` (CPython's
//! `lock_tests.py` `BarrierTests.test_default_timeout` in miniature).
#![cfg(feature = "sync")]

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft::sync::{Barrier, BreakCause, BrokenBarrier};

/// How long the test waits for a thread before failing instead of hanging.
const LONG: Duration = Duration::from_secs(10);

fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// One side of the rendezvous: prepare, meet, proceed. Returns the barrier index and whether the
/// other side had prepared by the time this side proceeded.
fn side(
    barrier: &Barrier,
    mine: &AtomicBool,
    theirs: &AtomicBool,
) -> Result<(usize, bool), BrokenBarrier> {
    mine.store(true, Ordering::SeqCst); // "preparing..."
    let index = barrier.wait()?;
    Ok((index, theirs.load(Ordering::SeqCst)))
}

#[test]
fn server_and_client_meet_then_proceed() -> Result<(), Box<dyn Error>> {
    let barrier = Arc::new(Barrier::new(2)?.timeout(Duration::from_secs(5)));
    let server_ready = Arc::new(AtomicBool::new(false));
    let client_ready = Arc::new(AtomicBool::new(false));

    let server = {
        let (b, mine, theirs) = (
            Arc::clone(&barrier),
            Arc::clone(&server_ready),
            Arc::clone(&client_ready),
        );
        spawn(move || side(&b, &mine, &theirs))
    };
    let client = {
        let (b, mine, theirs) = (
            Arc::clone(&barrier),
            Arc::clone(&client_ready),
            Arc::clone(&server_ready),
        );
        spawn(move || side(&b, &mine, &theirs))
    };

    let (server_index, server_saw_client) = server.recv_timeout(LONG)??;
    let (client_index, client_saw_server) = client.recv_timeout(LONG)??;
    assert!(
        server_saw_client,
        "the server proceeded before the client prepared"
    );
    assert!(
        client_saw_server,
        "the client proceeded before the server prepared"
    );
    assert_eq!(
        BTreeSet::from([server_index, client_index]),
        BTreeSet::from([0, 1])
    );
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    Ok(())
}

#[test]
fn server_times_out_when_client_never_comes() -> Result<(), Box<dyn Error>> {
    let timeout = Duration::from_millis(100);
    let barrier = Arc::new(Barrier::new(2)?.timeout(timeout));
    let b = Arc::clone(&barrier);
    let server = spawn(move || {
        let start = Instant::now();
        (b.wait(), start.elapsed())
    });
    let (result, waited) = server.recv_timeout(LONG)?;
    let err = result.expect_err("the server must not pass alone");
    assert_eq!(err.cause(), BreakCause::Timeout);
    assert!(err.is_timeout());
    assert!(
        waited + Duration::from_millis(10) >= timeout,
        "gave up early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "gave up late: {waited:?}");
    assert!(barrier.broken());
    // A client arriving late finds the barrier broken.
    assert_eq!(barrier.wait().unwrap_err().cause(), BreakCause::Timeout);
    Ok(())
}

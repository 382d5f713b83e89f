//! Python's exit rule for pools: a pool still alive when `weft::main`'s body returns (kept in a
//! `static`, leaked, or dropped by one of its own tasks) is shut down and waited for before the
//! program exits, as `concurrent.futures` does at the interpreter's exit: its queued work runs.

use std::sync::Weak;

use parking_lot::Mutex;

/// A pool's shared state, as the exit rule sees it.
pub(crate) trait AtExit: Send + Sync {
    /// Python's `shutdown(wait=True)` from the interpreter's exit: no more submits, the queued
    /// work runs, and this returns once the pool's threads have ended.
    fn shut_down_and_wait(&self);
}

struct Pools {
    /// Every pool made since the last exit, live or not (the dead are pruned as it grows).
    made: Vec<Weak<dyn AtExit>>,
    /// Whether [`shut_down_all`] is registered with `weft_thread::before_exit` (which runs it
    /// once).
    hooked: bool,
}

static POOLS: Mutex<Pools> = Mutex::new(Pools {
    made: Vec::new(),
    hooked: false,
});

/// Has `weft::main` shut `pool` down and wait for it before the program exits.
pub(crate) fn register(pool: Weak<dyn AtExit>) {
    let mut pools = POOLS.lock();
    if pools.made.len() == pools.made.capacity() {
        // Amortized: the list at most doubles between two prunings.
        pools.made.retain(|p| p.strong_count() > 0);
    }
    pools.made.push(pool);
    if !pools.hooked {
        pools.hooked = true;
        weft_thread::before_exit(shut_down_all);
    }
}

/// Shuts down and waits for every pool still alive, in the order they were made (the order in
/// which Python's exit joins them).
fn shut_down_all() {
    let made = {
        let mut pools = POOLS.lock();
        pools.hooked = false;
        std::mem::take(&mut pools.made)
    };
    for pool in made.iter().filter_map(Weak::upgrade) {
        pool.shut_down_and_wait();
    }
}

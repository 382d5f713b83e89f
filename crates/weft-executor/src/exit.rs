//! Python's exit rule for pools: a pool still alive when `weft::main`'s body returns (kept in a
//! `static`, leaked, or dropped by one of its own tasks) is shut down and waited for before the
//! program exits, as `concurrent.futures` does at the interpreter's exit: its queued work runs.

use std::collections::BTreeMap;
use std::sync::Weak;

use parking_lot::Mutex;

/// A pool's shared state, as the exit rule sees it.
pub(crate) trait AtExit: Send + Sync {
    /// Python's `shutdown(wait=True)` from the interpreter's exit: no more submits, the queued
    /// work runs, and this returns once the pool's threads have ended.
    fn shut_down_and_wait(&self);
}

struct Pools {
    /// The pools alive, by the order they were made in. A pool leaves when its shared state is
    /// dropped (its [`Registration`]), so nothing here outlives its pool.
    alive: BTreeMap<u64, Weak<dyn AtExit>>,
    next: u64,
    /// Whether [`shut_down_all`] is registered with `weft_thread::before_exit` (which runs it
    /// once).
    hooked: bool,
}

static POOLS: Mutex<Pools> = Mutex::new(Pools {
    alive: BTreeMap::new(),
    next: 0,
    hooked: false,
});

/// A pool's place among those the exit rule waits for; dropped with the pool's shared state,
/// it takes the pool out.
pub(crate) struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        // The `Weak` comes out under the lock and is dropped after: no pool's memory is freed
        // under it.
        let _pool = POOLS.lock().alive.remove(&self.0);
    }
}

/// Has `weft::main` shut `pool` down and wait for it before the program exits, until the
/// registration is dropped. Call it once the pool is made (its `Weak` upgrades): an entry that
/// does not upgrade is skipped by the exit and left out of any later one.
pub(crate) fn register(pool: Weak<dyn AtExit>) -> Registration {
    let mut pools = POOLS.lock();
    let id = pools.next;
    pools.next += 1;
    pools.alive.insert(id, pool);
    if !pools.hooked {
        pools.hooked = true;
        weft_thread::before_exit(shut_down_all);
    }
    Registration(id)
}

/// Shuts down and waits for every pool still alive, in the order they were made (the order in
/// which Python's exit joins them).
fn shut_down_all() {
    let alive = {
        let mut pools = POOLS.lock();
        pools.hooked = false;
        std::mem::take(&mut pools.alive)
    };
    for pool in alive.values().filter_map(Weak::upgrade) {
        pool.shut_down_and_wait();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{register, AtExit, Registration, POOLS};

    struct Dummy(Registration);

    impl AtExit for Dummy {
        fn shut_down_and_wait(&self) {}
    }

    fn dummy() -> Arc<Dummy> {
        Arc::new_cyclic(|me: &std::sync::Weak<Dummy>| Dummy(register(me.clone())))
    }

    fn registered(pool: &Dummy) -> bool {
        POOLS.lock().alive.contains_key(&pool.0 .0)
    }

    /// A pool is registered while alive and leaves with its last handle: pools made and dropped
    /// leave nothing behind (no entry, no memory), however many there were or are alive.
    #[test]
    fn a_pool_leaves_the_registry_when_dropped() {
        let kept: Vec<Arc<Dummy>> = (0..1000).map(|_| dummy()).collect();
        assert!(kept.iter().all(|p| registered(p)));
        let first = kept[0].0 .0;
        drop(kept);
        for _ in 0..10_000 {
            let pool = dummy();
            assert!(registered(&pool));
        }
        let pools = POOLS.lock();
        assert!(
            pools.alive.range(first..).next().is_none(),
            "{} entries left",
            pools.alive.range(first..).count()
        );
    }
}

//! Python's exit rule for pools: a pool still alive when `weft::main`'s body returns (kept in a
//! `static`, leaked, or dropped by one of its own tasks) is shut down and waited for before the
//! program exits, as `concurrent.futures` does at the interpreter's exit: its queued work runs.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

/// A pool's shared state, as the exit rule sees it.
pub(crate) trait AtExit: Send + Sync {
    /// Python's `shutdown(wait)` from the interpreter's exit: no more submits, and the queued
    /// work still runs; with `wait`, this returns once the pool's threads have ended.
    fn shut_down(&self, wait: bool);

    /// Where the pool keeps its [`Registration`] (set by [`register`]), so that the entry goes
    /// when the pool does.
    fn registration(&self) -> &OnceLock<Registration>;
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

/// Has `weft::main` shut `pool` down and wait for it before the program exits, for as long as
/// the pool lives. Called once the pool is made, not while it is (inside `Arc::new_cyclic`): an
/// exit reading the registry then would find no pool behind the entry and skip it for good.
pub(crate) fn register<P: AtExit + 'static>(pool: &Arc<P>) {
    let weak: Weak<dyn AtExit> = Arc::downgrade(pool) as _;
    let registration = {
        let mut pools = POOLS.lock();
        let id = pools.next;
        pools.next += 1;
        pools.alive.insert(id, weak);
        if !pools.hooked {
            pools.hooked = true;
            weft_thread::before_exit(shut_down_all);
        }
        Registration(id)
    };
    // After the lock: a second registration, refused here, takes it again as it drops.
    let _ = pool.registration().set(registration);
}

/// Shuts down every pool still alive, then waits for each in the order they were made (the
/// order in which Python's exit joins them). Submits were refused before this ran: `main` sets
/// `weft_thread::is_exiting` first, which every pool's submit reads under the lock that its
/// shutdown takes (Python's global `_shutdown` flag, read under `_global_shutdown_lock`). So no
/// pool takes work once another refused it, a pool made meanwhile takes none, and the shutdowns
/// below only let the workers drain and end.
fn shut_down_all() {
    let alive = {
        let mut pools = POOLS.lock();
        pools.hooked = false;
        std::mem::take(&mut pools.alive)
    };
    let alive: Vec<Arc<dyn AtExit>> = alive.values().filter_map(Weak::upgrade).collect();
    for pool in &alive {
        pool.shut_down(false);
    }
    for pool in &alive {
        pool.shut_down(true);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use super::{register, AtExit, Registration, POOLS};

    #[derive(Default)]
    struct Dummy(OnceLock<Registration>);

    impl AtExit for Dummy {
        fn shut_down(&self, _wait: bool) {}

        fn registration(&self) -> &OnceLock<Registration> {
            &self.0
        }
    }

    fn dummy() -> Arc<Dummy> {
        let pool = Arc::new(Dummy::default());
        register(&pool);
        pool
    }

    fn id(pool: &Dummy) -> u64 {
        pool.0.get().expect("registered").0
    }

    fn registered(pool: &Dummy) -> bool {
        POOLS.lock().alive.contains_key(&id(pool))
    }

    /// A pool is registered while alive and leaves with its last handle: pools made and dropped
    /// leave nothing behind (no entry, no memory), however many there were or are alive.
    #[test]
    fn a_pool_leaves_the_registry_when_dropped() {
        let kept: Vec<Arc<Dummy>> = (0..1000).map(|_| dummy()).collect();
        assert!(kept.iter().all(|p| registered(p)));
        let first = id(&kept[0]);
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

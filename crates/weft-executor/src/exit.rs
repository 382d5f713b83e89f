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

/// The fewest free places a pruning leaves, so that few pools alive do not prune at every few.
const MIN_ROOM: usize = 16;

impl Pools {
    /// Adds `pool` to `made`, pruning the dead first when `made` is full; returns whether it
    /// pruned. A pruning leaves at least as many free places as pools alive (and never fewer
    /// than [`MIN_ROOM`]), so the next one is that many additions away: each costs O(1)
    /// amortized, however many pools stay alive. It also gives back a capacity more than twice
    /// what that needs, which a past peak of pools left.
    fn add(&mut self, pool: Weak<dyn AtExit>) -> bool {
        let full = self.made.len() == self.made.capacity();
        if full {
            self.made.retain(|p| p.strong_count() > 0);
            let want = (2 * self.made.len()).max(MIN_ROOM);
            if self.made.capacity() > 2 * want {
                self.made.shrink_to(want);
            }
            self.made.reserve(want - self.made.len());
        }
        self.made.push(pool);
        full
    }
}

/// Has `weft::main` shut `pool` down and wait for it before the program exits.
pub(crate) fn register(pool: Weak<dyn AtExit>) {
    let mut pools = POOLS.lock();
    pools.add(pool);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{AtExit, Pools};

    struct Dummy;

    impl AtExit for Dummy {
        fn shut_down_and_wait(&self) {}
    }

    fn pools() -> Pools {
        Pools {
            made: Vec::new(),
            hooked: false,
        }
    }

    fn add(pools: &mut Pools, pool: &Arc<Dummy>) -> bool {
        let pool: Arc<dyn AtExit> = pool.clone();
        pools.add(Arc::downgrade(&pool))
    }

    /// Pools made and dropped one at a time beside many kept alive: a pruning (which looks at
    /// every entry) is rare, not one per pool, whatever the number alive.
    #[test]
    fn pruning_is_amortized_with_many_pools_alive() {
        for alive in [15, 16, 1000, 1023, 1024, 4095] {
            let mut pools = pools();
            let kept: Vec<Arc<Dummy>> = (0..alive).map(|_| Arc::new(Dummy)).collect();
            for p in &kept {
                add(&mut pools, p);
            }
            let churn = 4 * alive.max(16);
            let prunings = (0..churn)
                .filter(|_| add(&mut pools, &Arc::new(Dummy)))
                .count();
            // Each pruning leaves at least `alive` free places: at most one per `alive` pools.
            assert!(
                prunings <= churn / alive.max(16) + 1,
                "{alive} alive: {prunings} prunings for {churn} pools"
            );
            assert!(pools.made.len() <= 2 * alive + super::MIN_ROOM + 1);
        }
    }

    /// Once a peak of pools alive has gone, the next pruning gives the list's capacity back.
    #[test]
    fn a_past_peak_does_not_keep_its_capacity() {
        let mut pools = pools();
        let peak: Vec<Arc<Dummy>> = (0..10_000).map(|_| Arc::new(Dummy)).collect();
        for p in &peak {
            add(&mut pools, p);
        }
        drop(peak);
        while !add(&mut pools, &Arc::new(Dummy)) {}
        assert!(
            pools.made.capacity() <= 4 * super::MIN_ROOM,
            "{}",
            pools.made.capacity()
        );
    }
}

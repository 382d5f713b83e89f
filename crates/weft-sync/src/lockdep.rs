//! Deadlock detection (feature `deadlock-detection`): lock-order validation in the manner of the
//! Linux kernel's lockdep, and a live check of the wait-for graph.
//!
//! Every [`Lock`](crate::Lock), [`RLock`](crate::RLock) and [`Condition`](crate::Condition) has a
//! *class*: the source location that created it, or the name given to `named`. Locks created at
//! one place (in a loop, say) share it. Each blocking acquire made while the thread holds other
//! locks records the edges *held class → acquired class*, with where each was taken and by which
//! thread. The first edge that closes a cycle is reported at once — on the first run that merely
//! takes both orders, long before the run that hangs. An acquire that stays blocked longer than
//! the live threshold also follows the wait-for graph (which thread waits for a lock held by
//! which) and reports a deadlock that has really happened.
//!
//! What is not an edge: `try_acquire` (it cannot wait), re-entering an `RLock` the thread holds,
//! and the lock a `Condition` waits on (dropped from the held set while waiting). Two locks of
//! one class taken one inside the other are a cycle of that class with itself, unless the inner
//! one is taken with `acquire_nested(level)`, which makes `(class, level)` a class of its own.
//!
//! [`set_deadlock_policy`] chooses what a report does; [`set_deadlock_hook`] receives reports
//! for custom handling. Each distinct cycle is reported once; under the `Panic` policy, a thread
//! that waits for itself (a self-deadlock, also an `acquire_timeout`, which could only time out)
//! or is in a live deadlock panics every time it gets there.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What a deadlock report does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeadlockPolicy {
    /// Print the report to stderr (or give it to the hook), once per distinct cycle, and go on.
    #[default]
    Report,
    /// Give it to the hook if there is one, then panic in the thread that found it: for test
    /// suites, so the inversion fails the test that exercised it. A thread that waits for
    /// itself (a self-deadlock, also with a timeout, which could only expire) or is in a live
    /// deadlock panics every time, also for a cycle reported before, rather than hang the next
    /// test that gets there. Both threads of a live deadlock may panic.
    Panic,
    /// Record nothing, report nothing.
    Ignore,
}

/// What kind of problem a [`DeadlockReport`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Lock classes were taken in orders that form a cycle: threads running those paths at the
    /// same time can deadlock, even if this run did not.
    OrderCycle,
    /// Threads are blocked for real, each waiting for a lock another one in the cycle holds.
    Deadlock,
    /// A thread acquires a `Lock` it already holds: it waits for itself for ever.
    SelfDeadlock,
}

/// One step of a reported cycle: a thread that held `held` took (or waits for) `acquired`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleStep {
    /// The class of the lock the thread held.
    pub held: String,
    /// Where that lock was acquired.
    pub held_at: String,
    /// The class of the lock it then acquired or waited for.
    pub acquired: String,
    /// Where it acquired (or waits for) that lock.
    pub acquired_at: String,
    /// The thread's name (or its id, if it has no name).
    pub thread: String,
}

/// A deadlock found by the detector: the cycle, one step per edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlockReport {
    /// What was found.
    pub kind: ReportKind,
    /// The cycle: each step's `acquired` is the next step's `held`, and the last one's is the
    /// first one's.
    pub cycle: Vec<CycleStep>,
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = match self.kind {
            ReportKind::OrderCycle => "possible deadlock: lock order cycle",
            ReportKind::Deadlock => "deadlock: threads wait for each other",
            ReportKind::SelfDeadlock => "deadlock: a thread acquires a Lock it already holds",
        };
        writeln!(f, "weft deadlock detection: {title}")?;
        for step in &self.cycle {
            let verb = if self.kind == ReportKind::Deadlock {
                "waits for"
            } else {
                "then took"
            };
            writeln!(
                f,
                "  thread '{}' held {} (acquired at {}) and {verb} {} at {}",
                step.thread, step.held, step.held_at, step.acquired, step.acquired_at
            )?;
        }
        Ok(())
    }
}

const REPORT: u8 = 0;
const PANIC: u8 = 1;
const IGNORE: u8 = 2;
static POLICY: AtomicU8 = AtomicU8::new(REPORT);
static LIVE_THRESHOLD_MS: AtomicU64 = AtomicU64::new(1000);

type Hook = Arc<dyn Fn(&DeadlockReport) + Send + Sync>;
static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// Sets what a report does (default [`DeadlockPolicy::Report`]).
pub fn set_deadlock_policy(policy: DeadlockPolicy) {
    let value = match policy {
        DeadlockPolicy::Report => REPORT,
        DeadlockPolicy::Panic => PANIC,
        DeadlockPolicy::Ignore => IGNORE,
    };
    POLICY.store(value, Ordering::Relaxed);
}

/// The current policy.
pub fn deadlock_policy() -> DeadlockPolicy {
    match POLICY.load(Ordering::Relaxed) {
        PANIC => DeadlockPolicy::Panic,
        IGNORE => DeadlockPolicy::Ignore,
        _ => DeadlockPolicy::Report,
    }
}

/// Sends every report to `hook` instead of stderr (it still runs before a
/// [`Panic`](DeadlockPolicy::Panic)). Each distinct cycle reaches it once.
pub fn set_deadlock_hook(hook: impl Fn(&DeadlockReport) + Send + Sync + 'static) {
    *HOOK.lock() = Some(Arc::new(hook));
}

/// Removes the hook: reports go to stderr again.
pub fn clear_deadlock_hook() {
    *HOOK.lock() = None;
}

/// How long an acquire stays blocked before it checks the wait-for graph (default 1 s).
pub fn set_live_threshold(threshold: Duration) {
    let ms = u64::try_from(threshold.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    LIVE_THRESHOLD_MS.store(ms, Ordering::Relaxed);
}

pub(crate) fn live_threshold() -> Duration {
    Duration::from_millis(LIVE_THRESHOLD_MS.load(Ordering::Relaxed))
}

fn enabled() -> bool {
    POLICY.load(Ordering::Relaxed) != IGNORE
}

/// A lock's class and live state, stored in the lock.
#[derive(Debug)]
pub(crate) struct LockMeta {
    key: ClassKey,
    /// The interned class id, 0 until the first acquire.
    id: AtomicU32,
    /// The id of the thread holding the lock (0: none), for the wait-for graph.
    owner: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClassKey {
    Site(&'static Location<'static>),
    Name(&'static str),
}

impl fmt::Display for ClassKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Site(at) => write!(f, "the lock created at {at}"),
            Self::Name(name) => write!(f, "'{name}'"),
        }
    }
}

impl LockMeta {
    #[track_caller]
    pub(crate) const fn new() -> Self {
        Self::with_key(ClassKey::Site(Location::caller()))
    }

    pub(crate) const fn named(name: &'static str) -> Self {
        Self::with_key(ClassKey::Name(name))
    }

    const fn with_key(key: ClassKey) -> Self {
        Self {
            key,
            id: AtomicU32::new(0),
            owner: AtomicU64::new(0),
        }
    }

    /// The class id for nesting level `level` (0: the lock's own class).
    #[inline]
    fn class(&self, level: u32) -> u32 {
        let id = self.id.load(Ordering::Relaxed);
        if level == 0 && id != 0 {
            return id;
        }
        self.intern(level)
    }

    #[cold]
    fn intern(&self, level: u32) -> u32 {
        let id = GRAPH.lock().intern(self.key, level);
        if level == 0 {
            self.id.store(id, Ordering::Relaxed);
        }
        id
    }
}

/// A lock this thread holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    addr: usize,
    class: u32,
    at: &'static Location<'static>,
}

/// A multiply-shift hasher for the per-thread edge cache (keys are pairs of small ids).
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        // The table picks buckets by the low bits: fold the high bits (both ids) into them.
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The rest of a thread's record, touched only when it holds other locks or waits.
struct ThreadState {
    /// The wait-for cycle this thread found at its last check, to confirm it at the next.
    last_cycle: Option<Vec<u64>>,
    /// Held locks past the first [`INLINE`] (rare).
    overflow: Overflow,
    /// Edges this thread already recorded: the common case costs no global lock.
    known: Option<HashSet<u64, BuildHasherDefault<PairHasher>>>,
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

/// How many held locks a thread keeps in its plain cells before the overflow list.
const INLINE: usize = 16;

/// The locks a thread holds, in the order taken: plain cells with no destructor, so the common
/// acquire and release touch them without a borrow flag or a lazy-initialization check.
struct HeldStack {
    len: Cell<usize>,
    slots: [Cell<Held>; INLINE],
    /// This thread's id for the wait-for graph (0 until first needed).
    id: Cell<u64>,
}

const NO_HELD: Held = Held {
    addr: 0,
    class: 0,
    at: Location::caller(),
};

impl HeldStack {
    fn id(&self) -> u64 {
        if self.id.get() == 0 {
            self.id.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        self.id.get()
    }
}

thread_local! {
    static HELD: HeldStack = const {
        HeldStack {
            len: Cell::new(0),
            slots: [const { Cell::new(NO_HELD) }; INLINE],
            id: Cell::new(0),
        }
    };
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState { last_cycle: None, overflow: Overflow::new(), known: None })
    };
}

/// The held locks past the first [`INLINE`], oldest first, indexed by address and by class: a
/// thread that holds thousands of locks takes, finds and releases each in O(log n), in any
/// order, and a blocking acquire or a `Condition` wait records its edges from each class held,
/// not each lock. (A scan of the whole set per take, release, blocking acquire and wait made
/// holding n locks cost O(n²): 86 ms to release 8 000, 198 ms to take them blocking.)
struct Overflow {
    /// The next sequence number: the order the entries were taken in.
    next: u64,
    entries: BTreeMap<u64, Held>,
    /// The sequence numbers of each address's entries, oldest first (an `RLock` re-entered has
    /// several).
    by_addr: BTreeMap<usize, VecDeque<u64>>,
    /// The sequence numbers of each class's entries.
    by_class: BTreeMap<u32, BTreeSet<u64>>,
}

impl Overflow {
    const fn new() -> Self {
        Overflow {
            next: 0,
            entries: BTreeMap::new(),
            by_addr: BTreeMap::new(),
            by_class: BTreeMap::new(),
        }
    }

    fn push(&mut self, held: Held) {
        let seq = self.next;
        self.next += 1;
        self.entries.insert(seq, held);
        self.by_addr.entry(held.addr).or_default().push_back(seq);
        self.by_class.entry(held.class).or_default().insert(seq);
    }

    /// Forgets the class index's entry `seq` of `held`.
    fn unindex_class(&mut self, seq: u64, held: &Held) {
        if let Some(seqs) = self.by_class.get_mut(&held.class) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.by_class.remove(&held.class);
            }
        }
    }

    /// The oldest entry of each class that is not for the lock at `except`, oldest first.
    fn oldest_of_each_class(&self, except: Option<usize>) -> impl Iterator<Item = Held> + '_ {
        let other = |seq: &&u64| {
            self.entries
                .get(*seq)
                .is_some_and(|h| Some(h.addr) != except)
        };
        let mut firsts: Vec<u64> = self
            .by_class
            .values()
            .filter_map(|seqs| seqs.iter().find(other).copied())
            .collect();
        firsts.sort_unstable();
        firsts
            .into_iter()
            .filter_map(|seq| self.entries.get(&seq).copied())
    }

    fn contains(&self, addr: usize) -> bool {
        self.by_addr.contains_key(&addr)
    }

    /// Removes the newest entry for `addr`.
    fn remove_newest(&mut self, addr: usize) -> Option<Held> {
        let seqs = self.by_addr.get_mut(&addr)?;
        let seq = seqs.pop_back()?;
        if seqs.is_empty() {
            self.by_addr.remove(&addr);
        }
        let held = self.entries.remove(&seq)?;
        self.unindex_class(seq, &held);
        Some(held)
    }

    /// Removes the oldest entry.
    fn pop_oldest(&mut self) -> Option<Held> {
        let (seq, held) = self.entries.pop_first()?;
        if let Some(seqs) = self.by_addr.get_mut(&held.addr) {
            // The oldest entry of all is its address's oldest.
            debug_assert_eq!(seqs.front(), Some(&seq));
            seqs.pop_front();
            if seqs.is_empty() {
                self.by_addr.remove(&held.addr);
            }
        }
        self.unindex_class(seq, &held);
        Some(held)
    }

    fn iter(&self) -> impl Iterator<Item = &Held> {
        self.entries.values()
    }

    /// The newest entry for `addr`.
    fn newest(&self, addr: usize) -> Option<Held> {
        let seq = self.by_addr.get(&addr)?.back()?;
        self.entries.get(seq).copied()
    }
}

/// This thread's held locks, oldest first.
fn held_all() -> Vec<Held> {
    let mut out: Vec<Held> = HELD
        .try_with(|h| {
            h.slots[..h.len.get().min(INLINE)]
                .iter()
                .map(Cell::get)
                .collect()
        })
        .unwrap_or_default();
    if out.len() == INLINE {
        let _ = STATE.try_with(|s| out.extend(s.borrow().overflow.iter().copied()));
    }
    out
}

/// This thread's id for the wait-for graph.
fn thread_id() -> u64 {
    HELD.try_with(HeldStack::id).unwrap_or(0)
}

/// Records that this thread now holds `held`, and owns the lock of `meta`.
fn held_push(meta: &LockMeta, held: Held) {
    let _ = HELD.try_with(|h| {
        let len = h.len.get();
        if len < INLINE {
            h.slots[len].set(held);
        } else {
            let _ = STATE.try_with(|s| s.borrow_mut().overflow.push(held));
        }
        h.len.set(len + 1);
        meta.owner.store(h.id(), Ordering::Relaxed);
    });
}

/// Removes the most recent entry for `addr`, if any: from the overflow if it has one there (it
/// is newer than the cells), else from the cells, which then take the oldest overflow entry.
fn held_remove(addr: usize) -> Option<Held> {
    HELD.try_with(|h| {
        let len = h.len.get();
        if len > INLINE {
            let removed = STATE
                .try_with(|s| s.borrow_mut().overflow.remove_newest(addr))
                .ok()
                .flatten();
            if removed.is_some() {
                h.len.set(len - 1);
                return removed;
            }
        }
        let cells = &h.slots[..len.min(INLINE)];
        let i = cells.iter().rposition(|c| c.get().addr == addr)?;
        let removed = cells[i].get();
        for j in i..cells.len() - 1 {
            cells[j].set(cells[j + 1].get());
        }
        if len > INLINE {
            let moved = STATE
                .try_with(|s| s.borrow_mut().overflow.pop_oldest())
                .ok()
                .flatten();
            cells[INLINE - 1].set(moved.unwrap_or(NO_HELD));
        }
        h.len.set(len - 1);
        Some(removed)
    })
    .ok()
    .flatten()
}

fn thread_name() -> String {
    let t = std::thread::current();
    t.name()
        .map_or_else(|| format!("{:?}", t.id()), str::to_owned)
}

/// What a blocked acquire publishes in the wait-for graph: the class it waits for, and where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    class: u32,
    at: &'static Location<'static>,
}

/// The edge key of `held -> class` in a thread's cache of known edges.
fn edge_key(held: u32, class: u32) -> u64 {
    (u64::from(held) << 32) | u64::from(class)
}

/// The common case, after the lock was found free: no other lock held, or only edges this
/// thread has recorded before, and no entry for this lock's address. Then there is nothing to
/// record but the hold, done in one visit of the thread's state. `false`: something must be
/// recorded first (nothing was changed).
#[inline(always)]
fn hold_if_quiet(meta: &LockMeta, addr: usize, class: u32, at: &'static Location<'static>) -> bool {
    HELD.try_with(|h| {
        let len = h.len.get();
        if len >= INLINE || (len > 0 && !edges_known(&h.slots[..len], addr, class)) {
            return false;
        }
        h.slots[len].set(Held { addr, class, at });
        h.len.set(len + 1);
        meta.owner.store(h.id(), Ordering::Relaxed);
        true
    })
    .unwrap_or(false)
}

/// Whether every edge from the `held` locks to `class` is already recorded by this thread, and
/// none of them is the lock at `addr`.
#[inline(never)]
fn edges_known(held: &[Cell<Held>], addr: usize, class: u32) -> bool {
    STATE
        .try_with(|s| {
            let s = s.borrow();
            let Some(known) = &s.known else { return false };
            held.iter()
                .map(Cell::get)
                .all(|h| h.addr != addr && known.contains(&edge_key(h.class, class)))
        })
        .unwrap_or(false)
}

/// Records that this thread now holds the lock at `addr`.
fn push_hold(meta: &LockMeta, addr: usize, class: u32, at: &'static Location<'static>) {
    if !owned_here(meta) && has_entry(addr) {
        // Just taken, and not re-entered: an entry for it is stale (see `lock_slow`), and would
        // keep the owner set after the release.
        drop_stale(addr);
    }
    held_push(meta, Held { addr, class, at });
}

/// Records the edges from every lock this thread holds to `class` (acquired at `at`), all into
/// the graph first, then delivers the cycles they close: a report that panics (the Panic policy,
/// a panicking hook) loses no edge, and this thread holds nothing new while reports run.
fn record_edges(class: u32, at: &'static Location<'static>) {
    record_edges_from(held_edge_sources(None), class, at);
}

/// The held locks an acquire records its edges from, oldest first: those in the cells, then
/// the oldest overflow entry of each class (an edge is per class, and the oldest entry of a
/// class is the one whose edge `record_edges_from` keeps), so that a thread holding thousands
/// of locks of a few classes records them in O(classes), not O(locks). Without the entries for
/// the lock at `except`, if given.
fn held_edge_sources(except: Option<usize>) -> Vec<Held> {
    let (mut out, full) = HELD
        .try_with(|h| {
            let cells = &h.slots[..h.len.get().min(INLINE)];
            let out: Vec<Held> = cells
                .iter()
                .map(Cell::get)
                .filter(|h| Some(h.addr) != except)
                .collect();
            (out, cells.len() == INLINE)
        })
        .unwrap_or_default();
    if full {
        let _ = STATE.try_with(|s| out.extend(s.borrow().overflow.oldest_of_each_class(except)));
    }
    out
}

/// [`record_edges`] from the locks in `held`.
fn record_edges_from(held: Vec<Held>, class: u32, at: &'static Location<'static>) {
    if held.is_empty() {
        return;
    }
    let mut new_edges: Vec<Held> = Vec::new();
    let _ = STATE.try_with(|s| {
        let mut s = s.borrow_mut();
        let known = s.known.get_or_insert_with(HashSet::default);
        for h in held {
            if known.insert(edge_key(h.class, class)) {
                new_edges.push(h);
            }
        }
    });
    if new_edges.is_empty() {
        return;
    }
    let found: Vec<_> = {
        let mut graph = GRAPH.lock();
        new_edges
            .into_iter()
            .filter_map(|h| graph.add_edge(h, class, at))
            .collect()
    };
    for (report, key) in found {
        deliver(report, key);
    }
}

/// The entry of this thread for the lock at `addr`, if it holds it.
fn held_entry(addr: usize) -> Option<Held> {
    HELD.try_with(|h| {
        let len = h.len.get();
        let newest = (len > INLINE)
            .then(|| {
                STATE
                    .try_with(|s| s.borrow().overflow.newest(addr))
                    .ok()
                    .flatten()
            })
            .flatten();
        newest.or_else(|| {
            h.slots[..len.min(INLINE)]
                .iter()
                .rev()
                .map(Cell::get)
                .find(|h| h.addr == addr)
        })
    })
    .ok()
    .flatten()
}

/// Whether this thread has an entry for `addr` (as `held_entry`, without collecting the set).
fn has_entry(addr: usize) -> bool {
    HELD.try_with(|h| {
        let len = h.len.get();
        h.slots[..len.min(INLINE)]
            .iter()
            .any(|c| c.get().addr == addr)
            || (len > INLINE
                && STATE
                    .try_with(|s| s.borrow().overflow.contains(addr))
                    .unwrap_or(false))
    })
    .unwrap_or(false)
}

/// Removes this thread's entry for `addr`: left by a guard that was forgotten, whose lock was
/// freed and another one made at the same address.
fn drop_stale(addr: usize) {
    let _ = held_remove(addr);
}

/// Whether this thread holds the lock of `meta`: it set the owner when it took the lock, and no
/// other thread can have set it since. A lock new at the address of a stale entry has another
/// owner, or none.
fn owned_here(meta: &LockMeta) -> bool {
    meta.owner.load(Ordering::Relaxed) == thread_id()
}

/// Records a `try_acquire` that succeeded: held, no edge (it could not have waited).
pub(crate) fn try_acquired(meta: &LockMeta, addr: usize, at: &'static Location<'static>) -> bool {
    if !enabled() {
        return false;
    }
    let class = meta.class(0);
    push_hold(meta, addr, class, at);
    true
}

/// Records the release of the lock at `addr`.
#[inline(always)]
pub(crate) fn released(meta: &LockMeta, addr: usize) {
    // The common case inline: the last lock taken is released first, and no other entry (an
    // RLock's re-entry) is for the same lock.
    let done = HELD
        .try_with(|h| {
            let len = h.len.get();
            if len == 0 || len > INLINE || h.slots[len - 1].get().addr != addr {
                return false;
            }
            h.len.set(len - 1);
            if !h.slots[..len - 1].iter().any(|c| c.get().addr == addr) {
                meta.owner.store(0, Ordering::Relaxed);
            }
            true
        })
        .unwrap_or(true);
    if !done {
        release_other(meta, addr);
    }
}

#[inline(never)]
fn release_other(meta: &LockMeta, addr: usize) {
    let _ = held_remove(addr);
    if !has_entry(addr) {
        meta.owner.store(0, Ordering::Relaxed);
    }
}

/// A thread blocked past the live threshold.
#[derive(Debug, Clone)]
struct Waiting {
    owner: u64,
    class: u32,
    at: &'static Location<'static>,
    thread: String,
    /// The lock this thread holds that the others wait for, if known: its class and site.
    holds: Vec<Held>,
}

static WAITING: Mutex<Vec<(u64, Waiting)>> = Mutex::new(Vec::new());

/// Called by an acquire blocked for longer than the live threshold: publishes what this thread
/// waits for and follows the wait-for graph; reports a cycle through this thread.
pub(crate) fn still_blocked(meta: &LockMeta, ticket: Ticket) {
    let (me, holds) = (thread_id(), held_all());
    let owner = meta.owner.load(Ordering::Relaxed);
    if owner == me {
        // Waiting for itself: reported as a self-deadlock before it started waiting.
        return;
    }
    let entry = Waiting {
        owner,
        class: ticket.class,
        at: ticket.at,
        thread: thread_name(),
        holds,
    };
    let cycle = {
        let mut waiting = WAITING.lock();
        match waiting.iter_mut().find(|(t, _)| *t == me) {
            Some((_, w)) => *w = entry,
            None => waiting.push((me, entry)),
        }
        // Follow waiter -> owner of what it waits for, until we come back or the chain ends.
        let mut path = vec![me];
        let mut cur = owner;
        loop {
            if cur == me {
                break Some(path);
            }
            if cur == 0 || path.contains(&cur) || path.len() > waiting.len() {
                break None;
            }
            match waiting.iter().find(|(t, _)| *t == cur) {
                Some((t, w)) => {
                    path.push(*t);
                    cur = w.owner;
                }
                None => break None,
            }
        }
        .map(|path| {
            path.iter()
                .filter_map(|t| {
                    waiting
                        .iter()
                        .find(|(id, _)| id == t)
                        .map(|(_, w)| w.clone())
                })
                .collect::<Vec<_>>()
        })
    };
    // The graph is made of snapshots taken up to one threshold apart: report a cycle only when
    // this thread finds the same one on two checks in a row.
    let key_of = |c: &Vec<Waiting>| {
        let mut key: Vec<u64> = c.iter().map(|w| u64::from(w.class) | (1 << 63)).collect();
        key.sort_unstable();
        key
    };
    let confirmed = STATE
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let seen = cycle.as_ref().map(key_of);
            let again = seen.is_some() && s.last_cycle == seen;
            s.last_cycle = seen;
            again
        })
        .unwrap_or(false);
    let Some(cycle) = cycle.filter(|_| confirmed) else {
        return;
    };
    let graph = GRAPH.lock();
    let n = cycle.len();
    let mut steps = Vec::new();
    for (i, w) in cycle.iter().enumerate() {
        // The lock this thread holds that the previous one in the cycle waits for.
        let wanted_by_prev = cycle[(i + n - 1) % n].class;
        let held = w
            .holds
            .iter()
            .find(|h| h.class == wanted_by_prev)
            .or(w.holds.last())
            .copied();
        steps.push(CycleStep {
            held: held.map_or_else(|| "?".into(), |h| graph.name(h.class)),
            held_at: held.map_or_else(|| "?".into(), |h| h.at.to_string()),
            acquired: graph.name(w.class),
            acquired_at: w.at.to_string(),
            thread: w.thread.clone(),
        });
    }
    drop(graph);
    let mut key: Vec<u64> = cycle
        .iter()
        .map(|w| u64::from(w.class) | (1 << 63))
        .collect();
    key.sort_unstable();
    deliver(
        DeadlockReport {
            kind: ReportKind::Deadlock,
            cycle: steps,
        },
        key,
    );
}

/// Called when a blocked acquire ends (acquired or timed out).
pub(crate) fn not_blocked() {
    let _ = STATE.try_with(|s| s.borrow_mut().last_cycle = None);
    if let Ok(me) = HELD.try_with(HeldStack::id) {
        WAITING.lock().retain(|(t, _)| *t != me);
    }
}

/// Takes `lock` out of this thread's held set while a Condition waits on it (the wait called at
/// `at`); puts it back after.
///
/// The wait takes the lock again while this thread may hold others: those orders are edges,
/// recorded (and the cycles they close reported) before it parks, as an acquire records its
/// edges before it waits. The re-take itself is not live-checked (a notified waiter cannot be
/// told from one still waiting for a notify), so an inversion through it is reported here,
/// before it can hang.
pub(crate) fn condition_wait<R>(
    dep: &Dep<'_>,
    at: &'static Location<'static>,
    wait: impl FnOnce() -> R,
) -> R {
    let (meta, addr, tracked) = dep.parts();
    if !tracked {
        return wait();
    }
    if enabled() {
        if let Some(own) = held_entry(addr) {
            record_edges_from(held_edge_sources(Some(addr)), own.class, at);
        }
    }
    let removed = held_remove(addr);
    if removed.is_some() {
        meta.owner.store(0, Ordering::Relaxed);
    }
    let result = wait();
    if let Some(held) = removed {
        push_hold(meta, addr, held.class, held.at);
    }
    result
}

fn step(
    graph: &Graph,
    held: Held,
    class: u32,
    at: &'static Location<'static>,
    thread: String,
) -> CycleStep {
    CycleStep {
        held: graph.name(held.class),
        held_at: held.at.to_string(),
        acquired: graph.name(class),
        acquired_at: at.to_string(),
        thread,
    }
}

/// Where and by whom an edge was first made.
#[derive(Debug, Clone)]
struct Edge {
    to: u32,
    held_at: &'static Location<'static>,
    acquired_at: &'static Location<'static>,
    thread: String,
}

#[derive(Default)]
struct Graph {
    names: Vec<String>,
    index: HashMap<(ClassKey, u32), u32>,
    edges: HashMap<u32, Vec<Edge>>,
}

static GRAPH: LazyLock<Mutex<Graph>> = LazyLock::new(Mutex::default);

impl Graph {
    fn intern(&mut self, key: ClassKey, level: u32) -> u32 {
        if let Some(&id) = self.index.get(&(key, level)) {
            return id;
        }
        let name = if level == 0 {
            key.to_string()
        } else {
            format!("{key} (nesting level {level})")
        };
        self.names.push(name);
        // Ids start at 1 (0 means "not interned yet"); past u32::MAX classes, the last id is
        // shared, which can only merge classes, never crash.
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.index.insert((key, level), id);
        id
    }

    fn name(&self, id: u32) -> String {
        self.names
            .get((id as usize).wrapping_sub(1))
            .cloned()
            .unwrap_or_else(|| format!("class {id}"))
    }

    /// Adds `held -> class`; if it closes a cycle, the report and the cycle's identity.
    fn add_edge(
        &mut self,
        held: Held,
        class: u32,
        at: &'static Location<'static>,
    ) -> Option<(DeadlockReport, Vec<u64>)> {
        let from = held.class;
        let list = self.edges.entry(from).or_default();
        if list.iter().any(|e| e.to == class) {
            return None;
        }
        list.push(Edge {
            to: class,
            held_at: held.at,
            acquired_at: at,
            thread: thread_name(),
        });
        // A path back from `class` to `from` closes a cycle.
        let path = if class == from {
            Some(vec![])
        } else {
            self.path(class, from)
        };
        let path = path?;
        let mut edges = vec![(from, class)];
        let mut prev = class;
        for next in path {
            edges.push((prev, next));
            prev = next;
        }
        let cycle = edges
            .iter()
            .filter_map(|&(a, b)| {
                let e = self.edges.get(&a)?.iter().find(|e| e.to == b)?;
                Some(CycleStep {
                    held: self.name(a),
                    held_at: e.held_at.to_string(),
                    acquired: self.name(b),
                    acquired_at: e.acquired_at.to_string(),
                    thread: e.thread.clone(),
                })
            })
            .collect();
        let mut key: Vec<u64> = edges
            .iter()
            .map(|&(a, b)| (u64::from(a) << 32) | u64::from(b))
            .collect();
        key.sort_unstable();
        Some((
            DeadlockReport {
                kind: ReportKind::OrderCycle,
                cycle,
            },
            key,
        ))
    }

    /// The classes after `from` on a path of edges to `to` (ending with `to`), if any.
    fn path(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        let mut parent: HashMap<u32, u32> = HashMap::new();
        let mut stack = vec![from];
        let mut seen = HashSet::from([from]);
        while let Some(node) = stack.pop() {
            for e in self.edges.get(&node).into_iter().flatten() {
                if !seen.insert(e.to) {
                    continue;
                }
                parent.insert(e.to, node);
                if e.to == to {
                    let mut path = vec![to];
                    let mut cur = to;
                    while let Some(&p) = parent.get(&cur) {
                        if p == from {
                            break;
                        }
                        path.push(p);
                        cur = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                stack.push(e.to);
            }
        }
        None
    }
}

static REPORTED: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());

/// Reports once per distinct cycle, as the policy says. Under [`DeadlockPolicy::Panic`], a
/// thread that would wait for ever (a self-deadlock, or a live deadlock) panics every time, even
/// when the same cycle was reported before: the second test hitting it must fail, not hang.
fn deliver(report: DeadlockReport, key: Vec<u64>) {
    // `Ignore` set while this was found: it reports nothing.
    if !enabled() {
        return;
    }
    let first = {
        let mut reported = REPORTED.lock();
        let first = !reported.contains(&key);
        if first {
            reported.push(key);
        }
        first
    };
    if !first && report.kind == ReportKind::OrderCycle {
        return;
    }
    if first {
        let hook = HOOK.lock().clone();
        match &hook {
            Some(hook) => hook(&report),
            None if deadlock_policy() == DeadlockPolicy::Report => {
                // A closed stderr must not turn a report into a panic.
                use std::io::Write;
                let _ = write!(std::io::stderr().lock(), "{report}");
            }
            None => {}
        }
    }
    // Panicking while already unwinding would abort the process.
    if deadlock_policy() == DeadlockPolicy::Panic && !std::thread::panicking() {
        panic!("{report}");
    }
}

/// Keeps a held lock in its thread's held set until dropped (it lives in the guard, declared
/// before the lock's own guard so the record goes first).
#[derive(Debug)]
pub(crate) struct Dep<'a> {
    meta: &'a LockMeta,
    addr: usize,
    tracked: bool,
    /// A guard must be released by the thread that holds it (its held set is per thread),
    /// whatever the lock's guard says: not `Send`, still `Sync`.
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl<'a> Dep<'a> {
    /// The lock's meta and address, for a Condition wait.
    pub(crate) fn parts(&self) -> (&'a LockMeta, usize, bool) {
        (self.meta, self.addr, self.tracked)
    }
}

impl Drop for Dep<'_> {
    fn drop(&mut self) {
        if self.tracked {
            released(self.meta, self.addr);
        }
    }
}

/// The lock being acquired, and where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Acquire<'a> {
    pub(crate) meta: &'a LockMeta,
    pub(crate) addr: usize,
    pub(crate) level: u32,
    pub(crate) reentrant: bool,
    pub(crate) at: &'static Location<'static>,
}

impl<'a> Acquire<'a> {
    /// A hold the detector does not know about (the lock's own fallback path).
    pub(crate) fn untracked(self) -> Dep<'a> {
        Dep {
            meta: self.meta,
            addr: self.addr,
            tracked: false,
            _not_send: PhantomData,
        }
    }
}

/// An acquire with detection, waiting at most `timeout` (`None`: for ever; then it returns
/// `Some`). The common case is one visit of the thread's state and `try_now` (no clock read).
/// Otherwise the new order edges are recorded and reported *before* the lock is taken, so a
/// report (or a hook that takes locks itself) never runs while this thread holds the new lock;
/// then it waits with `try_for`, checking the wait-for graph every live threshold.
#[inline(always)]
pub(crate) fn lock<'a, G>(
    a: Acquire<'a>,
    timeout: Option<Duration>,
    try_now: impl FnOnce() -> Option<G>,
    try_for: impl Fn(Duration) -> Option<G>,
) -> Option<(G, Dep<'a>)> {
    if enabled() && timeout != Some(Duration::ZERO) {
        let class = a.meta.class(a.level);
        let Some(guard) = try_now() else {
            return lock_slow(a, timeout, None::<fn() -> Option<G>>, try_for);
        };
        if hold_if_quiet(a.meta, a.addr, class, a.at) {
            let tracked = Dep {
                meta: a.meta,
                addr: a.addr,
                tracked: true,
                _not_send: PhantomData,
            };
            return Some((guard, tracked));
        }
        // Something to record first (a new edge, an entry at this address): let the lock go,
        // so reports never run holding it, then record and take it again.
        drop(guard);
        return lock_slow(a, timeout, None::<fn() -> Option<G>>, try_for);
    }
    lock_slow(a, timeout, Some(try_now), try_for)
}

/// Everything but the common case: detection off, a zero timeout, something to record first,
/// or a busy lock. Without `try_now`, the first try is `try_for(0)`.
#[inline(never)]
fn lock_slow<'a, G>(
    a: Acquire<'a>,
    timeout: Option<Duration>,
    try_now: Option<impl FnOnce() -> Option<G>>,
    try_for: impl Fn(Duration) -> Option<G>,
) -> Option<(G, Dep<'a>)> {
    let Acquire {
        meta,
        addr,
        level,
        reentrant,
        at,
    } = a;
    // Made only with the guard: a `Dep` dropped by a report's panic would release the lock's
    // record (and the record of a thread already holding it).
    let dep = |tracked| Dep {
        meta,
        addr,
        tracked,
        _not_send: PhantomData,
    };
    let mut try_now = try_now;
    let mut attempt = || match try_now.take() {
        Some(f) => f(),
        None => try_for(Duration::ZERO),
    };
    if !enabled() {
        let guard = match attempt() {
            Some(g) => g,
            None => wait_for_lock(timeout, None, &try_for)?,
        };
        return Some((guard, dep(false)));
    }
    let class = meta.class(level);
    // A zero timeout is a try: it cannot wait, so it is no edge.
    if timeout == Some(Duration::ZERO) {
        let guard = attempt()?;
        push_hold(meta, addr, class, at);
        return Some((guard, dep(true)));
    }
    let ticket = Ticket { class, at };
    let mut entry = held_entry(addr);
    if entry.is_some() && !owned_here(meta) {
        // Stale: left by a forgotten guard of a lock since freed, whose address this one took
        // (held by another thread, or by nobody). Not a self-deadlock: wait as for any lock.
        drop_stale(addr);
        entry = None;
    }
    match entry {
        Some(_) if reentrant => {
            // RLock re-entry: no edge; the lock is ours, so this cannot wait.
            if let Some(guard) = attempt() {
                push_hold(meta, addr, class, at);
                return Some((guard, dep(true)));
            }
        }
        Some(held) => match attempt() {
            // Free after all: the entry was stale (a forgotten guard); replace it.
            Some(guard) => {
                drop_stale(addr);
                push_hold(meta, addr, class, at);
                return Some((guard, dep(true)));
            }
            // A Lock taken again by its holder: it would wait for itself.
            None => {
                let step = step(&GRAPH.lock(), held, class, at, thread_name());
                let report = DeadlockReport {
                    kind: ReportKind::SelfDeadlock,
                    cycle: vec![step],
                };
                deliver(report, vec![u64::from(class)]);
            }
        },
        None => {
            record_edges(class, at);
            if let Some(guard) = attempt() {
                push_hold(meta, addr, class, at);
                return Some((guard, dep(true)));
            }
        }
    }
    let guard = wait_for_lock(timeout, Some((meta, ticket)), &try_for)?;
    push_hold(meta, addr, class, at);
    Some((guard, dep(true)))
}

/// Waits for a busy lock with `try_for` until `timeout` (`None` or out of the clock's range: for
/// ever), checking the wait-for graph every live threshold when `check` is given.
fn wait_for_lock<G>(
    timeout: Option<Duration>,
    check: Option<(&LockMeta, Ticket)>,
    try_for: &impl Fn(Duration) -> Option<G>,
) -> Option<G> {
    /// Takes this thread off the wait-for graph however the wait ends, unwinding included.
    struct Unblock;
    impl Drop for Unblock {
        fn drop(&mut self) {
            not_blocked();
        }
    }
    let _unblock = Unblock;
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let forever = deadline.is_none();
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(live_threshold()),
            None => live_threshold(),
        };
        if let Some(g) = try_for(slice) {
            return Some(g);
        }
        if !forever && deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        if let Some((meta, ticket)) = check {
            still_blocked(meta, ticket);
        }
    }
}

/// A `try_acquire` that succeeded: held, no edge.
pub(crate) fn lock_tried<'a>(
    meta: &'a LockMeta,
    addr: usize,
    at: &'static Location<'static>,
) -> Dep<'a> {
    let tracked = try_acquired(meta, addr, at);
    Dep {
        meta,
        addr,
        tracked,
        _not_send: PhantomData,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded xorshift: the sequences are the same on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn key(h: &Held) -> (usize, u32, String) {
        (h.addr, h.class, h.at.to_string())
    }

    /// The first held entry of each class, in held order: the edges an acquire records.
    fn first_of_each_class(held: impl IntoIterator<Item = Held>) -> Vec<(usize, u32, String)> {
        let mut seen = HashSet::new();
        held.into_iter()
            .filter(|h| seen.insert(h.class))
            .map(|h| key(&h))
            .collect()
    }

    /// The held set (cells, then the indexed overflow) against a plain list, oldest first, under
    /// random takes (re-entries included) and releases of any entry, holding 0 to 60 locks:
    /// the same entries in the same order, the same newest entry per address, and the same
    /// edge sources by class (with and without a lock left out, as a `Condition` wait does).
    #[test]
    fn the_held_set_is_the_list_of_locks_taken_in_order() {
        let sites = [Location::caller(), Location::caller(), Location::caller()];
        std::thread::spawn(move || {
            let meta: &'static LockMeta = Box::leak(Box::new(LockMeta::named("model")));
            let mut rng = Rng(0x2545_F491_4F6C_DD1D);
            let mut model: Vec<Held> = Vec::new();
            let mut target = 30;
            let steps = if cfg!(miri) { 1_000 } else { 20_000 };
            for _ in 0..steps {
                if rng.below(50) == 0 {
                    target = rng.below(61) as usize;
                }
                let addr = 1 + rng.below(40) as usize;
                if model.len() < target || (model.len() < 60 && rng.below(4) == 0) {
                    let held = Held {
                        addr,
                        class: 1 + rng.below(5) as u32,
                        at: sites[rng.below(3) as usize],
                    };
                    held_push(meta, held);
                    model.push(held);
                } else {
                    let removed = held_remove(addr).map(|h| key(&h));
                    let i = model.iter().rposition(|h| h.addr == addr);
                    assert_eq!(removed, i.map(|i| key(&model.remove(i))));
                }
                let all: Vec<_> = held_all().iter().map(key).collect();
                let want: Vec<_> = model.iter().map(key).collect();
                assert_eq!(all, want);
                let probe = 1 + rng.below(40) as usize;
                let newest = model.iter().rev().find(|h| h.addr == probe);
                assert_eq!(held_entry(probe).map(|h| key(&h)), newest.map(key));
                assert_eq!(has_entry(probe), newest.is_some());
                assert_eq!(
                    first_of_each_class(held_edge_sources(None)),
                    first_of_each_class(model.iter().copied())
                );
                assert_eq!(
                    first_of_each_class(held_edge_sources(Some(probe))),
                    first_of_each_class(model.iter().copied().filter(|h| h.addr != probe))
                );
            }
        })
        .join()
        .unwrap();
    }
}

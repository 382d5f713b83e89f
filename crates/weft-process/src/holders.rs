//! Which processes hold a [`ProcessQueue`](crate::ProcessQueue): a table in its shared page,
//! one slot per handle made by creating or receiving the queue, so that a get on an empty queue
//! (or a put on a full one) can tell that no one else is left to change it, even when the others
//! died without a word.
//!
//! A slot holds a process's id and the low 32 bits of its start time (from `/proc`), in one
//! word, so that a slot whose process is gone — exited, killed, a zombie not yet reaped, or its
//! id reused by another process — reads as empty. A handle sent to another process gets a slot
//! in the sender's name when it is encoded, which the receiver takes over when it decodes it:
//! a queue in flight is held by its sender until it lands.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The slots of the table.
const SLOTS: usize = 256;

/// The table, in the shared page after the ring's words. All zeros is an empty table.
#[repr(C)]
pub(crate) struct Holders {
    /// Set for good when a handle found no free slot: from then on no one can tell that the
    /// others are gone, so no one is ever told so.
    untracked: AtomicU32,
    slots: [AtomicU64; SLOTS],
}

/// This process, as a slot holds it; `None` when `/proc` cannot say (then it registers nothing,
/// and the table is marked untracked).
fn me() -> Option<u64> {
    let pid = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs();
    match stat(pid) {
        Stat::Running(start) => Some(u64::from(pid) << 32 | u64::from(start)),
        Stat::Gone | Stat::Unknown => None,
    }
}

/// What `/proc` says of a process.
enum Stat {
    /// Alive (not a zombie), with the low 32 bits of its start time.
    Running(u32),
    /// No such process, or a zombie.
    Gone,
    /// `/proc` could not be read or parsed.
    Unknown,
}

fn stat(pid: u32) -> Stat {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Stat::Gone,
        Err(_) => return Stat::Unknown,
    };
    // The command name, in parentheses, may hold anything: the fields follow its last `)`.
    let Some(fields) = text.rfind(')').and_then(|at| text.get(at + 1..)) else {
        return Stat::Unknown;
    };
    let mut fields = fields.split_ascii_whitespace();
    match fields.next() {
        Some("Z" | "X") => return Stat::Gone,
        Some(_) => {}
        None => return Stat::Unknown,
    }
    // After the state (field 3 of proc(5)), the start time is field 22.
    match fields.nth(22 - 4).and_then(|f| f.parse::<u64>().ok()) {
        Some(start) => Stat::Running(start as u32),
        None => Stat::Unknown,
    }
}

/// Whether the process a slot names is still the one that registered (when `/proc` cannot
/// say, it counts as alive).
fn alive(slot: u64) -> bool {
    match stat((slot >> 32) as u32) {
        Stat::Running(start) => start == slot as u32,
        Stat::Gone => false,
        Stat::Unknown => true,
    }
}

impl Holders {
    /// Takes a free slot for this process; `None` (and the table untracked) if none is free.
    pub(crate) fn register(&self) -> Option<usize> {
        let Some(me) = me() else {
            self.untracked.store(1, Ordering::SeqCst);
            return None;
        };
        let found = self.slots.iter().position(|slot| {
            slot.compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        });
        if found.is_none() {
            self.untracked.store(1, Ordering::SeqCst);
        }
        found
    }

    /// Takes over slot `index`, registered in the sender's name (`sender`) when the handle was
    /// encoded; registers anew if it is not there.
    pub(crate) fn take_over(&self, index: u64, sender: u64) -> Option<usize> {
        let Some(me) = me() else {
            self.untracked.store(1, Ordering::SeqCst);
            return None;
        };
        let slot = usize::try_from(index).ok().filter(|&i| i < SLOTS);
        if let Some(i) = slot {
            if sender != 0
                && self.slots[i]
                    .compare_exchange(sender, me, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                return Some(i);
            }
        }
        self.register()
    }

    /// A slot in this process's name for a handle being sent: its index and the word the
    /// receiver expects there.
    pub(crate) fn in_flight(&self) -> (u64, u64) {
        match (self.register(), me()) {
            (Some(i), Some(me)) => (i as u64, me),
            _ => (u64::MAX, 0),
        }
    }

    /// Gives slot `index` back (if it is still this process's).
    pub(crate) fn release(&self, index: usize) {
        if let Some(me) = me() {
            let _ = self.slots[index].compare_exchange(me, 0, Ordering::SeqCst, Ordering::Relaxed);
        }
    }

    /// Whether process `pid` (found holding the queue's lock) is alive and holds the queue: a
    /// live slot in its name, or, when the table is untracked, a live process of that id.
    pub(crate) fn holds(&self, pid: u32) -> bool {
        let named = self.slots.iter().any(|slot| {
            let word = slot.load(Ordering::SeqCst);
            word >> 32 == u64::from(pid) && alive(word)
        });
        named || (self.untracked.load(Ordering::SeqCst) != 0 && !matches!(stat(pid), Stat::Gone))
    }

    /// Whether a live process other than the handle in slot `mine` holds the queue (or no one
    /// can tell).
    pub(crate) fn others(&self, mine: Option<usize>) -> bool {
        if mine.is_none() || self.untracked.load(Ordering::SeqCst) != 0 {
            return true;
        }
        self.slots.iter().enumerate().any(|(i, slot)| {
            let word = slot.load(Ordering::SeqCst);
            Some(i) != mine && word != 0 && alive(word)
        })
    }
}

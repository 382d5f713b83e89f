//! Which processes hold a [`ProcessQueue`](crate::ProcessQueue): a table in its shared page,
//! one slot per handle made by creating or receiving the queue, so that a get on an empty queue
//! (or a put on a full one) can tell that no one else is left to change it, even when the others
//! died without a word, and so that a lock held by a process that is gone can be taken over.
//!
//! A slot holds a process's id and the low 32 bits of its start time (from `/proc`), in one
//! word, so that a slot whose process is gone — exited, killed, a zombie not yet reaped, or its
//! id reused by another process — reads as empty, and is reused.
//!
//! A handle sent to another process travels with a token: a descriptor of its own open file
//! description of the queue's token file (an empty file of its own, beside the ring's), which
//! holds an open-file-description lock on one byte, its transfer's ticket. It gets a slot in
//! the sender's name, marked in flight with that ticket, when it is encoded, and the receiver
//! takes the slot over when it decodes it, then closes the token. The slot counts as a holder exactly while that lock is held: while
//! the token exists anywhere — in the sender's message, in a socket's buffer, in the receiver —
//! and not after a message that was never sent is dropped, or a receiver dies before decoding
//! it (the kernel drops the lock with the last descriptor).
//!
//! `/proc` is believed only when it says that a process is gone *and* `kill(pid, 0)` agrees:
//! a process hidden from this one (`hidepid`) counts as alive. A zombie whose threads are not all
//! gone (its first thread exited, others run on) counts as alive.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The slots of the table.
const SLOTS: usize = 256;
/// Marks a slot registered for a handle in flight (process ids are below 2²²).
const IN_FLIGHT: u64 = 1 << 63;
/// Marks a slot being made in flight: its ticket is not stored yet, so it counts through its
/// sender (the process making it, alive), and no one reuses it.
const PENDING: u64 = 1 << 62;
/// The first byte whose lock marks a transfer: far past the file's end (locks may lie there),
/// one byte per ticket. (Where `off_t` is 32-bit, tickets share bytes after 2³⁰ transfers: a
/// transfer may then count longer than it lasts, never shorter.)
#[cfg(target_pointer_width = "64")]
const TICKETS_AT: i64 = 1 << 40;
#[cfg(not(target_pointer_width = "64"))]
const TICKETS_AT: i64 = 1 << 30;
/// A lock tag holds the process id in its low `TAG_PID_BITS` bits (Linux ids stay below 2²²)
/// and nine low bits of the process's start time (`TAG_START`) above them; the top bit of the
/// lock word is the ring's (`LOCK_WAITERS`).
const TAG_PID_BITS: u32 = 22;
const TAG_PID: u32 = (1 << TAG_PID_BITS) - 1;
const TAG_START: u32 = 0x1ff;
// A tag never reaches the lock word's top bit.
const _: () = assert!((TAG_PID | TAG_START << TAG_PID_BITS).leading_zeros() >= 1);

/// The table, in the shared page after the ring's words. All zeros is an empty table.
#[repr(C)]
pub(crate) struct Holders {
    /// Set for good when a handle found no free slot, or could not say who it is: from then on
    /// no one can tell that the others are gone, so no one is ever told so.
    untracked: AtomicU32,
    /// Bumped after every change of a slot: a scan that finds no holder is believed only if
    /// nothing changed while it read (a handle can move between slots behind a scan: sent from
    /// a slot not yet read to one already read).
    changes: AtomicU32,
    slots: [AtomicU64; SLOTS],
    /// For a slot in flight: its transfer's ticket (the byte its descriptor keeps locked).
    tickets: [AtomicU32; SLOTS],
    /// The next transfer's ticket.
    next_ticket: AtomicU32,
}

/// A process as a slot holds it: its id (high half) and the low 32 bits of its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Me(u64);

impl Me {
    /// This process; `None` when `/proc` cannot say (or is another pid namespace's: then no
    /// answer it gives about other processes would be about ours).
    pub(crate) fn get() -> Option<Self> {
        let pid = std::process::id();
        let own = std::fs::read_link("/proc/self").ok()?;
        if own.to_str()? != pid.to_string() {
            return None;
        }
        match stat(pid) {
            Stat::Running(start) => Some(Self(u64::from(pid) << 32 | u64::from(start))),
            Stat::Gone | Stat::Unknown => None,
        }
    }

    /// The ring lock's mark of this process: its id, and nine bits of its start time above it
    /// (so that a holder's id reused by a new process does not read as the holder).
    pub(crate) fn tag(self) -> u32 {
        (self.0 >> 32) as u32 & TAG_PID | (self.0 as u32 & TAG_START) << TAG_PID_BITS
    }
}

/// What `/proc` says of a process.
enum Stat {
    /// Alive (not a zombie), with the low 32 bits of its start time.
    Running(u32),
    /// No such process, or a zombie with no thread left.
    Gone,
    /// `/proc` could not be read or parsed.
    Unknown,
}

#[cfg(test)]
thread_local! {
    /// The reads of `/proc/<pid>/stat` made on this thread (tests count the table's scans).
    static STAT_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn stat(pid: u32) -> Stat {
    #[cfg(test)]
    STAT_READS.with(|n| n.set(n.get() + 1));
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Hidden from us (`hidepid`), or gone: ask the kernel.
            let exists = rustix::process::Pid::from_raw(pid as i32).is_some_and(|p| {
                rustix::process::test_kill_process(p) != Err(rustix::io::Errno::SRCH)
            });
            return if exists { Stat::Unknown } else { Stat::Gone };
        }
        Err(_) => return Stat::Unknown,
    };
    // The command name, in parentheses, may hold anything: the fields follow its last `)`.
    let Some(fields) = text.rfind(')').and_then(|at| text.get(at + 1..)) else {
        return Stat::Unknown;
    };
    let mut fields = fields.split_ascii_whitespace();
    match fields.next() {
        Some("X") => return Stat::Gone,
        // A zombie first thread, with other threads still running, is a live process.
        Some("Z") => match other_threads(pid) {
            Some(false) => return Stat::Gone,
            Some(true) => {}
            None => return Stat::Unknown,
        },
        Some(_) => {}
        None => return Stat::Unknown,
    }
    // After the state (field 3 of proc(5)), the start time is field 22.
    match fields.nth(22 - 4).and_then(|f| f.parse::<u64>().ok()) {
        Some(start) => Stat::Running(start as u32),
        None => Stat::Unknown,
    }
}

/// Whether process `pid` has a thread besides its first (`/proc/<pid>/task`); `None` when that
/// cannot be read.
fn other_threads(pid: u32) -> Option<bool> {
    match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => Some(tasks.count() > 1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// Whether the process a slot word names is still the one that registered (when no one can
/// say, it counts as alive).
fn alive(word: u64) -> bool {
    match stat((word >> 32) as u32 & TAG_PID) {
        Stat::Running(start) => start == word as u32,
        Stat::Gone => false,
        Stat::Unknown => true,
    }
}

/// An open-file-description lock request on transfer `ticket`'s byte, through `fd`: `cmd` is
/// `F_OFD_SETLK` or `F_OFD_GETLK`; the answer's `l_type` says what `F_OFD_GETLK` found.
fn ticket_lock(
    fd: BorrowedFd<'_>,
    cmd: libc::c_int,
    kind: libc::c_int,
    ticket: u32,
) -> Result<libc::c_short, rustix::io::Errno> {
    // SAFETY: an all-zero `flock` is a valid value of that plain C struct (and `l_pid` must be
    // 0 for the OFD commands).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    let byte = TICKETS_AT + i64::from(ticket) % TICKETS_AT;
    lock.l_start = byte as libc::off_t;
    lock.l_len = 1;
    // SAFETY: `fd` is an open descriptor for the borrow's length, and `lock` a valid `flock`
    // that the kernel reads (and, for F_OFD_GETLK, writes) only during the call.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, std::ptr::from_mut(&mut lock)) };
    if rc == 0 {
        Ok(lock.l_type)
    } else {
        Err(
            rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
                .unwrap_or(rustix::io::Errno::IO),
        )
    }
}

/// Whether transfer `ticket`'s descriptor still exists somewhere (its lock is held), asked
/// through `fd`, another description of the same file; `None` when the kernel will not say.
fn transfer_alive(fd: BorrowedFd<'_>, ticket: u32) -> Option<bool> {
    ticket_lock(fd, libc::F_OFD_GETLK, libc::F_WRLCK, ticket)
        .ok()
        .map(|found| found != libc::F_UNLCK as libc::c_short)
}

impl Holders {
    /// Whether slot `i`'s word counts as a holder (`fd`: this process's descriptor of the token
    /// file, to ask about transfers with). A pending slot counts through its process, as a
    /// plain one does (`alive` reads past the marks).
    fn counts(&self, i: usize, word: u64, fd: BorrowedFd<'_>) -> bool {
        if word == 0 {
            return false;
        }
        if word & IN_FLIGHT != 0 {
            let ticket = self.tickets[i].load(Ordering::SeqCst);
            return transfer_alive(fd, ticket) != Some(false);
        }
        alive(word)
    }

    /// Puts `word` in a free slot, or in one whose holder is gone; `None` (and the table
    /// untracked) if there is none. `None` at once on an untracked table: it is untracked for
    /// good, and no one reads its slots for a count any more (`others` answers without them,
    /// `holds` asks `/proc` of any process it does not find there), so a slot would be of no
    /// use, and looking for one costs a read of `/proc` for every slot of a full table.
    fn claim(&self, word: u64, fd: BorrowedFd<'_>) -> Option<usize> {
        if self.untracked.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let found = self.claim_slot(word, fd);
        match found {
            Some(_) => self.changed(),
            None => self.untracked.store(1, Ordering::SeqCst),
        }
        found
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    fn claim_slot(&self, word: u64, fd: BorrowedFd<'_>) -> Option<usize> {
        let free = self.slots.iter().position(|slot| {
            slot.compare_exchange(0, word, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        });
        free.or_else(|| {
            self.slots.iter().enumerate().position(|(i, slot)| {
                let old = slot.load(Ordering::SeqCst);
                old != 0
                    && !self.counts(i, old, fd)
                    && slot
                        .compare_exchange(old, word, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
            })
        })
    }

    /// Takes a slot for a handle of process `me` (`None`: `/proc` could not say who this is,
    /// and the table is untracked); `fd` is this handle's descriptor of the token file.
    pub(crate) fn register(&self, me: Option<Me>, fd: BorrowedFd<'_>) -> Option<usize> {
        match me {
            Some(me) => self.claim(me.0, fd),
            None => {
                self.untracked.store(1, Ordering::SeqCst);
                None
            }
        }
    }

    /// Takes over slot `index`, registered in flight in the sender's name (`sender`) when the
    /// handle was encoded; registers anew if it is not there.
    pub(crate) fn take_over(
        &self,
        index: u64,
        sender: u64,
        me: Option<Me>,
        fd: BorrowedFd<'_>,
    ) -> Option<usize> {
        let Some(me) = me else {
            return self.register(None, fd);
        };
        let slot = usize::try_from(index).ok().filter(|&i| i < SLOTS);
        if let Some(i) = slot
            && sender & IN_FLIGHT != 0
            && self.slots[i]
                .compare_exchange(sender, me.0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            self.changed();
            return Some(i);
        }
        self.register(Some(me), fd)
    }

    /// The token for a handle of process `me` being sent (`fd`: its descriptor of the token
    /// file): a new open file description of that file, locked on a fresh ticket's byte, and a
    /// slot in `me`'s name marked in flight with that ticket (its index, and the word the
    /// receiver expects there). `Ok(None)` when this process cannot be named, no slot is left,
    /// or the token cannot be made for good (no OFD locks, a sandbox): then the table is
    /// untracked (no one can tell when the handle arrives) and the handle travels without a
    /// token. `Err` for a passing shortage (descriptors, memory, locks): that send fails, rather
    /// than the queue losing its tracking for good.
    pub(crate) fn in_flight(
        &self,
        me: Option<Me>,
        fd: BorrowedFd<'_>,
    ) -> Result<Option<(OwnedFd, u64, u64)>, rustix::io::Errno> {
        let Some(me) = me else {
            return Ok(None);
        };
        // Untracked for good: no slot to mark, and no token to make for it.
        if self.untracked.load(Ordering::SeqCst) != 0 {
            return Ok(None);
        }
        // Its own description: a duplicate would share `fd`'s, and its lock would live as long
        // as this handle rather than as long as the message.
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC;
        let locked = rustix::fs::open(path, flags, rustix::fs::Mode::empty()).and_then(|fresh| {
            let ticket = self.next_ticket.fetch_add(1, Ordering::SeqCst);
            ticket_lock(fresh.as_fd(), libc::F_OFD_SETLK, libc::F_RDLCK, ticket)
                .map(|_| (fresh, ticket))
        });
        let (fresh, ticket) = match locked {
            Ok(made) => made,
            // Short of descriptors, memory or locks: this send fails, and a later one may not.
            Err(
                e @ (rustix::io::Errno::MFILE
                | rustix::io::Errno::NFILE
                | rustix::io::Errno::NOMEM
                | rustix::io::Errno::INTR
                | rustix::io::Errno::NOLCK
                | rustix::io::Errno::AGAIN),
            ) => return Err(e),
            // For good (no OFD locks, a `/proc` that will not re-open, a sandbox): the queue
            // is sent untracked.
            Err(_) => {
                self.untracked.store(1, Ordering::SeqCst);
                return Ok(None);
            }
        };
        // Claimed pending (counted through this live process, and not reusable), then the
        // ticket, then in flight: a scan never sees the slot in flight with another's ticket.
        let Some(i) = self.claim(me.0 | PENDING, fd) else {
            return Ok(None);
        };
        self.tickets[i].store(ticket, Ordering::SeqCst);
        let word = me.0 | IN_FLIGHT;
        // Nothing of the protocol takes a pending slot of a live process; were it ever taken (a
        // process writing the table outside the protocol), the receiver's take-over fails and it
        // registers anew.
        let _ = self.slots[i].compare_exchange(
            me.0 | PENDING,
            word,
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
        self.changed();
        Ok(Some((fresh, i as u64, word)))
    }

    /// Gives slot `index` back (if it still holds `me`).
    pub(crate) fn release(&self, index: usize, me: Me) {
        if self.slots[index]
            .compare_exchange(me.0, 0, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            self.changed();
        }
    }

    /// Whether the process marked `tag` in the lock (see [`Me::tag`]) is alive and holds the
    /// queue: a live slot in its name, or, when the table is untracked, a live process of that
    /// id.
    pub(crate) fn holds(&self, tag: u32) -> bool {
        let start = tag >> TAG_PID_BITS;
        let named = self.slots.iter().any(|slot| {
            let word = slot.load(Ordering::SeqCst) & !(IN_FLIGHT | PENDING);
            word != 0 && Me(word).tag() == tag && alive(word)
        });
        if named || self.untracked.load(Ordering::SeqCst) == 0 {
            return named;
        }
        match stat(tag & TAG_PID) {
            Stat::Gone => false,
            // A bare id (no start bits: its holder could not read `/proc`) matches any start.
            Stat::Running(s) => start == 0 || s & TAG_START == start,
            Stat::Unknown => true,
        }
    }

    /// Whether a live process other than the handle in slot `mine` holds the queue (or no one
    /// can tell); `fd` is this handle's descriptor of the token file.
    pub(crate) fn others(&self, mine: Option<usize>, fd: BorrowedFd<'_>) -> bool {
        if mine.is_none() || self.untracked.load(Ordering::SeqCst) != 0 {
            return true;
        }
        let before = self.changes.load(Ordering::SeqCst);
        self.slots.iter().enumerate().any(|(i, slot)| {
            let word = slot.load(Ordering::SeqCst);
            Some(i) != mine && self.counts(i, word, fd)
        }) || self.changes.load(Ordering::SeqCst) != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Box<Holders> {
        // SAFETY: every field of `Holders` is an atomic integer (or an array of them), for which
        // all zeros is a valid value: an empty table, as in a fresh shared page.
        Box::new(unsafe { std::mem::zeroed() })
    }

    fn stat_reads() -> usize {
        STAT_READS.with(std::cell::Cell::get)
    }

    /// Once the table is untracked, a handle made or sent no longer looks for a slot: the look
    /// read `/proc` for each of the 256 slots of a full table (about 5 ms a handle: 600 handles
    /// of one queue took 3.2 s, against 27 ms for 200), for a slot that counts for nothing. A
    /// slot freed later is not taken either: the table stays untracked.
    #[test]
    fn an_untracked_table_is_not_scanned_again() {
        let holders = table();
        let tokens = rustix::fs::memfd_create("tokens", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        let fd = tokens.as_fd();
        let me = Me::get().expect("this test needs /proc");
        for i in 0..SLOTS {
            assert_eq!(holders.register(Some(me), fd), Some(i));
        }
        // Full of live holders: the next handle finds no slot, and the table is untracked.
        assert_eq!(holders.register(Some(me), fd), None);
        assert_eq!(holders.untracked.load(Ordering::SeqCst), 1);
        let before = stat_reads();
        assert_eq!(holders.register(Some(me), fd), None);
        assert!(holders.in_flight(Some(me), fd).unwrap().is_none());
        assert_eq!(holders.take_over(u64::MAX, 0, Some(me), fd), None);
        assert_eq!(stat_reads() - before, 0, "an untracked table was scanned");
        // A freed slot stays free: no handle counts in the table of an untracked queue.
        holders.release(0, me);
        assert_eq!(holders.register(Some(me), fd), None);
        assert_eq!(holders.slots[0].load(Ordering::SeqCst), 0);
        assert!(holders.others(Some(1), fd));
        assert!(holders.holds(me.tag()));
    }
}

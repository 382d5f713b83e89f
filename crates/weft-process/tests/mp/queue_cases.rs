//! ProcessQueue across processes: many producers and consumers, task_done/join, the bound,
//! shutdown and bad input. (CPython's `_TestQueue`: test_put, test_get, test_task_done,
//! test_qsize; and Python 3.13's queue shutdown tests.)

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use std::io::{Seek, SeekFrom, Write};

use weft_process::{Pipe, Process, ProcessQueue, QueueError};

use crate::{ensure, LIMIT};

pub(crate) fn round_trip_in_one_process() -> Result<(), String> {
    let q = ProcessQueue::<(u32, String)>::new(4).map_err(|e| e.to_string())?;
    ensure!(
        q.empty() && !q.full() && q.maxsize() == Some(4),
        "fresh queue state"
    );
    for i in 0..4 {
        q.put((i, format!("item {i}"))).map_err(|e| e.to_string())?;
    }
    ensure!(q.full() && q.qsize() == 4, "qsize {}", q.qsize());
    match q.try_put((9, "x".into())) {
        Err(QueueError::Full(item)) => ensure!(item.0 == 9, "wrong item back"),
        other => return Err(format!("expected Full, got {other:?}")),
    }
    for i in 0..4 {
        let (n, s) = q.get().map_err(|e| e.to_string())?;
        ensure!(n == i && s == format!("item {i}"), "got {n} {s}");
    }
    ensure!(
        matches!(q.try_get(), Err(QueueError::Empty)),
        "expected Empty"
    );
    ensure!(
        q.unfinished_tasks() == 4,
        "unfinished {}",
        q.unfinished_tasks()
    );
    ensure!(
        !q.join_timeout(Duration::from_millis(10)),
        "join must wait for task_done"
    );
    for _ in 0..4 {
        q.task_done().map_err(|e| e.to_string())?;
    }
    ensure!(q.join_timeout(Duration::ZERO), "join after all task_done");
    // Unit items encode to no bytes: a record of length 0 is still an item.
    let units = ProcessQueue::<()>::new(0).map_err(|e| e.to_string())?;
    units.put(()).map_err(|e| e.to_string())?;
    ensure!(units.try_get().is_ok(), "unit item lost");
    Ok(())
}

fn produce(args: (ProcessQueue<u64>, u64, u64)) -> u64 {
    let (q, from, count) = args;
    for i in from..from + count {
        if q.put(i).is_err() {
            return i - from;
        }
    }
    count
}

/// Gets until it receives the sentinel `u64::MAX`; returns (count, sum, xor) of what it got.
fn consume(q: ProcessQueue<u64>) -> (u64, u64, u64) {
    let (mut count, mut sum, mut xor) = (0, 0u64, 0u64);
    while let Ok(v) = q.get() {
        let _ = q.task_done();
        if v == u64::MAX {
            break;
        }
        count += 1;
        sum = sum.wrapping_add(v);
        xor ^= v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    (count, sum, xor)
}

pub(crate) fn two_by_two_100k() -> Result<(), String> {
    const N: u64 = 100_000;
    let q = ProcessQueue::<u64>::new(64).map_err(|e| e.to_string())?;
    let consumers: Vec<_> = (0..2)
        .map(|_| Process::new(consume, q.clone()).start())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let producers: Vec<_> = (0..2)
        .map(|p| Process::new(produce, (q.clone(), p * N / 2, N / 2)).start())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for p in producers {
        let sent = p.join().map_err(|e| e.to_string())?;
        ensure!(sent == N / 2, "a producer sent {sent}");
    }
    for _ in 0..2 {
        q.put(u64::MAX).map_err(|e| e.to_string())?;
    }
    let (mut count, mut sum, mut xor) = (0, 0u64, 0u64);
    for c in consumers {
        let (n, s, x) = c.join().map_err(|e| e.to_string())?;
        count += n;
        sum = sum.wrapping_add(s);
        xor ^= x;
    }
    let expect_xor = (0..N).fold(0u64, |acc, v| acc ^ v.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    ensure!(count == N, "received {count} of {N}");
    ensure!(sum == N * (N - 1) / 2, "checksum {sum}");
    ensure!(xor == expect_xor, "an item was duplicated or lost (xor)");
    ensure!(q.join_timeout(LIMIT), "join did not return");
    Ok(())
}

fn work_and_mark(q: ProcessQueue<u64>) -> u64 {
    let mut done = 0;
    while let Ok(v) = q.get_timeout(Duration::from_secs(60)) {
        let _ = q.task_done();
        done += 1;
        if v == 0 {
            break;
        }
    }
    done
}

pub(crate) fn join_across_processes() -> Result<(), String> {
    let q = ProcessQueue::<u64>::new(0).map_err(|e| e.to_string())?;
    for v in (0..50).rev() {
        q.put(v).map_err(|e| e.to_string())?;
    }
    let worker = Process::new(work_and_mark, q.clone())
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(
        q.join_timeout(LIMIT),
        "join did not see the child's task_done calls"
    );
    ensure!(
        q.unfinished_tasks() == 0,
        "unfinished {}",
        q.unfinished_tasks()
    );
    let done = worker.join().map_err(|e| e.to_string())?;
    ensure!(done == 50, "worker did {done}");
    Ok(())
}

pub(crate) fn bound_blocks_and_times_out() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(1).map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    let started = Instant::now();
    match q.put_timeout(2, Duration::from_millis(30)) {
        Err(QueueError::Full(2)) => {}
        other => return Err(format!("expected Full(2), got {other:?}")),
    }
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "put_timeout took {:?}",
        started.elapsed()
    );
    ensure!(
        matches!(q.put_timeout(3, Duration::ZERO), Err(QueueError::Full(3))),
        "zero timeout"
    );
    // A blocked put in another thread is released by a get.
    let q2 = q.clone();
    let putter = std::thread::spawn(move || q2.put(4));
    ensure!(q.get().map_err(|e| e.to_string())? == 1, "first item");
    putter
        .join()
        .map_err(|_| "putter panicked")?
        .map_err(|e| e.to_string())?;
    ensure!(
        q.get_timeout(LIMIT).map_err(|e| e.to_string())? == 4,
        "second item"
    );
    let started = Instant::now();
    ensure!(
        matches!(
            q.get_timeout(Duration::from_millis(30)),
            Err(QueueError::Empty)
        ),
        "empty"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "get_timeout took {:?}",
        started.elapsed()
    );
    Ok(())
}

fn get_until_shutdown(q: ProcessQueue<u32>) -> (Vec<u32>, bool) {
    let mut got = Vec::new();
    loop {
        match q.get() {
            Ok(v) => got.push(v),
            Err(QueueError::ShutDown(None)) => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

pub(crate) fn shutdown_wakes_and_drains() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(2).map_err(|e| e.to_string())?;
    let child = Process::new(get_until_shutdown, q.clone())
        .start()
        .map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    q.put(2).map_err(|e| e.to_string())?;
    q.shutdown();
    ensure!(q.is_shutdown(), "flag");
    match q.put(3) {
        Err(QueueError::ShutDown(Some(3))) => {}
        other => return Err(format!("put after shutdown: {other:?}")),
    }
    let (got, clean) = child.join().map_err(|e| e.to_string())?;
    ensure!(
        clean,
        "the child's get ended with something other than ShutDown"
    );
    ensure!(got == vec![1, 2], "child drained {got:?}");
    ensure!(
        matches!(q.get(), Err(QueueError::ShutDown(None))),
        "parent get after drain"
    );
    // A putter blocked on a full queue wakes up and gets its item back.
    let full = ProcessQueue::<u32>::new(1).map_err(|e| e.to_string())?;
    full.put(1).map_err(|e| e.to_string())?;
    let f2 = full.clone();
    let blocked = std::thread::spawn(move || f2.put(2));
    full.shutdown();
    match blocked.join().map_err(|_| "putter panicked")? {
        Err(e) => ensure!(e.into_inner() == Some(2), "item not returned"),
        Ok(()) => {
            // The put may have raced ahead of the flag only if it found room, which it cannot.
            return Err("a put into a full, shut-down queue succeeded".into());
        }
    }
    Ok(())
}

pub(crate) fn too_many_task_done() -> Result<(), String> {
    let q = ProcessQueue::<u8>::new(0).map_err(|e| e.to_string())?;
    ensure!(q.task_done().is_err(), "task_done on a fresh queue");
    q.put(1).map_err(|e| e.to_string())?;
    q.get().map_err(|e| e.to_string())?;
    q.task_done().map_err(|e| e.to_string())?;
    ensure!(q.task_done().is_err(), "second task_done");
    ensure!(q.unfinished_tasks() == 0, "count went wrong");
    Ok(())
}

pub(crate) fn item_over_limit_comes_back() -> Result<(), String> {
    let q = ProcessQueue::<Vec<u8>>::with_item_limit(0, 1024).map_err(|e| e.to_string())?;
    let big = vec![5u8; 4096];
    match q.put(big) {
        Err(QueueError::TooLarge(item, _)) => ensure!(item.len() == 4096, "wrong item"),
        other => return Err(format!("expected TooLarge, got {other:?}")),
    }
    ensure!(
        q.unfinished_tasks() == 0 && q.qsize() == 0,
        "a refused put touched the counts"
    );
    q.put(vec![1; 100]).map_err(|e| e.to_string())?;
    ensure!(
        q.get().map_err(|e| e.to_string())?.len() == 100,
        "small item"
    );
    Ok(())
}

/// An item whose `Serialize` panics is refused as one that returns an error is:
/// `QueueError::Codec` with the item back, from each put form, and the queue untouched and
/// usable. (Python's `Queue.put` pickles in its feeder thread, which prints the error and drops
/// the item.) The panic used to unwind out of the put, dropping the item.
pub(crate) fn item_whose_serialize_panics_comes_back() -> Result<(), String> {
    use crate::PanicsOnThree;
    let q = ProcessQueue::<PanicsOnThree>::new(4).map_err(|e| e.to_string())?;
    type Put = fn(&ProcessQueue<PanicsOnThree>) -> Result<(), QueueError<PanicsOnThree>>;
    let puts: [(&str, Put); 3] = [
        ("put", |q| q.put(PanicsOnThree(3))),
        ("try_put", |q| q.try_put(PanicsOnThree(3))),
        ("put_timeout", |q| {
            q.put_timeout(PanicsOnThree(3), Duration::MAX)
        }),
    ];
    for (name, put) in puts {
        let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| put(&q)))
            .map_err(|p| format!("{name} panicked: {}", weft_sync::panic_message(&*p)))?;
        match put {
            Err(QueueError::Codec(why, Some(item))) => {
                ensure!(why.contains("PanicsOnThree refuses 3"), "{name}: {why}");
                ensure!(item == PanicsOnThree(3), "{name}: the item back");
            }
            other => {
                return Err(format!(
                    "{name}: expected Codec with the item, got {other:?}"
                ))
            }
        }
    }
    ensure!(
        q.unfinished_tasks() == 0 && q.qsize() == 0,
        "a refused put touched the counts"
    );
    q.put(PanicsOnThree(4)).map_err(|e| e.to_string())?;
    ensure!(
        q.get().map_err(|e| e.to_string())? == PanicsOnThree(4),
        "a later put"
    );
    Ok(())
}

/// The id of the calling thread.
fn tid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// Waits until thread `tid` of this process sleeps in the kernel (state `S`).
fn until_asleep(tid: i32) -> Result<(), String> {
    until_thread_asleep("self", tid)
}

/// Runs `f` on a new thread and returns once that thread sleeps in the kernel (waiting inside
/// `f`), with the thread's handle and id.
fn asleep_in<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<(std::thread::JoinHandle<R>, i32), String> {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tid_tx.send(tid());
        f()
    });
    let id = tid_rx.recv().map_err(|e| e.to_string())?;
    until_asleep(id)?;
    Ok((handle, id))
}

/// A get that waits 700 ms (several look-arounds) times out instead of disconnecting, because
/// of what `holder` says still holds the queue.
fn still_held(q: &ProcessQueue<u32>, holder: &str) -> Result<(), String> {
    match q.get_timeout(Duration::from_millis(700)) {
        Err(QueueError::Empty) => Ok(()),
        other => Err(format!("expected Empty while {holder}, got {other:?}")),
    }
}

/// A get on the empty queue learns, well within `LIMIT`, that every other holder is gone
/// (`after`: what made them go).
fn learns_alone(q: &ProcessQueue<u32>, after: &str) -> Result<(), String> {
    let started = Instant::now();
    match q.get_timeout(LIMIT) {
        Err(QueueError::Disconnected(None)) => {}
        other => return Err(format!("expected Disconnected {after}, got {other:?}")),
    }
    ensure!(started.elapsed() < LIMIT, "took {:?}", started.elapsed());
    Ok(())
}

/// Several putters asleep on a full queue all wake at shutdown, and several joiners all wake at
/// the last task_done (a futex wake-all must reach every sleeper).
pub(crate) fn wake_every_sleeper() -> Result<(), String> {
    const N: usize = 3;
    let q = ProcessQueue::<u32>::new(1).map_err(|e| e.to_string())?;
    q.put(0).map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..N {
        let (q, tx) = (q.clone(), tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(Err(tid()));
            let _ = tx.send(Ok(q.put(i as u32 + 1)));
        });
    }
    let mut tids = Vec::new();
    while tids.len() < N {
        match rx.recv_timeout(LIMIT).map_err(|e| e.to_string())? {
            Err(t) => tids.push(t),
            Ok(r) => return Err(format!("a put into a full queue returned {r:?}")),
        }
    }
    for t in &tids {
        until_asleep(*t)?;
    }
    q.shutdown();
    for _ in 0..N {
        match rx.recv_timeout(LIMIT) {
            Ok(Ok(Err(QueueError::ShutDown(Some(_))))) => {}
            other => return Err(format!("a sleeping putter: {other:?}")),
        }
    }

    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    q.get().map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..N {
        let (q, tx) = (q.clone(), tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(Err(tid()));
            q.join();
            let _ = tx.send(Ok(()));
        });
    }
    let mut tids = Vec::new();
    while tids.len() < N {
        match rx.recv_timeout(LIMIT).map_err(|e| e.to_string())? {
            Err(t) => tids.push(t),
            Ok(()) => return Err("join returned with an item unfinished".into()),
        }
    }
    for t in &tids {
        until_asleep(*t)?;
    }
    q.task_done().map_err(|e| e.to_string())?;
    for _ in 0..N {
        rx.recv_timeout(LIMIT)
            .map_err(|_| "a sleeping joiner was not woken".to_string())?
            .map_err(|t| format!("thread {t} reported twice"))?;
    }
    Ok(())
}

/// An unbounded queue holds what fits its ring: `try_put` gives the item back when the ring is
/// full, and a get makes room again.
pub(crate) fn ring_bounds_an_unbounded_queue() -> Result<(), String> {
    let q = ProcessQueue::<Vec<u8>>::new(0).map_err(|e| e.to_string())?;
    let mut queued = 0usize;
    loop {
        match q.try_put(vec![7; 1000]) {
            Ok(()) => queued += 1,
            Err(QueueError::Full(item)) => {
                ensure!(item.len() == 1000, "the item came back changed");
                break;
            }
            Err(e) => return Err(format!("expected Full, got {e:?}")),
        }
        ensure!(queued <= 1000, "an unbounded queue took {queued} KB");
    }
    // The 256 KiB ring holds whole records: the ring's 4-byte length, then the item encoded
    // (a 2-byte length and 1000 bytes).
    let record = 4 + 2 + 1000;
    ensure!(
        queued == (256 << 10) / record,
        "the ring held {queued} items of 1 KB"
    );
    ensure!(q.qsize() == queued, "qsize {}", q.qsize());
    ensure!(q.get().map_err(|e| e.to_string())?.len() == 1000, "get");
    q.try_put(vec![8; 1000]).map_err(|e| e.to_string())?;
    Ok(())
}

/// The start of this process's mapping of the (only) queue's shared memory, read from
/// `/proc/self/maps`.
fn queue_mapping() -> Result<u64, String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let line = maps
        .lines()
        .find(|l| l.contains("memfd:weft-process-queue"))
        .ok_or("no queue mapping in /proc/self/maps")?;
    let start = line.split('-').next().unwrap_or_default();
    u64::from_str_radix(start, 16).map_err(|e| e.to_string())
}

/// This process's mark in a queue's lock word (src/holders.rs, `Me::tag`): its id, and the low
/// nine bits of its start time (`/proc/self/stat`, field 22) above bit 22.
fn lock_tag() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields = &stat[stat.rfind(')')? + 1..];
    let start: u64 = fields
        .split_ascii_whitespace()
        .nth(22 - 3)
        .and_then(|f| f.parse().ok())?;
    Some(std::process::id() | (start as u32 & 0x1ff) << 22)
}

/// Takes the queue's lock as a put or a get does (the lock word, the first word of the shared
/// memory, goes from 0 to the holder's mark: src/ring.rs), says so, and waits to be killed
/// holding it.
fn hold_lock_until_killed(args: (ProcessQueue<u32>, weft_process::Connection<u8>)) -> u8 {
    let (_queue, ready) = args;
    let (Ok(lock), Some(tag)) = (queue_mapping(), lock_tag()) else {
        return 1;
    };
    // SAFETY: the lock word is the first, 64-byte aligned word of the queue's shared memory,
    // mapped while `_queue` lives (until this process dies), and only ever accessed atomically.
    let word = unsafe { std::sync::atomic::AtomicU32::from_ptr(lock as usize as *mut u32) };
    let took = word.compare_exchange(
        0,
        tag,
        std::sync::atomic::Ordering::Acquire,
        std::sync::atomic::Ordering::Relaxed,
    );
    if took.is_err() || ready.send(&0).is_err() {
        return 2;
    }
    loop {
        std::thread::park();
    }
}

/// Starts a child that takes `q`'s lock and keeps it until killed; returns once it holds it.
fn start_lock_holder(q: &ProcessQueue<u32>) -> Result<weft_process::ProcessHandle<u8>, String> {
    let (ready, theirs) = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    let holder = Process::new(hold_lock_until_killed, (q.clone(), theirs))
        .start()
        .map_err(|e| e.to_string())?;
    let said = ready.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    ensure!(said == 0, "the holder could not take the lock");
    Ok(holder)
}

/// A process killed while it holds the queue's lock does not stop the queue: a put waiting for
/// the lock in another process takes it over when the holder dies, and the queue works on.
pub(crate) fn dead_lock_holder_is_taken_over() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let holder = start_lock_holder(&q)?;
    // A live holder keeps its lock, past several look-arounds: a timed put waits for it, and
    // gives up at its deadline.
    let started = Instant::now();
    match q.put_timeout(4, Duration::from_millis(700)) {
        Err(QueueError::Full(4)) => {}
        other => return Err(format!("expected Full behind a live holder, got {other:?}")),
    }
    ensure!(started.elapsed() < LIMIT, "took {:?}", started.elapsed());
    let q2 = q.clone();
    // Asleep: waiting for the lock the holder keeps.
    let (putter, _) = asleep_in(move || q2.put(5))?;
    ensure!(!putter.is_finished(), "the put went through a held lock");
    holder.kill().map_err(|e| e.to_string())?;
    ensure!(
        holder.join().is_err(),
        "the killed holder reported a result"
    );
    putter
        .join()
        .map_err(|_| "putter panicked")?
        .map_err(|e| format!("the put after the holder died: {e}"))?;
    ensure!(
        q.get_timeout(LIMIT).map_err(|e| e.to_string())? == 5,
        "item"
    );
    q.put(6).map_err(|e| e.to_string())?;
    ensure!(
        q.try_get().map_err(|e| e.to_string())? == 6,
        "the queue works on"
    );
    Ok(())
}

/// The `try_` forms and short timeouts take the lock over too: a caller that only polls gets
/// the item a killed holder left the lock on, at its first try (they used to give up at their
/// deadline before looking at the holder, and a poller never got the item back).
pub(crate) fn dead_lock_holder_is_taken_over_by_a_try_get() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    q.put(2).map_err(|e| e.to_string())?;
    let holder = start_lock_holder(&q)?;
    match q.try_get() {
        Err(QueueError::Empty) => {}
        other => {
            return Err(format!(
                "expected Empty behind a live holder, got {other:?}"
            ))
        }
    }
    holder.kill().map_err(|e| e.to_string())?;
    ensure!(
        holder.join().is_err(),
        "the killed holder reported a result"
    );
    ensure!(
        q.try_get()
            .map_err(|e| format!("try_get after the holder died: {e}"))?
            == 1,
        "first item"
    );
    ensure!(
        q.get_timeout(Duration::from_millis(10))
            .map_err(|e| format!("short get_timeout: {e}"))?
            == 2,
        "second item"
    );
    Ok(())
}

/// Writes `bytes` at `offset` in this process's mapping of the queue's shared memory, as a
/// process outside the protocol could.
fn scribble(offset: u64, bytes: &[u8]) -> Result<(), String> {
    let at = queue_mapping()? + offset;
    let mut mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| e.to_string())?;
    mem.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    mem.write_all(bytes).map_err(|e| e.to_string())
}

/// Garbage written into the shared memory outside the protocol is reported to the put or get
/// that meets it, the queue is emptied with its items counted done, and it works on: never a
/// read past the ring, a panic or a hang. Here: an item's length; the write position, moved a
/// whole ring ahead of an empty queue; and the lock word, naming a live process that does not
/// hold the queue. (The layout is src/ring.rs's: the lock word at 0, the put count and write
/// position at 64 and 68, the ring a page in.)
pub(crate) fn scribbled_record_is_reported() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    q.put(2).map_err(|e| e.to_string())?;
    // The first record's length: the first 4 bytes of the ring.
    scribble(4096, &u32::MAX.to_le_bytes())?;
    match q.get() {
        Err(QueueError::Corrupted(None)) => {}
        other => return Err(format!("expected Corrupted, got {other:?}")),
    }
    ensure!(q.qsize() == 0, "qsize {} after the reset", q.qsize());
    ensure!(q.join_timeout(Duration::ZERO), "join after the reset");
    q.put(3).map_err(|e| e.to_string())?;
    ensure!(
        q.try_get().map_err(|e| e.to_string())? == 3,
        "the queue works on"
    );

    // An empty queue whose write position says the ring is full.
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    scribble(68, &(256u32 << 10).to_le_bytes())?;
    match q.try_put(4) {
        Err(QueueError::Corrupted(Some(4))) => {}
        other => return Err(format!("expected Corrupted with the item, got {other:?}")),
    }
    q.put(5).map_err(|e| e.to_string())?;
    ensure!(
        q.try_get().map_err(|e| e.to_string())? == 5,
        "the queue works on"
    );

    // The lock word names process 1, alive, but not a holder of the queue: the lock is taken
    // over after a look-around, not waited for for ever.
    scribble(0, &1u32.to_le_bytes())?;
    let started = Instant::now();
    q.put(6).map_err(|e| e.to_string())?;
    ensure!(started.elapsed() < LIMIT, "took {:?}", started.elapsed());
    ensure!(
        q.try_get().map_err(|e| e.to_string())? == 6,
        "after the takeover"
    );
    Ok(())
}

/// Puts `n` items, then returns: its handle is dropped as the process exits.
fn put_and_leave(args: (ProcessQueue<u32>, u32)) -> u32 {
    let (q, n) = args;
    (0..n).filter(|&i| q.put(i).is_ok()).count() as u32
}

/// Puts one item when told to, then waits to be killed, holding its handle.
fn put_when_told_then_wait(args: (ProcessQueue<u32>, weft_process::Connection<u8>)) -> u8 {
    let (q, told) = args;
    while let Ok(n) = told.recv() {
        if q.put(u32::from(n)).is_err() {
            return 1;
        }
    }
    0
}

/// Every other handle gone: a get on the empty queue fails with `Disconnected` instead of
/// waiting for ever, whether the other holder dropped its handle (a thread here, a process that
/// exited there) or was killed holding it; while another holder lives, even idle for several
/// of the waiter's 200 ms looks, a get waits. (Python's queue waits for ever in every case.)
pub(crate) fn disconnected_when_every_other_holder_is_gone() -> Result<(), String> {
    // A process that puts and exits: its items are still there, then Disconnected.
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let child = Process::new(put_and_leave, (q.clone(), 3))
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(child.join().map_err(|e| e.to_string())? == 3, "child puts");
    for i in 0..3 {
        ensure!(q.get().map_err(|e| e.to_string())? == i, "item {i}");
    }
    learns_alone(&q, "after the producer exited")?;

    // Another handle in this process, dropped while a get waits.
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let other = q.clone();
    let (getter, _) = asleep_in(move || q.get())?;
    drop(other);
    match getter.join().map_err(|_| "getter panicked")? {
        Err(QueueError::Disconnected(None)) => {}
        other => return Err(format!("expected Disconnected, got {other:?}")),
    }

    // A process alive and holding its handle, idle: gets wait (and time out, not disconnect);
    // killed, it no longer counts, though not yet reaped (a zombie).
    let q = ProcessQueue::<u32>::new(1).map_err(|e| e.to_string())?;
    let (tell, told) = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    let holder = Process::new(put_when_told_then_wait, (q.clone(), told))
        .start()
        .map_err(|e| e.to_string())?;
    still_held(&q, "a holder lives")?;
    tell.send(&7).map_err(|e| e.to_string())?;
    ensure!(
        q.get_timeout(LIMIT).map_err(|e| e.to_string())? == 7,
        "item"
    );
    // Fill the queue (bound 1), so that a put waits too.
    tell.send(&8).map_err(|e| e.to_string())?;
    ensure!(
        q.get_timeout(LIMIT).map_err(|e| e.to_string())? == 8,
        "second item"
    );
    q.put(9).map_err(|e| e.to_string())?;
    let q2 = q.clone();
    let (putter, _) = asleep_in(move || {
        let got = q2.put(10);
        drop(q2);
        got
    })?;
    holder.kill().map_err(|e| e.to_string())?;
    // The putter still shares its process with `q`: not alone until `q` goes too.
    ensure!(q.get().map_err(|e| e.to_string())? == 9, "queued item");
    putter
        .join()
        .map_err(|_| "putter panicked")?
        .map_err(|e| e.to_string())?;
    ensure!(q.get().map_err(|e| e.to_string())? == 10, "put item");
    learns_alone(&q, "after the kill")?;
    let _ = holder.join();
    Ok(())
}

/// Gets one item and leaves.
fn get_one(q: ProcessQueue<u32>) -> u32 {
    q.get().unwrap_or(u32::MAX)
}

/// A put waiting on a full queue whose every other holder is gone fails with `Disconnected`
/// and gives the item back.
pub(crate) fn put_disconnected_gives_the_item_back() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(1).map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    let child = Process::new(get_one, q.clone())
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(child.join().map_err(|e| e.to_string())? == 1, "child got");
    q.put(2).map_err(|e| e.to_string())?;
    match q.put(3) {
        Err(QueueError::Disconnected(Some(3))) => {}
        other => return Err(format!("expected Disconnected(3), got {other:?}")),
    }
    ensure!(q.try_get().map_err(|e| e.to_string())? == 2, "queued item");
    Ok(())
}

/// Receives a queue and leaves without dropping it (`exit` runs no destructors), as a crashing
/// process would.
fn take_and_exit(_q: ProcessQueue<u32>) -> u8 {
    std::process::exit(0)
}

/// The holders' table has 256 slots: holders that died without giving theirs back leave them to
/// new holders, so after 300 of them a waiter still learns that it is alone.
pub(crate) fn dead_holders_slots_are_reused() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    for _ in 0..300 {
        let child = Process::new(take_and_exit, q.clone())
            .start()
            .map_err(|e| e.to_string())?;
        let _ = child.join();
    }
    learns_alone(&q, "when the other holders are gone")
}

/// Sends the queue it got on `to`, then leaves (its own handle dropped, the one sent in flight).
fn forward_and_exit(
    args: (
        ProcessQueue<u32>,
        weft_process::Connection<ProcessQueue<u32>>,
    ),
) -> u8 {
    let (q, to) = args;
    u8::from(to.send(&q).is_err())
}

/// Waits for a word from the parent, then receives a queue and puts 42 in it.
fn receive_late_and_put(
    args: (
        weft_process::Connection<ProcessQueue<u32>>,
        weft_process::Connection<u8>,
    ),
) -> u8 {
    let (from, go) = args;
    if go.recv().is_err() {
        return 1;
    }
    match from.recv() {
        Ok(q) => u8::from(q.put(42).is_err()) * 2,
        Err(_) => 3,
    }
}

/// A queue on its way to a process counts as held even after its sender is gone: a waiter
/// whose every other holder has exited keeps waiting (and times out) while the queue sits unread
/// in a pipe, then gets what its late receiver puts.
pub(crate) fn handle_in_flight_counts_as_held() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let (to, from) = Pipe::<ProcessQueue<u32>>::new().map_err(|e| e.to_string())?;
    let (go, wait) = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    let receiver = Process::new(receive_late_and_put, (from, wait))
        .start()
        .map_err(|e| e.to_string())?;
    let sender = Process::new(forward_and_exit, (q.clone(), to))
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(sender.join().map_err(|e| e.to_string())? == 0, "sender");
    still_held(&q, "a handle is in flight")?;
    go.send(&1).map_err(|e| e.to_string())?;
    ensure!(
        q.get_timeout(LIMIT).map_err(|e| e.to_string())? == 42,
        "the late put"
    );
    ensure!(receiver.join().map_err(|e| e.to_string())? == 0, "receiver");
    Ok(())
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Signals that interrupt a waiter's sleep every 50 ms (a profiler's, a timer's) do not keep it
/// from looking around: it still learns that it is alone.
pub(crate) fn signals_do_not_stop_the_look_around() -> Result<(), String> {
    // SAFETY: a handler that does nothing, installed before the threads that receive it start;
    // SIGUSR1 is not used otherwise in this test process.
    unsafe {
        libc::signal(
            libc::SIGUSR1,
            ignore_signal as *const () as libc::sighandler_t,
        )
    };
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let other = q.clone();
    let (getter, getter_tid) = asleep_in(move || q.get())?;
    drop(other);
    let pid = std::process::id() as libc::c_long;
    let started = Instant::now();
    while !getter.is_finished() {
        ensure!(
            started.elapsed() < LIMIT,
            "the getter never learned it was alone"
        );
        // SAFETY: tgkill with this process's id and a thread id of it that is still running.
        unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                pid,
                getter_tid as libc::c_long,
                libc::SIGUSR1,
            )
        };
        std::thread::park_timeout(Duration::from_millis(50));
    }
    match getter.join().map_err(|_| "getter panicked")? {
        Err(QueueError::Disconnected(None)) => Ok(()),
        other => Err(format!("expected Disconnected, got {other:?}")),
    }
}

/// A handle encoded into a message that is never sent (here: an item refused because queues
/// cannot travel through a queue) leaves no holder behind: a waiter still learns it is alone.
pub(crate) fn unsent_handle_leaves_no_holder() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let outer = ProcessQueue::<ProcessQueue<u32>>::new(0).map_err(|e| e.to_string())?;
    match outer.put(q.clone()) {
        Err(QueueError::Codec(_, Some(_))) => {}
        other => return Err(format!("expected Codec with the item, got {other:?}")),
    }
    learns_alone(&q, "when the other holders are gone")
}

/// Serializes as a `u32`; panics when deserialized.
#[derive(Debug)]
pub(crate) struct PanicsOnRead;

impl serde::Serialize for PanicsOnRead {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(7)
    }
}

impl<'de> serde::Deserialize<'de> for PanicsOnRead {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("PanicsOnRead read")
    }
}

/// An item whose `Deserialize` panics is lost to every getter, like one that fails to decode:
/// the panic reaches the getter, and the item counts done, so `join` does not wait for it.
pub(crate) fn item_whose_decode_panics_counts_done() -> Result<(), String> {
    let q = ProcessQueue::<PanicsOnRead>::new(0).map_err(|e| e.to_string())?;
    q.put(PanicsOnRead).map_err(|e| e.to_string())?;
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.get()));
    ensure!(got.is_err(), "the get did not pass the panic on: {got:?}");
    ensure!(
        q.join_timeout(Duration::from_millis(10)),
        "join still waits for the unreadable item"
    );
    Ok(())
}

/// Waits until thread `tid` of process `pid` sleeps in the kernel (state `S`).
fn until_child_asleep(pid: u32, tid: i32) -> Result<(), String> {
    until_thread_asleep(&pid.to_string(), tid)
}

/// Waits until thread `tid` of process `pid` (a number, or `self`) sleeps in the kernel (state
/// `S`).
fn until_thread_asleep(pid: &str, tid: i32) -> Result<(), String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
            .map_err(|e| e.to_string())?;
        let state = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.chars().next());
        if state == Some('S') {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "thread {tid} of {pid} never went to sleep"
        );
        std::thread::yield_now();
    }
}

/// Joins `child` within `LIMIT`, killing it if it is still running then.
fn finish<R: serde::Serialize + serde::de::DeserializeOwned>(
    child: weft_process::ProcessHandle<R>,
    what: &str,
) -> Result<R, String> {
    match child.join_timeout(LIMIT) {
        Ok(r) => Ok(r),
        Err((e, still)) => {
            if let Some(child) = still {
                let _ = child.kill();
                let _ = child.join();
            }
            Err(format!("{what}: {e}"))
        }
    }
}

/// Takes items with `q.iter()`, telling `ack` when it has the first; returns the items, why the
/// iterator ended, and whether it stayed ended.
fn collect_via_iter(
    args: (ProcessQueue<u32>, weft_process::Connection<u8>),
) -> (Vec<u32>, String, bool) {
    let (q, ack) = args;
    let mut got = Vec::new();
    let mut items = q.iter();
    for item in items.by_ref() {
        got.push(item);
        if got.len() == 1 {
            let _ = ack.send(&1);
        }
    }
    let why = format!("{:?}", items.error());
    let fused = items.next().is_none();
    (got, why, fused)
}

/// `iter()` in one process takes every item, waiting for more while the queue is empty, and
/// ends (for good) when another process shuts the queue down, with `ShutDown` as the reason.
pub(crate) fn iter_ends_when_another_process_shuts_down() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let (ack, acked) = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    let child = Process::new(collect_via_iter, (q.clone(), ack))
        .start()
        .map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    // The child has its first item and goes on to wait on the empty queue.
    acked.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    for i in 2..=5 {
        q.put(i).map_err(|e| e.to_string())?;
    }
    q.shutdown();
    let (got, why, fused) = finish(child, "the iterating child")?;
    ensure!(got == [1, 2, 3, 4, 5], "the iterator took {got:?}");
    ensure!(
        why == "Some(ShutDown(None))",
        "the iterator ended with {why}"
    );
    ensure!(fused, "the iterator went on after its end");
    ensure!(
        q.unfinished_tasks() == 5,
        "unfinished {}",
        q.unfinished_tasks()
    );
    Ok(())
}

/// Serializes as its `u32`; 13 fails to decode, 66 panics when decoded.
#[derive(Debug, PartialEq)]
pub(crate) struct Picky(u32);

impl serde::Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match <u32 as serde::Deserialize>::deserialize(d)? {
            13 => Err(serde::de::Error::custom("13 is unlucky")),
            66 => panic!("Picky read 66"),
            n => Ok(Picky(n)),
        }
    }
}

/// An item that does not decode ends `for item in &q` (with `Codec`) and loses no other item;
/// `shutdown_immediate` leaves out an item that does not decode or whose decoding panics
/// (counting it done, and not passing the panic on) and returns all the others, in order.
pub(crate) fn undecodable_items_in_iter_and_shutdown_immediate() -> Result<(), String> {
    let q = ProcessQueue::<Picky>::new(0).map_err(|e| e.to_string())?;
    for v in [1, 13, 2] {
        q.put(Picky(v)).map_err(|e| e.to_string())?;
    }
    let mut got = Vec::new();
    for item in &q {
        got.push(item.0);
    }
    ensure!(got == [1], "the iterator took {got:?}");
    let mut items = q.iter();
    ensure!(items.next() == Some(Picky(2)), "the item after the bad one");
    drop(items);
    for v in [3, 13, 4, 66, 5] {
        q.put(Picky(v)).map_err(|e| e.to_string())?;
    }
    let left = std::panic::catch_unwind(|| q.shutdown_immediate())
        .map_err(|_| "shutdown_immediate passed a Deserialize panic on".to_string())?;
    ensure!(
        left == [Picky(3), Picky(4), Picky(5)],
        "shutdown_immediate returned {left:?}"
    );
    // Eight put: two got (1 and 2, not yet done), the first 13 done by its get, five by
    // shutdown_immediate.
    ensure!(
        q.unfinished_tasks() == 2,
        "unfinished {}",
        q.unfinished_tasks()
    );
    q.task_done().map_err(|e| e.to_string())?;
    q.task_done().map_err(|e| e.to_string())?;
    ensure!(
        q.join_timeout(Duration::ZERO),
        "join after the last task_done"
    );
    Ok(())
}

/// Tells `tell` its thread's id, then gets one item; returns the outcome.
fn get_after_telling(args: (ProcessQueue<u32>, weft_process::Connection<i32>)) -> String {
    let (q, tell) = args;
    let _ = tell.send(&tid());
    format!("{:?}", q.get())
}

/// Tells `tell` its thread's id, then puts 99; returns the outcome.
fn put_after_telling(args: (ProcessQueue<u32>, weft_process::Connection<i32>)) -> String {
    let (q, tell) = args;
    let _ = tell.send(&tid());
    format!("{:?}", q.put(99))
}

/// Tells `tell` its thread's id, then joins the queue.
fn join_after_telling(args: (ProcessQueue<u32>, weft_process::Connection<i32>)) -> bool {
    let (q, tell) = args;
    let _ = tell.send(&tid());
    q.join();
    true
}

/// Starts `f` in a child with the queue and returns once the child's thread sleeps in `f`.
fn child_asleep_in<R: serde::Serialize + serde::de::DeserializeOwned>(
    f: fn((ProcessQueue<u32>, weft_process::Connection<i32>)) -> R,
    q: &ProcessQueue<u32>,
) -> Result<weft_process::ProcessHandle<R>, String> {
    let (tell, told) = Pipe::<i32>::new().map_err(|e| e.to_string())?;
    let child = Process::new(f, (q.clone(), tell))
        .start()
        .map_err(|e| e.to_string())?;
    let tid = told.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    until_child_asleep(child.pid(), tid)?;
    Ok(child)
}

/// `shutdown_immediate` wakes a getter asleep on the empty queue in another process (it fails
/// with `ShutDown`), and, on a full queue, returns the items queued, waking a joiner asleep in
/// another process (the items count done) and a putter asleep in a third (its item back).
pub(crate) fn shutdown_immediate_wakes_other_processes() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    let getter = child_asleep_in(get_after_telling, &q)?;
    let left = q.shutdown_immediate();
    ensure!(left.is_empty(), "returned {left:?} from an empty queue");
    let got = finish(getter, "the getter")?;
    ensure!(got == "Err(ShutDown(None))", "the sleeping getter: {got}");

    let q = ProcessQueue::<u32>::new(2).map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())?;
    q.put(2).map_err(|e| e.to_string())?;
    let joiner = child_asleep_in(join_after_telling, &q)?;
    let putter = child_asleep_in(put_after_telling, &q)?;
    let left = q.shutdown_immediate();
    ensure!(left == [1, 2], "shutdown_immediate returned {left:?}");
    ensure!(finish(joiner, "the joiner")?, "the joiner");
    let put = finish(putter, "the putter")?;
    ensure!(
        put == "Err(ShutDown(Some(..)))",
        "the sleeping putter: {put}"
    );
    ensure!(
        matches!(q.get(), Err(QueueError::ShutDown(None))),
        "a get after shutdown_immediate"
    );
    ensure!(q.qsize() == 0 && q.unfinished_tasks() == 0, "{q:?}");
    Ok(())
}

/// Receives queues one after another; from each, gets items (marking each done) until
/// `ShutDown`, and sends back what it got.
fn get_each_queue(
    args: (
        weft_process::Connection<ProcessQueue<u32>>,
        weft_process::Connection<Vec<u32>>,
    ),
) -> u8 {
    let (queues, report) = args;
    while let Ok(q) = queues.recv() {
        let mut got = Vec::new();
        loop {
            match q.get() {
                Ok(v) => {
                    got.push(v);
                    let _ = q.task_done();
                }
                Err(QueueError::ShutDown(None)) => break,
                Err(_) => return 1,
            }
        }
        if report.send(&got).is_err() {
            return 2;
        }
    }
    0
}

/// `shutdown_immediate` racing a getter in another process (which has begun to get) and a
/// putter thread, 300 times:
/// every item put is either returned by `shutdown_immediate` or got by the getter, exactly
/// once; every put refused gets its item back; afterwards the queue is empty, gets fail, and
/// `join` returns (the getter marked its items done, `shutdown_immediate` counted the rest).
pub(crate) fn shutdown_immediate_races_a_getter() -> Result<(), String> {
    const ROUNDS: u32 = 300;
    const N: u32 = 2000;
    let (to_child, queues) = Pipe::<ProcessQueue<u32>>::new().map_err(|e| e.to_string())?;
    let (report, reports) = Pipe::<Vec<u32>>::new().map_err(|e| e.to_string())?;
    let child = Process::new(get_each_queue, (queues, report))
        .start()
        .map_err(|e| e.to_string())?;
    let (mut both, mut putter_raced) = (0, 0);
    for round in 0..ROUNDS {
        let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
        for i in 0..N {
            q.put(i).map_err(|e| e.to_string())?;
        }
        to_child.send(&q).map_err(|e| e.to_string())?;
        let q2 = q.clone();
        let go = Arc::new(Barrier::new(2));
        let go2 = Arc::clone(&go);
        let putter = std::thread::spawn(move || {
            go2.wait();
            let mut landed = Vec::new();
            for i in N..2 * N {
                match q2.put(i) {
                    Ok(()) => landed.push(i),
                    Err(QueueError::ShutDown(Some(j))) if j == i => {}
                    Err(e) => return Err(format!("put {i}: {e:?}")),
                }
            }
            Ok(landed)
        });
        // Until the getter has its first item and goes on getting the others (the queue's own
        // count says so: nothing else takes items yet).
        let deadline = Instant::now() + LIMIT;
        while q.qsize() == N as usize {
            ensure!(
                Instant::now() < deadline,
                "round {round}: the getter got nothing"
            );
            std::thread::yield_now();
        }
        go.wait();
        // Jitter, not synchronization: lets the getter and the putter get further some rounds.
        for _ in 0..round % 16 {
            std::thread::yield_now();
        }
        let left = q.shutdown_immediate();
        // A get that waits for the lock: a `try_get` answers `Empty` while the getter or the
        // putter holds it for a moment (as Python's `get_nowait`).
        ensure!(
            matches!(q.get_timeout(LIMIT), Err(QueueError::ShutDown(None))) && q.qsize() == 0,
            "round {round}: the queue still gives items after shutdown_immediate"
        );
        let landed = putter.join().map_err(|_| "the putter panicked")??;
        let got = reports.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
        if !left.is_empty() && !got.is_empty() {
            both += 1;
        }
        if !landed.is_empty() && landed.len() < N as usize {
            putter_raced += 1;
        }
        let mut all: Vec<u32> = left.iter().chain(&got).copied().collect();
        all.sort_unstable();
        let mut expected: Vec<u32> = (0..N).chain(landed.iter().copied()).collect();
        expected.sort_unstable();
        ensure!(
            all == expected,
            "round {round}: {} returned, {} got, {} put late: an item lost or duplicated",
            left.len(),
            got.len(),
            landed.len()
        );
        ensure!(
            q.join_timeout(Duration::ZERO) && q.unfinished_tasks() == 0,
            "round {round}: unfinished {}",
            q.unfinished_tasks()
        );
    }
    drop(to_child);
    ensure!(finish(child, "the getter")? == 0, "the getter failed");
    println!("  ({both} of {ROUNDS} rounds split the items; {putter_raced} split the late puts)");
    Ok(())
}

/// `maxsize()` is `None` for an unbounded queue and `Some(bound)` otherwise, a bound past
/// 2³¹ − 1 reading as that; a child that receives the queue sees the same.
pub(crate) fn maxsize_is_an_option() -> Result<(), String> {
    ensure!(
        ProcessQueue::<u8>::new(0)
            .map_err(|e| e.to_string())?
            .maxsize()
            .is_none(),
        "new(0)"
    );
    ensure!(
        ProcessQueue::<u8>::unbounded()
            .map_err(|e| e.to_string())?
            .maxsize()
            .is_none(),
        "unbounded()"
    );
    let huge = ProcessQueue::<u8>::new((1 << 32) + 5).map_err(|e| e.to_string())?;
    ensure!(
        huge.maxsize() == Some((1 << 31) - 1),
        "a bound past 2^31 - 1: {:?}",
        huge.maxsize()
    );
    ensure!(!huge.full(), "a huge bound is full");
    let q = ProcessQueue::<u8>::new(3).map_err(|e| e.to_string())?;
    ensure!(q.maxsize() == Some(3), "new(3): {:?}", q.maxsize());
    let seen = Process::new(maxsize_of, q.clone())
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(
        finish(seen, "the child")? == Some(3),
        "the child saw another bound"
    );
    Ok(())
}

fn maxsize_of(q: ProcessQueue<u8>) -> Option<usize> {
    q.maxsize()
}

/// `shutdown_immediate` on shared memory scribbled outside the protocol (the second record's
/// length) returns the items before the bad record, and leaves the queue shut down, emptied,
/// and with every item counted done: never a panic, a hang or a read past the ring.
pub(crate) fn shutdown_immediate_on_scribbled_memory() -> Result<(), String> {
    let q = ProcessQueue::<u32>::new(0).map_err(|e| e.to_string())?;
    for i in [1, 2, 3] {
        q.put(i).map_err(|e| e.to_string())?;
    }
    // Each record here: a 4-byte length, then the item encoded (5 bytes); the second record's
    // length follows the first record.
    let first = u32::from_le_bytes(read_ring(0)?);
    ensure!(first < 64, "the first record's length reads {first}");
    scribble(4096 + 4 + u64::from(first), &u32::MAX.to_le_bytes())?;
    let left = q.shutdown_immediate();
    ensure!(left == [1], "shutdown_immediate returned {left:?}");
    ensure!(q.is_shutdown() && q.qsize() == 0, "{q:?}");
    ensure!(
        q.join_timeout(Duration::ZERO),
        "join after shutdown_immediate"
    );
    ensure!(
        matches!(q.put(4), Err(QueueError::ShutDown(Some(4)))),
        "a put after shutdown_immediate"
    );
    Ok(())
}

/// The 4 bytes at `offset` in the ring of this process's mapping of the queue.
fn read_ring(offset: u64) -> Result<[u8; 4], String> {
    use std::io::Read;
    let at = queue_mapping()? + 4096 + offset;
    let mut mem = std::fs::File::open("/proc/self/mem").map_err(|e| e.to_string())?;
    mem.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    let mut bytes = [0; 4];
    mem.read_exact(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

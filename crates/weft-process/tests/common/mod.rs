//! Helpers shared by the subprocess tests, threaded and async: patterned data, and what `/proc`
//! and a pidfd tell about a child.
#![allow(dead_code, reason = "each test crate uses some of these")]

use std::fs;
use std::time::{Duration, Instant};

/// A generous upper bound for things that should take milliseconds.
pub(crate) const LONG: Duration = Duration::from_secs(10);

/// 10 MiB: far more than a pipe holds (64 KiB), so a parent that reads one pipe at a time
/// deadlocks.
pub(crate) const BIG: usize = 10 * 1024 * 1024;

/// Bytes that are not all the same, so that a lost, repeated or reordered chunk shows.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The state letter and the parent pid in `/proc/<pid>/stat`, or `None` once the pid is gone.
pub(crate) fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": the fields after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Asserts that `pid` is no longer a child of this process, running or zombie: it was killed (or
/// exited) and reaped. The number may already name an unrelated process.
pub(crate) fn assert_reaped(pid: u32) {
    if let Some((state, ppid)) = proc_stat(pid) {
        assert_ne!(
            ppid,
            std::process::id(),
            "pid {pid} is still our child (state {state}): not killed, or not reaped"
        );
    }
}

/// The pid a child printed as the first line of its output.
pub(crate) fn first_line_pid(out: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(out);
    let line = text.lines().next().unwrap_or_default();
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {text:?}"))
}

/// Blocks until process `pid` has exited (it may remain a zombie), on a pidfd: no sleeping. A
/// signal (tokio's `SIGCHLD` handler, in the async tests) interrupting the wait is waited out.
pub(crate) fn await_exit(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return; // already gone
    };
    let deadline = Instant::now() + LONG;
    loop {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = rustix::event::Timespec::try_from(left).unwrap();
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            ready => {
                assert_eq!(ready, Ok(1), "pid {pid:?} did not exit within {LONG:?}");
                return;
            }
        }
    }
}

/// Waits until `pid` is no longer a child of this process (reaped: by tokio, say, whose reaping
/// of its orphans can happen on another runtime's thread a moment after the call that asked
/// for it), at most [`LONG`].
pub(crate) fn await_reaped(pid: u32) {
    let deadline = Instant::now() + LONG;
    while proc_stat(pid).is_some_and(|(_, ppid)| ppid == std::process::id()) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} was not reaped within {LONG:?}"
        );
        std::thread::yield_now();
    }
}

/// The pid a killer still may signal, as its `Debug` shows it: `None` once a `Popen`'s child is
/// reaped, or once an `AsyncPopen`'s has exited.
pub(crate) fn killer_pid(killer: &weft_process::subprocess::Killer) -> String {
    let debug = format!("{killer:?}");
    let pid = debug
        .split("pid: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{debug}"));
    pid.trim_end_matches(" }").to_owned()
}

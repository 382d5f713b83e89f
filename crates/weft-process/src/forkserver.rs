//! The fork server behind [`StartMethod::ForkServer`](crate::StartMethod::ForkServer): Python's
//! `forkserver` start method.
//!
//! The first process started this way starts the server: this program executed again, as any
//! weft child is (same executable check, same parent-death signal, no inherited descriptors),
//! which stops inside [`init`](crate::init) — one thread, none of the program's own code run —
//! and waits for requests on its channel. A request carries the channel of the child to make;
//! the server forks itself, and the copy runs the job exactly as an executed child does, without
//! paying for an exec and a program start. The server reaps what it forks: with the pid it hands
//! the parent a pidfd (signals that cannot reach a recycled pid) and the read end of a pipe on
//! which it writes the child's wait status once it has exited.
//!
//! Forking is sound here because the server is single-threaded: it checks so before it answers
//! its first request, and it starts no thread. Its children die with it (parent-death signal), and
//! it dies with the program; [`main`](crate::main) closes its channel at the end, after waiting
//! for the children, and the server then exits.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

use crate::error::ProcessError;
use crate::wire::{Wire, DEFAULT_MAX_FRAME};

/// The server's first message: it is ready (single-threaded).
const READY: u8 = b'R';
/// A request: fork a child for the channel sent with it.
const FORK: u8 = b'F';
/// An answer: forked; the pid follows (4 bytes, little-endian), with the pidfd and the status
/// pipe.
const FORKED: u8 = b'K';
/// An answer or a first message: failed; the reason follows (UTF-8).
const FAILED: u8 = b'E';

/// How long the parent waits for a new server to say it is ready.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A child forked by the server, as its parent holds it.
#[derive(Debug)]
pub(crate) struct Forked {
    pub(crate) pid: u32,
    /// For signals and for waiting.
    pub(crate) pidfd: OwnedFd,
    /// Where the server writes the child's wait status (4 bytes) once it has reaped it.
    pub(crate) status: OwnedFd,
}

/// The parent's side of the server.
struct Server {
    wire: Wire,
    process: Child,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Asks the server (started on first use) to fork a child whose channel is `channel`. A server
/// that cannot answer (killed, say) is reaped and replaced, once.
pub(crate) fn fork(channel: OwnedFd) -> Result<Forked, ProcessError> {
    let mut slot = SERVER.lock();
    let mut retried = false;
    loop {
        let server = match slot.take() {
            Some(server) => server,
            None => start()?,
        };
        match ask(&server, &channel) {
            Ok(frame) => {
                *slot = Some(server);
                return answer(frame);
            }
            Err(why) => {
                let Server { wire, mut process } = server;
                drop(wire);
                let _ = process.kill();
                let _ = process.wait();
                if retried {
                    return Err(ProcessError::Spawn(io::Error::other(why)));
                }
                retried = true;
            }
        }
    }
}

/// Sends a fork request with `channel` and reads the answer; why not, if the server did not
/// answer.
fn ask(server: &Server, channel: &OwnedFd) -> Result<crate::wire::Frame, String> {
    let channel = channel
        .try_clone()
        .map_err(|e| format!("cannot pass the channel: {e}"))?;
    server
        .wire
        .send(&[FORK], &[channel])
        .map_err(|e| format!("the fork server is gone: {e}"))?;
    match server.wire.recv(None) {
        Ok(Some(frame)) => Ok(frame),
        Ok(None) => Err("the fork server did not answer".into()),
        Err(e) => Err(format!("the fork server is gone: {e}")),
    }
}

/// The child the server's answer describes.
fn answer(frame: crate::wire::Frame) -> Result<Forked, ProcessError> {
    match (
        frame.bytes.split_first(),
        <[OwnedFd; 2]>::try_from(frame.fds),
    ) {
        (Some((&FORKED, pid)), Ok([pidfd, status])) if pid.len() == 4 => Ok(Forked {
            pid: u32::from_le_bytes([pid[0], pid[1], pid[2], pid[3]]),
            pidfd,
            status,
        }),
        (Some((&FAILED, why)), _) => Err(ProcessError::Spawn(io::Error::other(format!(
            "the fork server could not fork: {}",
            String::from_utf8_lossy(why)
        )))),
        _ => Err(ProcessError::Spawn(io::Error::other(
            "the fork server sent a malformed answer",
        ))),
    }
}

/// Starts a server: this program executed in fork-server mode, waited for until it is ready.
fn start() -> Result<Server, ProcessError> {
    let (ours, theirs) = crate::wire::stream_pair().map_err(|e| ProcessError::Spawn(e.into()))?;
    let command = crate::process::child_command(crate::process::Mode::ForkServer, theirs.into())?;
    let mut process = crate::process::spawn(command).map_err(ProcessError::Spawn)?;
    let wire = Wire::new(ours, DEFAULT_MAX_FRAME);
    let why = match wire.recv(Some(Instant::now() + START_LIMIT)) {
        Ok(Some(frame)) if frame.bytes == [READY] => return Ok(Server { wire, process }),
        Ok(Some(frame)) => match frame.bytes.split_first() {
            Some((&FAILED, why)) => format!(
                "the fork server did not start: {}",
                String::from_utf8_lossy(why)
            ),
            _ => "the fork server sent a malformed greeting".into(),
        },
        Ok(None) => format!("the fork server was not ready in {START_LIMIT:?}"),
        Err(e) => format!("the fork server did not start: {e}"),
    };
    let _ = process.kill();
    let _ = process.wait();
    Err(ProcessError::Spawn(io::Error::other(why)))
}

/// Ends the server, if one runs: closes its channel (it exits at once, its children having been
/// waited for by the caller) and reaps it.
pub(crate) fn stop() {
    if let Some(Server { wire, mut process }) = SERVER.lock().take() {
        drop(wire);
        let _ = process.wait();
    }
}

/// Reads a forked child's status from its pipe, waiting at most `timeout` (`None`: for ever).
/// `None` while the child runs; a pipe closed without a status means the server died, which
/// killed the child (parent-death signal): SIGKILL.
pub(crate) fn read_status(status: &OwnedFd, timeout: Option<Duration>) -> Option<ExitStatus> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(crate::wire::timespec_until);
        let mut fds = [PollFd::new(status, PollFlags::IN)];
        match rustix::event::poll(&mut fds, left.as_ref()) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(Errno::INTR) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return None;
                }
            }
            Err(_) => return Some(ExitStatus::from_raw(Signal::KILL.as_raw())),
        }
    }
    let mut raw = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match rustix::io::read(status, &mut raw[got..]) {
            Ok(0) => return Some(ExitStatus::from_raw(Signal::KILL.as_raw())),
            Ok(n) => got += n,
            Err(Errno::INTR) => {}
            Err(_) => return Some(ExitStatus::from_raw(Signal::KILL.as_raw())),
        }
    }
    Some(ExitStatus::from_raw(i32::from_le_bytes(raw)))
}

// ---------------------------------------------------------------------------------------------
// The server's side
// ---------------------------------------------------------------------------------------------

/// A child the server forked and has not reaped yet.
struct Kid {
    pid: Pid,
    pidfd: OwnedFd,
    /// The write end of the child's status pipe.
    status: OwnedFd,
}

/// The number of threads of this process, from `/proc`.
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The server's loop (in the executed server, from `child_main`): answers fork requests on
/// `wire` and reaps the children, until the parent closes the channel. Returns the exit code.
pub(crate) fn serve(wire: &Wire) -> i32 {
    if thread_count() != Some(1) {
        let why = b"the fork server has more than one thread (a thread started before init?)";
        let _ = wire.send(&[&[FAILED][..], why].concat(), &[]);
        return 2;
    }
    // Its name in `ps` (not `current_process_name`, which its children set for themselves).
    let _ = rustix::thread::set_name(c"weft-forkserver");
    if wire.send(&[READY], &[]).is_err() {
        return 2;
    }
    let server = rustix::process::getpid();
    let mut kids: Vec<Kid> = Vec::new();
    loop {
        let (request, exited) = {
            let channel = wire.fd();
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(kids.len() + 1);
            fds.push(PollFd::new(&channel, PollFlags::IN));
            fds.extend(kids.iter().map(|k| PollFd::new(&k.pidfd, PollFlags::IN)));
            // A frame already read into the channel's buffer does not make the socket readable.
            let buffered = wire.buffered();
            let now = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            match rustix::event::poll(&mut fds, buffered.then_some(&now)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return 2,
            }
            let exited: Vec<bool> = fds[1..].iter().map(|f| !f.revents().is_empty()).collect();
            (buffered || !fds[0].revents().is_empty(), exited)
        };
        let mut i = 0;
        kids.retain(|kid| {
            let done = exited.get(i).copied().unwrap_or(false) && reap(kid);
            i += 1;
            !done
        });
        if request {
            match wire.recv(None) {
                Ok(Some(frame)) => {
                    if let Some(kid) = fork_one(wire, frame.fds, server) {
                        kids.push(kid);
                    }
                }
                // The parent closed the channel (its `main` ended) or is gone.
                _ => return 0,
            }
        }
    }
}

/// Reaps `kid` if it has exited and writes its status to its pipe; whether it was reaped.
fn reap(kid: &Kid) -> bool {
    match rustix::process::waitpid(Some(kid.pid), WaitOptions::NOHANG) {
        Ok(Some((_, status))) => {
            // The pipe has room for it (4 bytes, written once); a parent that closed its end
            // does not want it (SIGPIPE is ignored in Rust programs: the write just fails).
            let _ = rustix::io::write(&kid.status, &status.as_raw().to_le_bytes());
            true
        }
        Ok(None) => false,
        // Not our child any more (reaped elsewhere): nothing to report but an unknown exit.
        Err(_) => true,
    }
}

/// Forks a child for the channel in `fds`, answers the parent, and returns the child to watch.
fn fork_one(wire: &Wire, fds: Vec<OwnedFd>, server: Pid) -> Option<Kid> {
    let fail = |why: String| {
        let _ = wire.send(&[&[FAILED][..], why.as_bytes()].concat(), &[]);
        None
    };
    let Some(channel) = fds.into_iter().next() else {
        return fail("a request without a channel".into());
    };
    let (status_read, status_write) =
        match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            Ok(pair) => pair,
            Err(e) => return fail(format!("pipe: {e}")),
        };
    // SAFETY: this process has one thread (checked when the server started, and the server
    // starts none), so the copy `fork` makes is a whole program, in which any code may run:
    // nothing is left locked by another thread. The copy never returns from this function: it
    // runs its job and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop(status_read);
        drop(status_write);
        std::process::exit(forked_child(channel, server));
    }
    if pid < 0 {
        return fail(format!("fork: {}", io::Error::last_os_error()));
    }
    drop(channel);
    let pid = Pid::from_raw(pid).expect("fork returned a positive pid");
    let pidfd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
            return fail(format!("pidfd_open: {e}"));
        }
    };
    let sent = [pidfd, status_read];
    let answer = [
        &[FORKED][..],
        &(pid.as_raw_nonzero().get() as u32).to_le_bytes(),
    ]
    .concat();
    let delivered = wire.send(&answer, &sent).is_ok();
    let [pidfd, status_read] = sent;
    drop(status_read);
    if !delivered {
        // Nobody will wait for it: end it now; the loop reaps it.
        let _ = rustix::process::pidfd_send_signal(&pidfd, Signal::KILL);
    }
    Some(Kid {
        pid,
        pidfd,
        status: status_write,
    })
}

/// The forked child: keeps only its channel, ties its life to the server's, and runs its job
/// as an executed child would. Returns the exit code.
fn forked_child(channel: OwnedFd, server: Pid) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    if rustix::process::getppid() != Some(server) {
        return 1;
    }
    // The channel becomes stdin, where an executed child finds it; every other descriptor above
    // stderr (the server's channel, the other children's pidfds and pipes) is closed.
    if rustix::stdio::dup2_stdin(channel.as_fd()).is_err() {
        return 2;
    }
    drop(channel);
    // SAFETY: this fork keeps only its stdio (stdin is now its channel): every descriptor above
    // stderr is the server's (its channel, the other children's pidfds and pipes, all owned by
    // values this fork never touches again, since it exits without returning).
    unsafe { crate::process::close_from(3) };
    crate::process::run_forked_job()
}

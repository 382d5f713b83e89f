//! The fork server behind [`StartMethod::ForkServer`](crate::StartMethod::ForkServer): Python's
//! `forkserver` start method.
//!
//! The first process started this way starts the server: this program executed again, as any
//! spawned weft child is (same executable check, parent-death signal, no inherited descriptors),
//! which stops inside [`init`](crate::init) — one thread, none of the program's own code run —
//! and waits for requests on its channel. A request carries the channel of the child to make;
//! the server forks itself, and the copy closes the server's own descriptors and runs the job
//! exactly as an executed child does, without paying for an exec and a program start. The
//! server reaps what it forks: with the pid it hands the parent a pidfd (signals that cannot
//! reach a recycled pid) and the read end of a pipe on which it writes the child's wait status
//! once it has exited.
//!
//! Forking is sound here because the server is single-threaded: it checks so before it answers
//! its first request, and it starts no thread. Its children die with it (parent-death signal), and
//! it dies with the program. When its channel closes — [`main`](crate::main) closes it at the
//! end, after waiting for the children — it takes no more requests and exits once the children
//! it forked have. A server that does not answer in time, or whose channel breaks, is retired
//! that way (never killed: its children run on) and a new one is started, once per start.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

use crate::error::ProcessError;
use crate::subprocess::ExitFd;
use crate::wire::{Frame, Wire, DEFAULT_MAX_FRAME};

/// The server's first message: it is ready (single-threaded).
const READY: u8 = b'R';
/// A request: fork a child for the channel sent with it; a second byte, 1 for a worker (calls
/// until told to stop), 0 for one job; a third byte of `HAS_*` bits, saying whether the parent's
/// working directory follows the channel as a descriptor (before the parent's stdout and
/// stderr, which always do), and whether the parent's environment follows (when it is not the
/// server's), each `KEY=value` ended by a NUL byte.
const FORK: u8 = b'F';
/// The request carries the parent's working directory (an `O_PATH` descriptor).
const HAS_CWD: u8 = 1;
/// The request carries the parent's environment.
const HAS_ENV: u8 = 2;
/// An answer: forked; the pid follows (4 bytes, little-endian), with the pidfd and the status
/// pipe.
const FORKED: u8 = b'K';
/// An answer or a first message: failed; the reason follows (UTF-8).
pub(crate) const FAILED: u8 = b'E';
/// A first message: the server cannot fork soundly in this program (it has more than one
/// thread, or cannot tell); the reason follows (UTF-8).
const REFUSED: u8 = b'T';

/// How long the parent waits for a new server to say it is ready, and for an answer to a
/// request (a fork takes a millisecond; this only bounds a server that stopped answering).
const ANSWER_LIMIT: Duration = Duration::from_secs(30);

/// How long `stop` waits for a server to exit before it kills it.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// A child forked by the server, as its parent holds it.
#[derive(Debug)]
pub(crate) struct Forked {
    pub(crate) pid: u32,
    /// For signals and for waiting.
    pub(crate) pidfd: OwnedFd,
    /// Where the server writes the child's wait status (4 bytes) once it has reaped it.
    pub(crate) status: OwnedFd,
}

/// The parent's side of a server.
struct Server {
    wire: Wire,
    process: Child,
    /// The environment the server started with (see [`environment`]): a child whose parent
    /// still has it keeps the one it forks with, sparing it the copies of the pages that
    /// rewriting its environment would touch (a sixth of a start).
    env: Vec<u8>,
}

enum Slot {
    /// No server yet (or the last one was retired).
    Idle,
    Running(Server),
    /// A server refused to start (it had more than one thread): starts fail at once with this.
    Unavailable(String),
}

static SERVER: Mutex<Slot> = Mutex::new(Slot::Idle);

/// Retired servers, each exiting once its children have; reaped by later starts and `stop`.
static RETIRED: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn spawn_error(why: impl Into<String>) -> ProcessError {
    ProcessError::Spawn(io::Error::other(why.into()))
}

/// Why a child was not forked.
pub(crate) enum ForkError {
    /// No fork server can be had in this program (one refused to start: the program starts a
    /// thread before `init`); the reason, for an error.
    Unavailable(ProcessError),
    Failed(ProcessError),
}

impl From<ForkError> for ProcessError {
    fn from(e: ForkError) -> Self {
        match e {
            ForkError::Unavailable(e) | ForkError::Failed(e) => e,
        }
    }
}

/// This process's environment as a request carries it: each `KEY=value` ended by a NUL byte.
fn environment() -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut env = Vec::new();
    for (key, value) in std::env::vars_os() {
        env.extend_from_slice(key.as_bytes());
        env.push(b'=');
        env.extend_from_slice(value.as_bytes());
        env.push(0);
    }
    env
}

/// What a spawned child would have as its stdout or stderr (`fd`) if started now: a copy of
/// this process's, or `/dev/null` where an exec would leave it closed — closed here, or
/// close-on-exec (one of weft's own descriptors that took the free number, say) — and a Rust
/// program's runtime then opens `/dev/null`.
fn inherited_stdio(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd, ProcessError> {
    match rustix::io::fcntl_getfd(fd) {
        Ok(flags) if !flags.contains(rustix::io::FdFlags::CLOEXEC) => {
            fd.try_clone_to_owned().map_err(ProcessError::Spawn)
        }
        Ok(_) | Err(Errno::BADF) => dev_null(),
        Err(e) => Err(ProcessError::Spawn(e.into())),
    }
}

fn dev_null() -> Result<OwnedFd, ProcessError> {
    rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ProcessError::Spawn(e.into()))
}

/// A fork request for a child whose channel is `channel`: besides the channel it carries what
/// the child takes from its parent at its start, as an executed child inherits it — this
/// moment's working directory, stdout, stderr and environment, not those of the server's start.
struct Request {
    serve: bool,
    /// `HAS_CWD` or not.
    has: u8,
    fds: Vec<OwnedFd>,
    env: Vec<u8>,
}

impl Request {
    fn new(channel: &OwnedFd, serve: bool) -> Result<Self, ProcessError> {
        let channel = channel.try_clone().map_err(ProcessError::Spawn)?;
        // Stdio first, before this function opens anything that could take a free stdio number.
        let stdio = [
            inherited_stdio(std::io::stdout().as_fd())?,
            inherited_stdio(std::io::stderr().as_fd())?,
        ];
        let mut has = 0;
        let mut fds = vec![channel];
        let cwd = rustix::fs::open(
            ".",
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        );
        match cwd {
            Ok(cwd) => {
                has |= HAS_CWD;
                fds.push(cwd);
            }
            // No working directory to name (removed, or a parent's search right gone): the
            // child keeps the server's.
            Err(Errno::NOENT | Errno::ACCESS) => {}
            Err(e) => return Err(ProcessError::Spawn(e.into())),
        }
        fds.extend(stdio);
        Ok(Self {
            serve,
            has,
            fds,
            env: environment(),
        })
    }

    /// The request's bytes for `server`.
    fn bytes(&self, server: &Server) -> Vec<u8> {
        if self.env == server.env {
            vec![FORK, u8::from(self.serve), self.has]
        } else {
            [
                &[FORK, u8::from(self.serve), self.has | HAS_ENV][..],
                &self.env,
            ]
            .concat()
        }
    }
}

/// Asks the server (started on first use) to fork a child whose channel is `channel`, a worker
/// if `serve`, with this process's working directory, stdout, stderr and environment. A server
/// that cannot answer is retired and replaced, once; a failure of this process (no descriptor
/// left to pass the channel) leaves the server as it is.
pub(crate) fn fork(channel: &OwnedFd, serve: bool) -> Result<Forked, ForkError> {
    reap_retired();
    let unavailable = |why: &str| ForkError::Unavailable(spawn_error(why));
    if let Slot::Unavailable(why) = &*SERVER.lock() {
        return Err(unavailable(why));
    }
    let request = Request::new(channel, serve).map_err(ForkError::Failed)?;
    let mut slot = SERVER.lock();
    let mut retried = false;
    loop {
        let server = match std::mem::replace(&mut *slot, Slot::Idle) {
            Slot::Running(server) => server,
            Slot::Unavailable(why) => {
                let error = unavailable(&why);
                *slot = Slot::Unavailable(why);
                return Err(error);
            }
            Slot::Idle => match start() {
                Ok(server) => server,
                Err(Start::Refused(why)) => {
                    let error = unavailable(&why);
                    *slot = Slot::Unavailable(why);
                    return Err(error);
                }
                Err(Start::Failed(error)) => return Err(ForkError::Failed(error)),
            },
        };
        match ask(&server, &request) {
            Ok(frame) => {
                *slot = Slot::Running(server);
                return answer(frame).map_err(ForkError::Failed);
            }
            Err(why) => {
                retire(server);
                if retried {
                    return Err(ForkError::Failed(spawn_error(why)));
                }
                retried = true;
            }
        }
    }
}

/// Sends a fork request and reads the answer; why not, if the server did not answer (gone,
/// hung, or a channel that broke).
fn ask(server: &Server, request: &Request) -> Result<Frame, String> {
    // A deadline: a request may be as large as the environment, and a stopped server takes
    // nothing.
    server
        .wire
        .send_until(
            &request.bytes(server),
            &request.fds,
            Some(Instant::now() + ANSWER_LIMIT),
        )
        .map_err(|e| format!("the fork server did not take the request: {e}"))?;
    match server.wire.recv(Some(Instant::now() + ANSWER_LIMIT)) {
        Ok(Some(frame)) => Ok(frame),
        Ok(None) => Err(format!(
            "the fork server did not answer in {ANSWER_LIMIT:?}"
        )),
        Err(e) => Err(format!("the fork server's answer was lost: {e}")),
    }
}

/// The child the server's answer describes.
fn answer(frame: Frame) -> Result<Forked, ProcessError> {
    match (
        frame.bytes.split_first(),
        <[OwnedFd; 2]>::try_from(frame.fds),
    ) {
        (Some((&FORKED, pid)), Ok([pidfd, status])) if pid.len() == 4 => Ok(Forked {
            pid: u32::from_le_bytes([pid[0], pid[1], pid[2], pid[3]]),
            pidfd,
            status,
        }),
        (Some((&FAILED, why)), _) => Err(spawn_error(format!(
            "the fork server could not fork: {}",
            String::from_utf8_lossy(why)
        ))),
        _ => Err(spawn_error("the fork server sent a malformed answer")),
    }
}

/// Closes a server's channel (it takes no more requests and exits once its children have) and
/// keeps it for reaping.
fn retire(server: Server) {
    let Server { wire, process, .. } = server;
    drop(wire);
    RETIRED.lock().push(process);
}

/// Reaps the retired servers that have exited.
fn reap_retired() {
    RETIRED
        .lock()
        .retain_mut(|p| !matches!(p.try_wait(), Ok(Some(_)) | Err(_)));
}

/// Why a server did not start.
enum Start {
    /// It refused (more than one thread): no server will start in this program.
    Refused(String),
    Failed(ProcessError),
}

/// Starts a server: this program executed in fork-server mode, waited for until it is ready.
fn start() -> Result<Server, Start> {
    let (ours, theirs) =
        crate::wire::stream_pair().map_err(|e| Start::Failed(ProcessError::Spawn(e.into())))?;
    let command = crate::process::child_command(crate::process::Mode::ForkServer, theirs.into())
        .map_err(Start::Failed)?;
    let env = environment();
    let mut process =
        crate::process::spawn(command).map_err(|e| Start::Failed(ProcessError::Spawn(e)))?;
    let wire = Wire::new(ours, DEFAULT_MAX_FRAME);
    let refused = match wire.recv(Some(Instant::now() + ANSWER_LIMIT)) {
        Ok(Some(frame)) if frame.bytes == [READY] => {
            return Ok(Server { wire, process, env });
        }
        Ok(Some(frame)) => match frame.bytes.split_first() {
            Some((&REFUSED, why)) => Start::Refused(format!(
                "the fork server did not start: {}",
                String::from_utf8_lossy(why)
            )),
            Some((&FAILED, why)) => Start::Failed(spawn_error(format!(
                "the fork server did not start: {}",
                String::from_utf8_lossy(why)
            ))),
            _ => Start::Failed(spawn_error("the fork server sent a malformed greeting")),
        },
        Ok(None) => Start::Failed(spawn_error(format!(
            "the fork server was not ready in {ANSWER_LIMIT:?}"
        ))),
        Err(e) => Start::Failed(spawn_error(format!("the fork server did not start: {e}"))),
    };
    let _ = process.kill();
    let _ = process.wait();
    Err(refused)
}

/// Ends the servers (at the end of `main`, whose children have been waited for): closes the
/// running one's channel and waits for every server to exit, killing one that takes longer
/// than `STOP_LIMIT` (a stopped process, say).
pub(crate) fn stop() {
    let running = {
        let mut slot = SERVER.lock();
        match std::mem::replace(&mut *slot, Slot::Idle) {
            Slot::Running(server) => Some(server),
            other => {
                // A refusal stays: no server can be had in this program.
                *slot = other;
                None
            }
        }
    };
    if let Some(server) = running {
        retire(server);
    }
    let servers = std::mem::take(&mut *RETIRED.lock());
    let deadline = Instant::now() + STOP_LIMIT;
    for mut process in servers {
        let mut exit = ExitFd::open(&process);
        loop {
            if !matches!(process.try_wait(), Ok(None)) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = process.kill();
                let _ = process.wait();
                break;
            }
            exit.sleep(left);
        }
    }
}

/// Reads a forked child's status from its pipe, waiting at most `timeout` (`None`: for ever).
/// `None` while the child runs. A pipe closed without a status means the server was killed,
/// which killed the child too (parent-death signal): SIGKILL.
pub(crate) fn read_status(status: &OwnedFd, timeout: Option<Duration>) -> Option<ExitStatus> {
    let killed = || Some(ExitStatus::from_raw(Signal::KILL.as_raw()));
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(crate::wire::timespec_until);
        let mut fds = [PollFd::new(status, PollFlags::IN)];
        match rustix::event::poll(&mut fds, left.as_ref()) {
            Ok(_) if !fds[0].revents().is_empty() => break,
            // A timeout, perhaps of a wait capped at `wire::MAX_POLL_WAIT`, or a signal: the
            // deadline decides.
            Ok(_) | Err(Errno::INTR) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return None;
                }
            }
            Err(_) => return killed(),
        }
    }
    let mut raw = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match rustix::io::read(status, &mut raw[got..]) {
            Ok(0) => return killed(),
            Ok(n) => got += n,
            Err(Errno::INTR) => {}
            Err(_) => return killed(),
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

/// The server's loop (in the executed server, from `child_main`): answers fork requests on
/// `wire` and reaps the children; once the parent closes the channel, waits for the children it
/// forked, then returns the exit code.
pub(crate) fn serve(wire: &Wire) -> i32 {
    let refused: Option<&[u8]> = match crate::process::thread_count() {
        Some(1) => None,
        Some(_) => Some(
            b"it has more than one thread (one started before weft_process::init, e.g. an \
              async runtime around main); use StartMethod::Spawn",
        ),
        None => Some(b"it cannot count its threads (no /proc); use StartMethod::Spawn"),
    };
    if let Some(why) = refused {
        let _ = wire.send(&[&[REFUSED][..], why].concat(), &[]);
        return 2;
    }
    // The server keeps none of the program's stdio: each child gets its stdout and stderr from
    // its request, and a reader of the program's (a pipe, `$(program)`) must not wait for the
    // server's exit after the program has moved on. Nor is a number 0-2 left free (code before
    // `init` may have closed one) for a descriptor of the server's to take (a request's, a pipe,
    // a pidfd), which a forked child would close after making it its stdio. (Stdin is
    // `/dev/null` already: the channel came on it.)
    if let Ok(null) = dev_null() {
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
        if null.as_raw_fd() <= 2 {
            // It took a free number 0-2 itself: that is where it stays.
            std::mem::forget(null);
        }
    }
    // The server must reap its children itself, even if the program ignores SIGCHLD (which an
    // exec keeps); its children get the program's whole action back (handler, flags, mask).
    // SAFETY: `sigaction` with a standard disposition (no handler code) in a single-threaded
    // process, saving the old action into a zeroed `sigaction` (all-zero is a valid value).
    let sigchld = unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        let mut saved: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, &dfl, &mut saved) != 0 {
            return 2;
        }
        saved
    };
    // Its name in `ps` (not `current_process_name`, which its children set for themselves).
    let _ = rustix::thread::set_name(c"weft-forkserver");
    if wire.send(&[READY], &[]).is_err() {
        return 2;
    }
    let server = rustix::process::getpid();
    let mut kids: Vec<Kid> = Vec::new();
    let mut open = true;
    while open || !kids.is_empty() {
        let (request, exited) = {
            let channel = wire.fd();
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(kids.len() + 1);
            if open {
                fds.push(PollFd::new(&channel, PollFlags::IN));
            }
            let first_kid = fds.len();
            fds.extend(kids.iter().map(|k| PollFd::new(&k.pidfd, PollFlags::IN)));
            // A frame already read into the channel's buffer does not make the socket readable.
            let buffered = open && wire.buffered();
            let now = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            match rustix::event::poll(&mut fds, buffered.then_some(&now)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return 2,
            }
            let exited: Vec<bool> = fds[first_kid..]
                .iter()
                .map(|f| !f.revents().is_empty())
                .collect();
            (open && (buffered || !fds[0].revents().is_empty()), exited)
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
                    if let Some(kid) = fork_one(wire, &kids, frame, server, &sigchld) {
                        kids.push(kid);
                    }
                }
                // The parent closed the channel (its `main` ended, or it retired this server)
                // or is gone: no more requests; the children still running are waited for.
                _ => open = false,
            }
        }
    }
    0
}

/// Reaps `kid` if it has exited and writes its status to its pipe; whether it was reaped.
fn reap(kid: &Kid) -> bool {
    let status = match rustix::process::waitpid(Some(kid.pid), WaitOptions::NOHANG) {
        Ok(Some((_, status))) => status.as_raw(),
        Ok(None) => return false,
        // Reaped by someone else: an exit with an unknown code, read as 0 (as for a spawned
        // child with SIGCHLD ignored, and as Python does).
        Err(_) => 0,
    };
    // The pipe has room for it (4 bytes, written once); a parent that closed its end does not
    // want it (SIGPIPE is ignored in Rust programs: the write just fails).
    let _ = rustix::io::write(&kid.status, &status.to_le_bytes());
    true
}

/// A fork request as the server reads it (see [`FORK`]).
struct Asked {
    channel: OwnedFd,
    serve: bool,
    cwd: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// `KEY=value` entries, each ended by a NUL byte; `None` to keep the server's.
    env: Option<Vec<u8>>,
}

impl Asked {
    fn parse(frame: Frame) -> Result<Self, String> {
        let Frame { bytes, fds } = frame;
        let Some((&[FORK, serve, has], env)) = bytes.split_first_chunk::<3>() else {
            return Err("a malformed request".into());
        };
        // (No descriptor arrives at a stdio number: `serve` keeps them open.)
        let mut fds = fds.into_iter();
        let mut next = || fds.next().ok_or("a request without its descriptors");
        Ok(Self {
            channel: next()?,
            serve: serve == 1,
            cwd: if has & HAS_CWD != 0 {
                Some(next()?)
            } else {
                None
            },
            stdout: next()?,
            stderr: next()?,
            env: (has & HAS_ENV != 0).then(|| env.to_vec()),
        })
    }

    /// The request's descriptors.
    fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.cwd
            .iter()
            .chain([&self.stdout, &self.stderr, &self.channel])
            .map(AsRawFd::as_raw_fd)
    }
}

/// Forks a child for the request in `frame`, answers the parent, and returns the child to
/// watch. `kids` are the children forked before (whose descriptors the new child closes),
/// `sigchld` the program's own action for SIGCHLD, which the child gets back.
fn fork_one(
    wire: &Wire,
    kids: &[Kid],
    frame: Frame,
    server: Pid,
    sigchld: &libc::sigaction,
) -> Option<Kid> {
    let fail = |why: String| {
        let _ = wire.send(&[&[FAILED][..], why.as_bytes()].concat(), &[]);
        None
    };
    let asked = match Asked::parse(frame) {
        Ok(asked) => asked,
        Err(why) => return fail(why),
    };
    let (status_read, status_write) =
        match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            Ok(pair) => pair,
            Err(e) => return fail(format!("pipe: {e}")),
        };
    // The server's own descriptors, which the child closes (a descriptor the program opened
    // before `init` is the child's as much as the server's, and stays open).
    let mut servers: Vec<RawFd> = vec![
        wire.fd().as_raw_fd(),
        status_read.as_raw_fd(),
        status_write.as_raw_fd(),
    ];
    servers.extend(
        kids.iter()
            .flat_map(|k| [k.pidfd.as_raw_fd(), k.status.as_raw_fd()]),
    );
    // SAFETY: this process has one thread (checked when the server started, and the server
    // starts none), so the copy `fork` makes is a whole program, in which any code may run:
    // nothing is left locked by another thread. The copy never returns from this block: it runs
    // its job and exits, and aborts if anything unwinds.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = catch_unwind(AssertUnwindSafe(|| {
            forked_child(&asked, &servers, server, sigchld)
        }))
        .unwrap_or_else(|_| std::process::abort());
        std::process::exit(code);
    }
    if pid < 0 {
        return fail(format!("fork: {}", io::Error::last_os_error()));
    }
    drop(asked);
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

/// The forked child: keeps its channel and the program's descriptors, closes the server's, ties
/// its life to the server's, and runs its job as an executed child would. Returns the exit code.
fn forked_child(asked: &Asked, servers: &[RawFd], server: Pid, sigchld: &libc::sigaction) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    if rustix::process::getppid() != Some(server) {
        return 1;
    }
    // SAFETY: as in `serve`: the action the program had (a standard disposition, or its own
    // handler, installed before `init`), saved by `sigaction`, in a single-threaded process.
    unsafe { libc::sigaction(libc::SIGCHLD, sigchld, std::ptr::null_mut()) };
    // The channel becomes stdin, where an executed child finds it; the parent's working
    // directory, stdout, stderr and environment of this start become the child's, as an
    // executed child inherits them.
    let stdio_set = rustix::stdio::dup2_stdin(asked.channel.as_fd()).is_ok()
        && rustix::stdio::dup2_stdout(&asked.stdout).is_ok()
        && rustix::stdio::dup2_stderr(&asked.stderr).is_ok();
    if !stdio_set {
        return 2;
    }
    if let Some(Err(e)) = asked.cwd.as_ref().map(rustix::process::fchdir) {
        eprintln!(
            "weft-process: a forked child could not enter its parent's working directory: {e}"
        );
        return 2;
    }
    if let Some(env) = &asked.env {
        set_environment(env);
    }
    for fd in servers.iter().copied().chain(asked.fds()) {
        // SAFETY: these are the server's descriptors (its channel, the status pipes and pidfds
        // of its children) and the request's, now copied to stdio: their owners are values of
        // the server's frames below this one, which this process never drops (it exits without
        // returning, and aborts on unwinding), so nothing uses or closes them again.
        unsafe { libc::close(fd) };
    }
    crate::process::run_forked_job(asked.serve)
}

/// Makes `env` (`KEY=value` entries, each ended by a NUL byte) the whole environment of this
/// process, which has one thread (a fork of the server), as changing the environment needs.
/// An entry that `setenv` cannot make (no `=`, an empty key, a key starting with `=`) is left
/// out.
fn set_environment(env: &[u8]) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    // SAFETY: this process has one thread, so nothing reads the environment meanwhile (and
    // `clearenv`, unlike removing keys one by one, cannot fail on an entry it could not name).
    unsafe { libc::clearenv() };
    for entry in env.split(|&b| b == 0) {
        // As the C library reads an entry: the key ends at the first `=` after its first byte.
        let Some(eq) = entry.iter().skip(1).position(|&b| b == b'=').map(|i| i + 1) else {
            continue;
        };
        let (key, value) = (&entry[..eq], &entry[eq + 1..]);
        if !key.contains(&b'=') {
            // SAFETY: as for `clearenv` above: this process is a fork of the server, which runs
            // only with one thread (`serve` refuses otherwise), and it started none since.
            unsafe { std::env::set_var(OsStr::from_bytes(key), OsStr::from_bytes(value)) };
        }
    }
}

//! `multiprocessing.Process`: a function run in a child process, and the `__main__` guard.
//!
//! # How a child finds its function
//! A child is the current executable started again (on Linux through `/proc/self/exe`, so a
//! binary rebuilt on disk meanwhile is not what runs; elsewhere the child checks it is the same
//! file and refuses otherwise). Its first act, inside [`init`] (or [`main`]), is to read its job
//! from the parent: a serialized argument and the function to call, given as its distance in the
//! executable from a fixed function of this crate. Same executable, same distance: the child
//! turns it back into the function pointer and calls it. That is the one `unsafe` step of the
//! crate; the identity check of the executable is what makes it sound. A child of the fork server
//! ([`StartMethod::ForkServer`], `forkserver.rs`) is a fork of such a checked child, so the same
//! holds; that module has the crate's other `unsafe` steps, the fork and the closing of
//! descriptors.

use std::any::type_name;
use std::collections::hash_map::DefaultHasher;
use std::ffi::OsString;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustix::process::{Pid, Signal};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::deadline;
use crate::error::{ConnectionError, ProcessError, WireError};
use crate::subprocess::{is_echild, returncode_of, ExitFd};
use crate::wire::{self, Frame, Outgoing, Wire, DEFAULT_MAX_FRAME, MAX_FDS};

/// The environment variable that tells a started executable it is a weft child, what kind, and how
/// to check it is the parent's executable: `<mode> <parent pid> <device> <inode>`, where the mode
/// is `v1` for a [`Process`] (one job), `w1` for a [`Worker`](crate::Worker) (calls until told
/// to stop) and `s1` for the fork server (`forkserver.rs`).
const CHILD_ENV: &str = "WEFT_PROCESS_CHILD";

/// Set once the program has called [`init`] (directly or through [`main`]).
static GUARDED: AtomicBool = AtomicBool::new(false);
static NEXT_NUMBER: AtomicU64 = AtomicU64::new(1);
static CURRENT_NAME: OnceLock<String> = OnceLock::new();
/// In a child, its place in the tree of processes (Python's `_identity`): `"3"` for the third
/// child its parent started, `"3:1"` for the first child of that one. Unset in the main process.
static IDENTITY: OnceLock<String> = OnceLock::new();

/// The name of the current process: `"MainProcess"` in a program's own process, the
/// [`Process::name`] in a child (Python's `multiprocessing.current_process().name`).
pub fn current_process_name() -> &'static str {
    CURRENT_NAME.get().map_or("MainProcess", String::as_str)
}

/// The child-process guard, for programs that do not wrap `main` in [`main`]: call it as the
/// **first line** of `main`. In the program's own process it only records that the guard is in
/// place; in a child started by [`Process::start`] it runs the child's function and exits, so
/// none of the parent's `main` runs there. Everything before the call runs in every child too,
/// as module-level code does in Python.
///
/// Unlike Python's interpreter exit, returning from a `main` guarded only by `init` does not
/// wait for the non-daemon children: every child dies with its parent (a parent-death signal),
/// so join them first, or wrap `main` in [`main`], which waits for them.
///
/// ```
/// fn main() {
///     weft_process::init();
///     // ... the program, which may start processes ...
/// }
/// ```
#[expect(
    clippy::needless_doctest_main,
    reason = "the example is the `fn main` whose first line this function must be"
)]
pub fn init() {
    if GUARDED.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Some(spec) = std::env::var_os(CHILD_ENV) {
        run_child(spec);
    }
}

/// Python's `if __name__ == "__main__":` for weft programs: dispatches a child process to its
/// function before any of `body` runs; in the program's own process runs `body`, then waits for
/// every non-daemon weft thread (as [`weft_thread::main`] does) and every non-daemon child
/// process, and terminates and reaps the daemon children — Python's exit sequence, except that a
/// daemon child still running a second after its SIGTERM is killed (Python waits for it).
/// [`weft_thread::is_exiting`] holds from the body's end until it returns, the wait for the
/// children included, so weft-executor's pools refuse submits all that time (as Python's do).
///
/// It must be the outermost call of `main`: what runs before it runs in every child too, and an
/// async runtime around it (`#[tokio::main] async fn main() { weft::main(..) }`) is built in
/// every child, which then runs its function inside that runtime, where `weft_async::run` is
/// `RunError::Nested` (and the program gets no fork server). Python's `asyncio.run(main())`
/// sits inside its guard and never runs in a child: start the runtime inside `body`
/// (`weft::main(|| weft_async::run(async_main()))`).
///
/// ```
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// fn main() {
///     weft_process::main(|| {
///         let child = weft_process::Process::new(double, 21).start().unwrap();
///         assert_eq!(child.join().unwrap(), 42);
///     })
/// }
/// ```
pub fn main<R>(body: impl FnOnce() -> R) -> R {
    init();
    // The children are waited for inside `main`'s exit, while `weft_thread::is_exiting` holds
    // (pools refuse submits), as Python joins them after `threading._shutdown`.
    let result = weft_thread::main_then(|| catch_unwind(AssertUnwindSafe(body)), finish_children);
    match result {
        Ok(value) => value,
        Err(payload) => resume_unwind(payload),
    }
}

/// What a child sends back (a [`Process`]'s whole answer; a [`Worker`](crate::Worker) sends it
/// in its own reply frames).
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Outcome {
    Ok(Vec<u8>),
    /// The function panicked: the message, and where (`file:line:column`) when known.
    Panicked(String, Option<String>),
    /// The argument (or the job) did not decode in the child.
    ArgDecode(String),
    /// The result could not be encoded or sent (over the frame limit).
    ResultEncode(String),
    BinaryChanged(String),
}

/// The job a parent sends a child.
#[derive(Serialize, Deserialize)]
struct Job {
    entry: u64,
    func: u64,
    signature: u64,
    name: String,
    /// The child's place in the tree of processes ([`IDENTITY`]).
    identity: String,
    arg: Vec<u8>,
}

/// What runs a job in the child: a `trampoline` (or a worker's chunk trampoline) instantiation.
pub(crate) type Entry = fn(usize, u64, &[u8], Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>);

/// The fixed point that function addresses are measured from.
#[inline(never)]
fn anchor() {}

pub(crate) fn anchor_address() -> usize {
    anchor as fn() as usize
}

/// The distance from `anchor` to a function, as sent to a child.
pub(crate) fn offset_of(addr: usize) -> u64 {
    addr.wrapping_sub(anchor_address()) as u64
}

/// The [`Entry`] at `offset` from `anchor`.
///
/// Only for a child that has checked it runs its parent's executable ([`child_main`] does, before
/// it reads a job; a fork server checked before forking it), with an offset the parent computed
/// with [`offset_of`] from an `Entry` value.
pub(crate) fn entry_at(offset: u64) -> Entry {
    // SAFETY: `offset` is the distance from `anchor` to an `Entry` (an instantiation of
    // `trampoline` or of a worker's chunk trampoline) in the parent, computed by `offset_of` from
    // a value of that type, and this process runs the parent's executable (checked in
    // `child_main` before any job is read, or, in a fork server's child, by the server in its own
    // `child_main` before it forked: a fork is the same program image), so the address is that
    // same function.
    unsafe { std::mem::transmute::<usize, Entry>(anchor_address().wrapping_add(offset as usize)) }
}

/// The initializer `fn()` at `offset` from `anchor`.
///
/// Only for a worker child that has checked it runs its parent's executable (as [`child_main`]
/// does before it reads its start message), with an offset the parent computed with
/// [`offset_of`] from a `fn()` value.
pub(crate) fn initializer_at(offset: u64) -> fn() {
    // SAFETY: `offset` is the distance from `anchor` to a `fn()` in the parent (the worker
    // builder computed it with `offset_of` from a value of that type, after checking it is code
    // of the executable), and this process runs the parent's executable (checked in `child_main`
    // before the start message is read), so the address is that same function.
    unsafe { std::mem::transmute::<usize, fn()>(anchor_address().wrapping_add(offset as usize)) }
}

/// The type-checked identity of `fn(A) -> R`, sent with a job and checked by the trampoline.
pub(crate) fn signature<A, R>() -> u64 {
    let mut h = DefaultHasher::new();
    type_name::<fn(A) -> R>().hash(&mut h);
    h.finish()
}

/// Runs in the child: decodes the argument, calls the function, encodes what it returned.
pub(crate) fn trampoline<A: DeserializeOwned, R: Serialize>(
    func: usize,
    expected: u64,
    arg: &[u8],
    fds: Vec<OwnedFd>,
) -> (Outcome, Vec<OwnedFd>) {
    match typed_fn::<A, R>(func, expected) {
        Some(f) => apply(arg, fds, f),
        None => signature_mismatch(),
    }
}

/// The function at address `func`, given that it was sent as a `fn(A) -> R` whose signature is
/// `expected`; `None` if the signature is not this instantiation's.
pub(crate) fn typed_fn<A, R>(func: usize, expected: u64) -> Option<fn(A) -> R> {
    if expected != signature::<A, R>() {
        return None;
    }
    // SAFETY: `func` is the address of a `fn(A) -> R` in this same executable: the parent
    // computed it from a value of that type as a distance from `anchor`, the child has checked
    // that it runs the parent's executable (so the distance is the same), and `expected` above
    // matched this instantiation's signature, so the bits are a valid function pointer of exactly
    // this type.
    Some(unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) })
}

pub(crate) fn signature_mismatch() -> (Outcome, Vec<OwnedFd>) {
    (
        Outcome::ArgDecode("the child's function signature does not match".into()),
        vec![],
    )
}

thread_local! {
    /// Where the last panic on this thread happened, recorded by the hook of
    /// [`record_panic_locations`].
    static PANICKED_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// What this thread is, on the child's main thread once it runs the program's code for the
    /// parent (`process`, `worker process`): its panics are printed below a line naming it
    /// ([`announce_panic`]).
    static ANNOUNCED_AS: std::cell::Cell<Option<&'static str>> =
        const { std::cell::Cell::new(None) };
}

/// From now on, a panic on this thread is printed below a line naming the child as `kind`.
pub(crate) fn announce_panics_as(kind: &'static str) {
    ANNOUNCED_AS.with(|a| a.set(Some(kind)));
}

/// Names the child on its stderr before a panic on its main thread (a [`Process`]'s function,
/// a worker's call or initializer) is printed: `process 'NAME' (pid N):` or `worker process
/// 'NAME' (pid N):` on a line of its own, as Python's `multiprocessing` prints `Process NAME:`
/// above a child's traceback. The hook then prints the panic as usual: std's says `thread
/// 'main'`, the child's main thread, which without the line would read as the parent's, whose
/// stderr the child shares. Nothing is printed for a panic on another thread (one the function
/// started), which names its own thread.
///
/// The line goes straight to fd 2, as std's hook writes its report: not through
/// `io::stderr()`, whose lock another thread of the child may hold (a logger keeping a
/// `StderrLock` while it waits for the main thread would hang the panic, and the child, for
/// good). A failed write (a closed stderr) is ignored, as std's hook ignores it.
fn announce_panic() {
    if let Some(kind) = ANNOUNCED_AS.try_with(std::cell::Cell::get).ok().flatten() {
        let line = format!(
            "{kind} '{}' (pid {}):\n",
            current_process_name(),
            std::process::id()
        );
        let mut rest = line.as_bytes();
        while !rest.is_empty() {
            match rustix::io::write(rustix::stdio::stderr(), rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => break,
            }
        }
    }
}

/// Wraps the panic hook of this (child) process once, so that a panic also records its location
/// for [`apply`] to report, and one on the thread running the parent's work is preceded by a
/// line naming the child ([`announce_panic`]); then the hook that was there before runs (which
/// prints, by default, as Python's child prints its traceback), a program's own hook included.
fn record_panic_locations() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info.location().map(ToString::to_string);
            let _ = PANICKED_AT.try_with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    *p = at;
                }
            });
            announce_panic();
            previous(info);
        }));
    });
}

/// Takes the location the last panic on this thread recorded.
fn take_panic_location() -> Option<String> {
    PANICKED_AT
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
        .ok()
        .flatten()
}

/// Decodes `arg`, runs `f` on it catching a panic, and encodes what it returned.
pub(crate) fn apply<T: DeserializeOwned, U: Serialize>(
    arg: &[u8],
    fds: Vec<OwnedFd>,
    f: impl FnOnce(T) -> U,
) -> (Outcome, Vec<OwnedFd>) {
    // A user `Deserialize` or `Serialize` that panics fails this call, not the whole process.
    let arg: T = match catch_unwind(AssertUnwindSafe(|| wire::decode(arg, fds))) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return (
                Outcome::ArgDecode(format!("the argument did not decode: {e}")),
                vec![],
            )
        }
        Err(payload) => {
            let why = weft_sync::into_panic_message(payload);
            return (
                Outcome::ArgDecode(format!("decoding the argument panicked: {why}")),
                vec![],
            );
        }
    };
    let _ = take_panic_location();
    match catch_unwind(AssertUnwindSafe(|| f(arg))) {
        Ok(result) => match catch_unwind(AssertUnwindSafe(|| encode_then_drop(result))) {
            Ok(Ok((bytes, fds))) => (Outcome::Ok(bytes), fds),
            Ok(Err(e)) => (
                Outcome::ResultEncode(format!("the result could not be encoded: {e}")),
                vec![],
            ),
            Err(payload) => (
                Outcome::ResultEncode(format!(
                    "encoding the result panicked: {}",
                    weft_sync::into_panic_message(payload)
                )),
                vec![],
            ),
        },
        Err(payload) => {
            // Taken before the payload is dropped: a payload whose `Drop` panics would record
            // that second panic's location over the task's.
            let location = take_panic_location();
            (
                Outcome::Panicked(
                    crate::worker::fitted(weft_sync::into_panic_message(payload)),
                    location,
                ),
                vec![],
            )
        }
    }
}

/// Encodes `result`, then drops this process's copy of it. A panic in its `Drop` is printed by
/// the panic hook and otherwise ignored, as Python ignores an exception raised in `__del__`: the
/// caller gets its own copy, and the process goes on (it used to abort, unwinding out of the
/// call).
///
/// A result carrying more descriptors than a message can is refused here, for every caller
/// (a `Process`, a `Worker`'s call or chunk): sending it would fail before anything went out.
fn encode_then_drop<U: Serialize>(result: U) -> Result<(Vec<u8>, Vec<OwnedFd>), WireError> {
    // The result's connections are dropped here, so what they read ahead goes with them.
    let encoded = wire::encode(&result).and_then(|(bytes, out)| {
        let fds = out.into_fds();
        if fds.len() > MAX_FDS {
            return Err(WireError::TooManyFds(fds.len()));
        }
        Ok((bytes, fds))
    });
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(result))) {
        weft_sync::drop_panic_payload(payload);
    }
    encoded
}

/// The identity of an executable file: device and inode.
pub(crate) fn exe_identity() -> io::Result<(u64, u64)> {
    let path = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe()?
    };
    let st = rustix::fs::stat(&path)?;
    #[allow(
        clippy::useless_conversion,
        reason = "the stat field types differ between targets"
    )]
    Ok((u64::from(st.st_dev), u64::from(st.st_ino)))
}

/// The number of threads of this process, from `/proc` (`None` without it).
pub(crate) fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

fn run_child(spec: OsString) -> ! {
    // Grandchildren started with std's Command must not take themselves for weft children.
    // `init` is documented as the first line of `main`, before any thread is started, but code
    // before it may have started one (changing the environment is then unsound), so the marker
    // goes only where the threads can be counted and there is one. Elsewhere (no `/proc`: not
    // Linux) it stays, and such a grandchild of the same program fails its dispatch.
    if thread_count() == Some(1) {
        // SAFETY: this thread is the process's only one, so no other thread reads or writes
        // the environment meanwhile.
        unsafe { std::env::remove_var(CHILD_ENV) };
    }
    let code = child_main(&spec.to_string_lossy());
    std::process::exit(code)
}

fn child_main(spec: &str) -> i32 {
    let mut words = spec.split(' ');
    let version = words.next();
    let fields: Vec<Option<u64>> = words.map(|f| f.parse().ok()).collect();
    let (
        Some(version @ (Mode::ONCE | Mode::SERVE | Mode::FORK_SERVER)),
        &[Some(parent), Some(dev), Some(ino)],
    ) = (version, &fields[..])
    else {
        eprintln!("weft-process: malformed {CHILD_ENV}; not a weft child");
        return 2;
    };
    let serve = version == Mode::SERVE;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Die with the parent; if it is already gone, stop here.
        let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
        if rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u64) != parent {
            return 1;
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = parent;
    let wire = match take_channel() {
        Ok(wire) => wire,
        Err(code) => return code,
    };
    let send = |outcome: &Outcome, fds: &[OwnedFd]| match wire::encode(outcome) {
        Ok((bytes, _)) => wire.send(&bytes, fds).is_ok(),
        Err(_) => false,
    };
    match exe_identity() {
        Ok(id) if id == (dev, ino) => {}
        other => {
            let why = match other {
                Ok(_) => "the executable on disk is not the parent's (rebuilt since it started)"
                    .to_string(),
                Err(e) => format!("cannot check the executable: {e}"),
            };
            eprintln!("weft-process: {why}");
            if serve {
                crate::worker::report_start_failure(&wire, &why);
            } else if version == Mode::FORK_SERVER {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                let _ = wire.send(
                    &[&[crate::forkserver::FAILED], why.as_bytes()].concat(),
                    &[],
                );
            } else {
                send(&Outcome::BinaryChanged(why), &[]);
            }
            return 2;
        }
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if version == Mode::FORK_SERVER {
        return crate::forkserver::serve(&wire);
    }
    run_job(wire, serve)
}

/// Takes the channel a child finds on its stdin (a socket) and gives the program `/dev/null` as
/// stdin instead, as Python does; the exit code to use when there is none.
fn take_channel() -> Result<Wire, i32> {
    let control = match rustix::io::fcntl_dupfd_cloexec(io::stdin().as_fd(), 3) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("weft-process: the child has no job channel: {e}");
            return Err(2);
        }
    };
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    Ok(Wire::new(control, DEFAULT_MAX_FRAME))
}

/// A child forked by the fork server (which checked the executable when it started; a fork is
/// the same program): reads its job (or, `serve`, a worker's start message) from the channel on
/// its stdin and runs it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn run_forked_job(serve: bool) -> i32 {
    match take_channel() {
        Ok(wire) => run_job(wire, serve),
        Err(code) => code,
    }
}

/// Reads the first message on `wire` and runs it: a job ([`Process`]), or calls until told to
/// stop (`serve`, a [`Worker`](crate::Worker)). Returns the exit code.
fn run_job(wire: Wire, serve: bool) -> i32 {
    let send = |outcome: &Outcome, fds: &[OwnedFd]| match wire::encode(outcome) {
        Ok((bytes, _)) => wire.send(&bytes, fds).is_ok(),
        Err(_) => false,
    };
    let frame = match wire.recv(None) {
        Ok(Some(frame)) => frame,
        _ => return 2,
    };
    record_panic_locations();
    if serve {
        let code = crate::worker::serve(&wire, frame);
        // Python's worker exits only after its non-daemon threads and children, and first runs
        // what `main` runs before it waits (`threading._shutdown`, which joins the pools the
        // calls left alive): `weft_thread::main`'s exit sequence.
        weft_thread::main_then(|| (), finish_children);
        return code;
    }
    let job: Job = match wire::decode(&frame.bytes, Vec::new()) {
        Ok(job) => job,
        Err(e) => {
            send(
                &Outcome::ArgDecode(format!("the job did not decode: {e}")),
                &[],
            );
            return 2;
        }
    };
    set_current_name(job.name.clone());
    adopt_identity(job.identity.clone());
    announce_panics_as("process");
    let entry = entry_at(job.entry);
    let func = anchor_address().wrapping_add(job.func as usize);
    let (outcome, fds) = entry(func, job.signature, &job.arg, frame.fds);
    let mut code = i32::from(!matches!(outcome, Outcome::Ok(_)));
    // A result over the size limit is refused before any of it is sent: say so instead. (One
    // with too many descriptors is refused earlier, by `apply`.)
    if let Ok(Err(ConnectionError::TooLarge { len, limit })) =
        wire::encode(&outcome).map(|(bytes, _)| wire.send(&bytes, &fds))
    {
        let why = format!("a result of {len} bytes is over the {limit}-byte frame limit");
        send(&Outcome::ResultEncode(why), &[]);
        code = 1;
    }
    drop(fds);
    // Python's child exits only after its non-daemon threads and children, and first runs what
    // `main` runs before it waits (`threading._shutdown`: the `before_exit` functions, with which
    // weft-executor shuts down and waits for the pools the function left alive).
    weft_thread::main_then(|| (), finish_children);
    drop(wire);
    code
}

/// Records the child's name for [`current_process_name`], and shows it in `ps` and `top` (15
/// bytes at most) instead of `exe`.
pub(crate) fn set_current_name(name: String) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(short) = std::ffi::CString::new(name.bytes().take(15).collect::<Vec<u8>>()) {
        let _ = rustix::thread::set_name(&short);
    }
    let _ = CURRENT_NAME.set(name);
}

/// What a started child does with its channel: one job ([`Process`]), or calls until told to
/// stop ([`Worker`](crate::Worker)). Its tag leads [`CHILD_ENV`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Once,
    Serve,
    /// The fork server (`forkserver.rs`): forks children on request.
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android")),
        allow(dead_code, reason = "the fork server is Linux's")
    )]
    ForkServer,
}

impl Mode {
    const ONCE: &'static str = "v1";
    const SERVE: &'static str = "w1";
    const FORK_SERVER: &'static str = "s1";

    fn tag(self) -> &'static str {
        match self {
            Self::Once => Self::ONCE,
            Self::Serve => Self::SERVE,
            Self::ForkServer => Self::FORK_SERVER,
        }
    }
}

/// Fails with [`ProcessError::NoGuard`] unless this program dispatches children (and is not
/// itself a child still before its dispatch), then reaps the abandoned children that have ended
/// (Python does so on every `start`).
pub(crate) fn check_guard() -> Result<(), ProcessError> {
    if !GUARDED.load(Ordering::SeqCst) || std::env::var_os(CHILD_ENV).is_some() {
        return Err(ProcessError::NoGuard);
    }
    reap_abandoned();
    Ok(())
}

/// The place in the tree of processes of the next child this process starts (Python's
/// `_identity`): `N` for the N-th child of the main process, `I:N` for the N-th child of a child
/// (a `Process` or a worker) whose own is `I`, so that the default names of a child's children
/// (`Process-I:N`, `Worker-I:N`) do not repeat those of its parent's, as in Python.
fn next_identity() -> String {
    let number = NEXT_NUMBER.fetch_add(1, Ordering::Relaxed);
    match IDENTITY.get() {
        Some(me) => format!("{me}:{number}"),
        None => number.to_string(),
    }
}

/// The place in the tree ([`next_identity`]) and the name of a child about to start: `name`,
/// or `<prefix>-<identity>`. A named child is numbered too, as Python numbers every process it
/// makes, so that its own children are named below it either way.
pub(crate) fn identity_and_name(prefix: &str, name: Option<&str>) -> (String, String) {
    let identity = next_identity();
    let name = name.map_or_else(|| format!("{prefix}-{identity}"), str::to_owned);
    (identity, name)
}

/// In a child (a `Process` or a worker), takes its place in the tree from its start message:
/// its own children are numbered below it from 1, as Python's `_bootstrap` restarts
/// `_process_counter` (a forked child would otherwise go on from its parent's count).
pub(crate) fn adopt_identity(identity: String) {
    let _ = IDENTITY.set(identity);
    NEXT_NUMBER.store(1, Ordering::Relaxed);
}

/// How [`Process::start`] and [`WorkerBuilder::start`](crate::WorkerBuilder::start) make the
/// child (Python's start methods, `multiprocessing.set_start_method`).
///
/// The default is [`ForkServer`](Self::ForkServer), as in Python 3.14 on Linux: a start costs
/// a fork instead of an exec and a program start (about three times faster here). Where no fork
/// server can be had — a program that starts a thread before [`init`], or a system other than
/// Linux — the default spawns instead. Either way the child sees the working directory,
/// stdout, stderr and environment its parent has when it starts it (a closed stdout or stderr
/// is `/dev/null` in the child, as a Rust program's runtime makes it).
///
/// ```
/// use weft_process::{Process, StartMethod};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     weft_process::main(|| {
///         let child = Process::new(square, 12)
///             .start_method(StartMethod::ForkServer)
///             .start()
///             .unwrap();
///         assert_eq!(child.join().unwrap(), 144);
///     })
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartMethod {
    /// This program executed again, dispatched by [`init`] to the function (Python's `spawn`):
    /// a fresh process, the cost of an exec and of the program's start.
    Spawn,
    /// A fork of the fork server (Python's `forkserver`; the default): the first such start
    /// executes this program once more as a server, which stops in [`init`] with one thread;
    /// every start then forks that server, skipping the exec and the program's start. The child
    /// runs the same executable, dispatched the same way, with the same checks, result and
    /// errors as a spawned one, and takes its parent's working directory, stdout, stderr and
    /// environment of the moment of the start, as a spawned child does. What differs: the rest
    /// of its process state is the server's, that is the program's when the server started, as
    /// with Python's forkserver — credentials, resource limits, umask, signal mask and
    /// dispositions, process group and session, nice value, CPU affinity, namespaces, the
    /// variables the loader and allocator read at a program's start (`LD_*`, `MALLOC_*`), and
    /// what code before [`init`] did, which ran once in the server, not once per child; its
    /// parent is the server, which reaps it and dies with the program, taking its children with
    /// it (the parent-death signal); besides its channel it has the descriptors the program
    /// opened before [`init`], in the server, instead of opening its own; and when its parent's
    /// environment changed since the server started, entries no `setenv` can make (a key
    /// starting with `=`) are left out of its copy. A program that starts a thread before
    /// [`init`] (an async runtime around `main`, say) cannot have a fork server: there the
    /// default spawns, and starts that choose `ForkServer` fail with [`ProcessError::Spawn`]
    /// saying so. Linux only; elsewhere it is [`Spawn`](Self::Spawn).
    ForkServer,
}

impl Default for StartMethod {
    /// [`ForkServer`](Self::ForkServer) on Linux, [`Spawn`](Self::Spawn) elsewhere.
    fn default() -> Self {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            Self::ForkServer
        } else {
            Self::Spawn
        }
    }
}

/// The start method of processes that do not choose one: `UNSET` (the fork server where one can
/// be had, else spawn), or the one [`set_start_method`] set.
static DEFAULT_METHOD: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = 0;
const SPAWN: u8 = 1;
const FORK_SERVER: u8 = 2;

/// The start method of a start whose process chose `own` (else the program's default), and
/// whether it may spawn where no fork server can be had: only if neither chose.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android")),
    allow(dead_code, reason = "the fork server is Linux's")
)]
fn resolve(own: Option<StartMethod>) -> (StartMethod, bool) {
    match (own, DEFAULT_METHOD.load(Ordering::Relaxed)) {
        (Some(method), _) => (method, false),
        (None, SPAWN) => (StartMethod::Spawn, false),
        (None, FORK_SERVER) => (StartMethod::ForkServer, false),
        (None, _) => (StartMethod::ForkServer, true),
    }
}

/// Sets the start method of every [`Process`] that does not choose one with
/// [`Process::start_method`] (Python's `multiprocessing.set_start_method`), and of every
/// [`Worker`](crate::Worker) (and so process pool) that does not choose one with
/// [`WorkerBuilder::start_method`](crate::WorkerBuilder::start_method). Once set, the fork server
/// is no longer replaced by spawning where none can be had: such starts fail. That holds for
/// any explicit choice, even of the method that is the default already
/// (`set_start_method(start_method())`, `.start_method(StartMethod::default())`): leave the
/// method unset to keep the fallback.
///
/// ```
/// assert_eq!(weft_process::start_method(), weft_process::StartMethod::default());
/// weft_process::set_start_method(weft_process::StartMethod::Spawn);
/// assert_eq!(weft_process::start_method(), weft_process::StartMethod::Spawn);
/// ```
pub fn set_start_method(method: StartMethod) {
    let code = match method {
        StartMethod::Spawn => SPAWN,
        StartMethod::ForkServer => FORK_SERVER,
    };
    DEFAULT_METHOD.store(code, Ordering::Relaxed);
}

/// The start method of processes that do not choose one (Python's
/// `multiprocessing.get_start_method`): unless set, [`StartMethod::ForkServer`] on Linux and
/// [`StartMethod::Spawn`] elsewhere (where a fork server is a spawn). Unset, the default still
/// spawns where no fork server can be had (see [`StartMethod`]); passing this value back as
/// an explicit choice gives that up.
pub fn start_method() -> StartMethod {
    match DEFAULT_METHOD.load(Ordering::Relaxed) {
        SPAWN => StartMethod::Spawn,
        FORK_SERVER => StartMethod::ForkServer,
        _ => StartMethod::default(),
    }
}

/// A function to run in a child process, with its argument (Python's
/// `multiprocessing.Process(target=f, args=(arg,))`); [`start`](Self::start) starts it.
///
/// `f` is a plain function (`fn(A) -> R`: a `fn` item or a closure that captures nothing), since
/// the child is another program run and receives nothing but the serialized argument. `A` and `R`
/// are serde types; [`Connection`](crate::Connection)s and
/// [`ProcessQueue`](crate::ProcessQueue)s may be inside `A` (or `R`).
#[must_use = "a Process does nothing until it is started"]
pub struct Process<A, R> {
    func: fn(A) -> R,
    arg: A,
    name: Option<String>,
    daemon: bool,
    method: Option<StartMethod>,
}

impl<A, R> Process<A, R>
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    /// A process that will run `func(arg)`.
    pub fn new(func: fn(A) -> R, arg: A) -> Self {
        Self {
            func,
            arg,
            name: None,
            daemon: false,
            method: None,
        }
    }

    /// How to start this process; by default [`start_method`]'s.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Names the process; the child sees it as [`current_process_name`]. The default is
    /// Python's: `Process-N` for the N-th process the program starts (named ones count too), and
    /// in a child `Process-I:N` for the N-th it starts, where `Process-I` is the child's own
    /// default name (`Process-3:1`, the first child of the third), so that no two processes of
    /// the tree get the same default name. A [`Worker`](crate::Worker)'s children, a process
    /// pool's included, are named below it the same way.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A daemon child is terminated when the parent's [`main`] ends, and killed if the parent
    /// dies; the parent's `main` waits for the other children to finish (Python's `daemon`).
    ///
    /// Two differences from Python: a daemon child that ignores SIGTERM is killed a second
    /// later, where Python's exit waits for it for ever; and a daemon child may start children
    /// of its own (Python raises `AssertionError: daemonic processes are not allowed to have
    /// children`), which die with it (the parent-death signal).
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Starts the child (Python's `start()`) with its [`StartMethod`]: re-executes this program,
    /// which [`init`] dispatches to `func(arg)` in the child, or has the fork server fork itself
    /// into such a child.
    ///
    /// # Errors
    /// A [`StartError`], which gives the `Process` back with its argument (nothing lost: a
    /// [`Connection`](crate::Connection) in it keeps its messages) and says why:
    /// [`ProcessError::NoGuard`] if this program never called [`init`] or [`main`] (the child
    /// would run the parent's `main` again; nothing is started), [`ProcessError::Encode`] (the
    /// argument's `Serialize` returned an error or panicked, or it is over a message's limits;
    /// Python's `start()` raises the pickling error), [`ProcessError::FunctionNotInExecutable`]
    /// when `func` lives in a shared library, [`ProcessError::Spawn`] when the child cannot be
    /// started, [`ProcessError::Connection`] when its job cannot be sent to it (the child is
    /// killed). A job of 64 KiB or more is sent by a helper thread, which `start` does not wait
    /// for: if that send fails, the child is killed and [`join`](ProcessHandle::join) reports
    /// it ([`ProcessError::Signaled`]). `?` turns it into the [`ProcessError`].
    pub fn start(self) -> Result<ProcessHandle<R>, StartError<A, R>> {
        match self.launch() {
            Ok(shared) => Ok(ProcessHandle {
                shared,
                _result: PhantomData,
            }),
            Err(error) => Err(StartError {
                error,
                process: self,
            }),
        }
    }

    fn launch(&self) -> Result<Arc<Shared>, ProcessError> {
        check_guard()?;
        let (arg, fds) = wire::encode_caught(Vec::new(), &self.arg)
            .map_err(ConnectionError::into_encode_error)?;
        if fds.fds().len() > MAX_FDS {
            return Err(ProcessError::Encode(format!(
                "an argument carrying {} descriptors (connections, queues) is over the {MAX_FDS} \
                 a message can carry",
                fds.fds().len()
            )));
        }
        let (identity, name) = identity_and_name("Process", self.name.as_deref());
        let entry: Entry = trampoline::<A, R>;
        let job = Job {
            entry: offset_of(entry as usize),
            func: offset_of(self.func as usize),
            signature: signature::<A, R>(),
            name: name.clone(),
            identity,
            arg,
        };
        let (job, _) = wire::encode(&job).map_err(ConnectionError::into_encode_error)?;
        if job.len() > DEFAULT_MAX_FRAME {
            return Err(ProcessError::Encode(format!(
                "an argument of {} bytes is over the {DEFAULT_MAX_FRAME}-byte frame limit",
                job.len()
            )));
        }
        check_in_executable(&[self.func as usize, entry as usize])?;
        launch(Mode::Once, self.method, name, self.daemon, job, fds)
    }
}

/// A [`Process`] that did not start (Python's `start()` raising, the `Process` object left as
/// it was): why, and the `Process` back, with its argument.
///
/// ```
/// use weft_process::{Process, ProcessError};
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// // This doctest never called `weft_process::init`: starting a child is refused.
/// let err = Process::new(double, 21).start().unwrap_err();
/// assert!(matches!(err.error(), ProcessError::NoGuard));
/// assert_eq!(err.into_arg(), 21);
/// ```
pub struct StartError<A, R> {
    error: ProcessError,
    process: Process<A, R>,
}

impl<A, R> StartError<A, R> {
    /// Why the process did not start.
    pub fn error(&self) -> &ProcessError {
        &self.error
    }

    /// The reason alone (what `?` gives for a function returning [`ProcessError`]).
    pub fn into_error(self) -> ProcessError {
        self.error
    }

    /// The process, as it was before `start`: start it again, or take it apart.
    pub fn into_process(self) -> Process<A, R> {
        self.process
    }

    /// The argument the process was made with.
    pub fn into_arg(self) -> A {
        self.process.arg
    }
}

impl<A, R> From<StartError<A, R>> for ProcessError {
    fn from(e: StartError<A, R>) -> Self {
        e.error
    }
}

/// Shows the argument; needs no `R: Debug` (the result type only appears in the function's type).
impl<A: fmt::Debug, R> fmt::Debug for Process<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("func", &self.func)
            .field("arg", &self.arg)
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("method", &self.method)
            .finish()
    }
}

impl<A, R> fmt::Debug for StartError<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<A, R> fmt::Display for StartError<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<A, R> std::error::Error for StartError<A, R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// [`ProcessError::FunctionNotInExecutable`] unless every address is code of the executable
/// itself (Linux; elsewhere the executable's identity check is all there is).
pub(crate) fn check_in_executable(addrs: &[usize]) -> Result<(), ProcessError> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if !addrs.iter().all(|&a| in_executable(a)) {
        return Err(ProcessError::FunctionNotInExecutable);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = addrs;
    Ok(())
}

/// The command that starts this program again as a weft child in `mode`, with `stdin` (its
/// channel) as stdin: the executable itself (`/proc/self/exe` on Linux), the same arguments,
/// the child's environment variable with the executable's identity, and (Linux) no inherited
/// descriptor but its stdio.
pub(crate) fn child_command(mode: Mode, stdin: Stdio) -> Result<Command, ProcessError> {
    let (dev, ino) = exe_identity().map_err(ProcessError::Spawn)?;
    let mut args = std::env::args_os();
    let exe = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().map_err(ProcessError::Spawn)?
    };
    let mut command = Command::new(exe);
    if let Some(arg0) = args.next() {
        std::os::unix::process::CommandExt::arg0(&mut command, arg0);
    }
    command
        .args(args)
        .env(
            CHILD_ENV,
            format!("{} {} {dev} {ino}", mode.tag(), std::process::id()),
        )
        .stdin(stdin);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    close_other_fds_on_exec(&mut command);
    Ok(command)
}

/// Starts a child in `mode` (this program executed again, or for [`StartMethod::ForkServer`] a
/// fork of the fork server) and sends it `first` (with `fds`, marked sent once they went, given
/// back if the child could not be started or sent them) on its channel: the socket that
/// becomes the child's stdin, the start from a thread that outlives the child (parent-death
/// signal), and registration for reaping and `main`'s exit sequence. The caller has called
/// [`check_guard`].
pub(crate) fn launch(
    mode: Mode,
    method: Option<StartMethod>,
    name: String,
    daemon: bool,
    first: Vec<u8>,
    mut fds: Outgoing,
) -> Result<Arc<Shared>, ProcessError> {
    let (ours, theirs) = wire::stream_pair().map_err(|e| ProcessError::Spawn(e.into()))?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let forked = match resolve(method) {
        (StartMethod::ForkServer, may_spawn) if mode != Mode::ForkServer => {
            match crate::forkserver::fork(&theirs, mode == Mode::Serve) {
                Ok(forked) => Some(forked),
                // The default where no fork server can be had: spawn.
                Err(crate::forkserver::ForkError::Unavailable(_)) if may_spawn => None,
                Err(e) => return Err(e.into()),
            }
        }
        _ => None,
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let (child, pid, pidfd) = if let Some(forked) = forked {
        (
            ChildProc::Forked {
                status: forked.status,
            },
            forked.pid,
            Some(forked.pidfd),
        )
    } else {
        let child =
            spawn(child_command(mode, Stdio::from(theirs))?).map_err(ProcessError::Spawn)?;
        let pidfd = Pid::from_raw(child.id() as i32).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        let pid = child.id();
        (ChildProc::Exec(child), pid, pidfd)
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let (child, pid, pidfd) = {
        let _ = method;
        let child =
            spawn(child_command(mode, Stdio::from(theirs))?).map_err(ProcessError::Spawn)?;
        let pid = child.id();
        (ChildProc::Exec(child), pid, None)
    };
    let wire = Wire::new(ours, DEFAULT_MAX_FRAME);
    let shared = Arc::new(Shared {
        pid,
        name,
        daemon,
        abandoned: AtomicBool::new(false),
        pidfd,
        wire,
        waiting: Mutex::new(()),
        state: Mutex::new(State {
            child,
            status: None,
            outcome: None,
        }),
    });
    // A job that fits the socket buffer is sent here; a larger one by a helper thread, so
    // that a child which never reads it cannot block `start`.
    if first.len() < 64 << 10 {
        if let Err(e) = shared.wire.send(&first, fds.fds()) {
            shared.kill_and_reap();
            return Err(ProcessError::Connection(e));
        }
        fds.sent();
    } else {
        let sender = Arc::clone(&shared);
        let started = std::thread::Builder::new()
            .name("weft-process-job".into())
            .spawn(move || {
                if sender.wire.send(&first, fds.fds()).is_err() {
                    // The child cannot run without its job: end it, `join` reports it.
                    let _ = sender.signal(Signal::KILL);
                } else {
                    fds.sent();
                }
            });
        if let Err(e) = started {
            shared.kill_and_reap();
            return Err(ProcessError::Spawn(e));
        }
    }
    CHILDREN.lock().push(Arc::clone(&shared));
    Ok(shared)
}

/// A started child process (Python's started `multiprocessing.Process`).
///
/// Dropping the handle does not stop the child: a non-daemon child still holds up the parent's
/// [`main`], and every child is reaped.
#[must_use = "join the process to get its result"]
pub struct ProcessHandle<R> {
    shared: Arc<Shared>,
    _result: PhantomData<fn() -> R>,
}

/// A started child: its identity, its channel and its exit, shared with the registry that reaps
/// abandoned children and runs `main`'s exit sequence.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) pid: u32,
    pub(crate) name: String,
    daemon: bool,
    /// Set when the handle is dropped without a join: the child is then reaped by a later
    /// `start` or by `main`'s exit sequence.
    pub(crate) abandoned: AtomicBool,
    /// A descriptor for the child process (Linux): waits with a deadline and signals that
    /// cannot reach a recycled pid.
    pidfd: Option<OwnedFd>,
    /// The channel: the child's stdin. A worker replies on it (the parent's end is shut for
    /// writing once the worker has its calls socket).
    pub(crate) wire: Wire,
    /// Held by the one thread waiting in [`Shared::wait_until`] (reading the channel, sleeping
    /// until the exit), so that `state` is only ever held briefly: `is_alive`, `exitcode`,
    /// `terminate` and `kill` from other threads go on meanwhile.
    waiting: Mutex<()>,
    state: Mutex<State>,
}

/// How a child is held: a process this one started, or one the fork server forked (and reaps).
#[derive(Debug)]
enum ChildProc {
    Exec(Child),
    /// The read end of the pipe on which the fork server writes the wait status.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Forked {
        status: OwnedFd,
    },
}

#[derive(Debug)]
struct State {
    child: ChildProc,
    status: Option<ExitStatus>,
    /// What the child sent, once read: the outcome, or the channel's end without one.
    outcome: Option<Result<(Outcome, Vec<OwnedFd>), ConnectionError>>,
}

impl Shared {
    /// Reads the child's outcome and waits for it to exit, until `deadline`. `false` on timeout.
    ///
    /// One thread waits at a time (`waiting`); `state` is locked only to record what was read,
    /// never across a wait.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, ProcessError> {
        let _waiting = match deadline {
            None => self.waiting.lock(),
            Some(d) => match self.waiting.try_lock_until(d) {
                Some(w) => w,
                None => return Ok(false),
            },
        };
        // The outcome first (the child may block writing it), then the end of the channel,
        // which comes when the child exits. Read in full also when the child was reaped
        // already (by `is_alive` or `exitcode`): an outcome larger than one read of the socket
        // is still in it.
        if !self.read_channel(deadline) {
            return Ok(false);
        }
        // The channel closes when the child exits, or earlier if it exec'd another program.
        self.wait_exit(deadline)
    }

    /// Receives the next frame the child sent, waiting until `deadline` (`None`: for ever):
    /// `Ok(None)` on timeout, [`ConnectionError::Closed`] once the channel has ended.
    ///
    /// The channel ends at the end of its stream, or, where the child's exit can be watched (a
    /// pidfd, Linux), once the child has exited and everything it sent has been read. A process
    /// the child forked without `exec` holds a copy of its socket, and would otherwise keep the
    /// stream open, and the child looking alive, for as long as it lives (Python watches the
    /// process's sentinel, not its pipes).
    pub(crate) fn recv_frame(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Option<Frame>, ConnectionError> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(pidfd) = &self.pidfd {
            loop {
                if wire::readable_now(pidfd.as_fd())? {
                    // It has exited: whatever it wrote is in the socket, to be read without
                    // waiting.
                    return match self.wire.recv_available()? {
                        Some(frame) => Ok(Some(frame)),
                        None => Err(ConnectionError::Closed),
                    };
                }
                match self.wire.recv_or(deadline, pidfd.as_fd())? {
                    Some(frame) => return Ok(Some(frame)),
                    // The deadline passed, or the child exited (seen at the top).
                    None if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                    None => {}
                }
            }
        }
        self.wire.recv(deadline)
    }

    /// The child's pidfd (Linux), readable once it has exited.
    pub(crate) fn exit_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// Whether the child has exited, where that can be seen without reaping it (a pidfd,
    /// Linux); `false` elsewhere, where the end of the channel says it.
    pub(crate) fn exited(&self) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(pidfd) = &self.pidfd {
            return wire::readable_now(pidfd.as_fd()).unwrap_or(false);
        }
        false
    }

    /// Reads what the child sends until the channel ends (`true`) or `deadline` passes
    /// (`false`), recording the outcome. The caller holds `waiting`.
    fn read_channel(&self, deadline: Option<Instant>) -> bool {
        loop {
            let (outcome, ended) = match self.recv_frame(deadline) {
                Ok(None) => return false,
                Ok(Some(frame)) => (
                    wire::decode::<Outcome>(&frame.bytes, Vec::new()).map(|o| (o, frame.fds)),
                    false,
                ),
                Err(ConnectionError::Closed) => return true,
                // The channel is unusable; the exit is all that is left to wait for.
                Err(e) => (Err(e), true),
            };
            let mut state = self.state.lock();
            if state.outcome.is_none() {
                state.outcome = Some(outcome);
            }
            if ended {
                return true;
            }
        }
    }

    /// The exit status if the child has exited (reaping it), without waiting.
    pub(crate) fn try_status(&self) -> Option<ExitStatus> {
        self.poll_status(false)
    }

    /// [`try_status`](Shared::try_status) for a [`Process`], whose channel carries nothing but
    /// its outcome: what the child has sent so far is read first, without waiting, so that a
    /// child blocked writing an outcome larger than the socket holds can finish and exit
    /// (Python's child exits once its function returns, and `while p.is_alive()` then `join()`
    /// must not wait for ever). A worker's channel carries its replies, which are its
    /// caller's to receive: not for a worker.
    pub(crate) fn try_status_reading_outcome(&self) -> Option<ExitStatus> {
        self.poll_status(true)
    }

    fn poll_status(&self, read_outcome: bool) -> Option<ExitStatus> {
        // A forked child's status pipe has one reader at a time: while a thread waits in
        // `wait_until`, that thread reads it as soon as the child exits (a read here could
        // leave it asleep on an empty pipe), and until then the child counts as running.
        let waiting = self.waiting.try_lock();
        if waiting.is_some() && read_outcome {
            self.read_channel(Some(Instant::now()));
        }
        let mut state = self.state.lock();
        let may_reap = waiting.is_some() || matches!(state.child, ChildProc::Exec(_));
        if state.status.is_none() && may_reap {
            state.status = try_reap(&mut state.child);
        }
        state.status
    }

    /// Waits for the child's exit until `deadline`; `false` on timeout. The caller holds
    /// `waiting`.
    fn wait_exit(&self, deadline: Option<Instant>) -> Result<bool, ProcessError> {
        let mut sleeper: Option<ExitSleeper> = None;
        loop {
            {
                let mut state = self.state.lock();
                if state.status.is_none() {
                    state.status = try_reap(&mut state.child);
                }
                if state.status.is_some() {
                    return Ok(true);
                }
                if sleeper.is_none() {
                    sleeper = Some(ExitSleeper::new(&state.child));
                }
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Ok(false);
            }
            // Sleeps until the child exits (a pidfd on Linux, the status pipe for a forked
            // child), at most `left`, without the state's lock.
            if let Some(sleeper) = sleeper.as_mut() {
                sleeper.sleep(left);
            }
        }
    }

    pub(crate) fn signal(&self, signal: Signal) -> io::Result<()> {
        let state = self.state.lock();
        if state.status.is_some() {
            return Ok(()); // already reaped: the pid may belong to someone else now
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(pidfd) = &self.pidfd {
            return match rustix::process::pidfd_send_signal(pidfd, signal) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        let pid = Pid::from_raw(self.pid as i32).ok_or_else(|| io::Error::other("no pid"))?;
        match rustix::process::kill_process(pid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn kill_and_reap(&self) {
        let mut state = self.state.lock();
        let status = match &mut state.child {
            ChildProc::Exec(child) => {
                let _ = child.kill();
                child.wait().unwrap_or_else(|_| exited_unknown())
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ChildProc::Forked { status } => {
                if let Some(pidfd) = &self.pidfd {
                    let _ = rustix::process::pidfd_send_signal(pidfd, Signal::KILL);
                }
                crate::forkserver::read_status(status, None).unwrap_or_else(exited_unknown)
            }
        };
        state.status = Some(status);
    }
}

/// What [`Shared::wait_exit`] sleeps on, made under the state's lock and used without it.
enum ExitSleeper {
    /// A process this one started: its pidfd (or a backoff).
    Exec(ExitFd),
    /// A forked child: a duplicate of its status pipe, readable once the fork server has
    /// written the status (read under the lock afterwards); `None` if it could not be
    /// duplicated (a short sleep then).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Forked(Option<OwnedFd>),
}

impl ExitSleeper {
    fn new(child: &ChildProc) -> Self {
        match child {
            ChildProc::Exec(child) => ExitSleeper::Exec(ExitFd::open(child)),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ChildProc::Forked { status } => ExitSleeper::Forked(status.try_clone().ok()),
        }
    }

    /// Sleeps until the child may have exited, at most `left`, perhaps less.
    fn sleep(&mut self, left: Duration) {
        match self {
            ExitSleeper::Exec(exit) => exit.sleep(left),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ExitSleeper::Forked(Some(status)) => {
                use rustix::event::{PollFd, PollFlags};
                // Relative: `now + left` overflows for a deadline near the clock's end.
                let timeout = crate::wire::timespec(left);
                let mut fds = [PollFd::new(status, PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ExitSleeper::Forked(None) => std::thread::sleep(left.min(Duration::from_millis(1))),
        }
    }
}

/// Reaps the child if it has exited. With SIGCHLD ignored the kernel reaps it itself and
/// `waitpid` fails with ECHILD: it has exited, with an unknown code (read as 0, as Python does).
/// A forked child's status comes from the fork server, which reaped it.
fn try_reap(child: &mut ChildProc) -> Option<ExitStatus> {
    match child {
        ChildProc::Exec(child) => match child.try_wait() {
            Ok(status) => status,
            Err(e) if is_echild(&e) => Some(exited_unknown()),
            Err(_) => None,
        },
        #[cfg(any(target_os = "linux", target_os = "android"))]
        ChildProc::Forked { status } => {
            crate::forkserver::read_status(status, Some(Duration::ZERO))
        }
    }
}

fn exited_unknown() -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus::from_raw(0)
}

impl<R: DeserializeOwned> ProcessHandle<R> {
    /// Waits for the child to finish and returns what its function returned (Python's `join()`,
    /// plus the result Python would need a queue for).
    ///
    /// # Errors
    /// Why the child gave no result: [`ProcessError::Panicked`] (Python: the child's exception),
    /// [`ProcessError::Signaled`], [`ProcessError::Exited`] without a result,
    /// [`ProcessError::Decode`] (the argument in the child, or the result here),
    /// [`ProcessError::ResultEncode`], [`ProcessError::BinaryChanged`], or
    /// [`ProcessError::Connection`] when the channel to the child failed.
    pub fn join(self) -> Result<R, ProcessError> {
        self.shared.wait_until(None)?;
        self.result()
    }

    /// Waits at most `timeout`. `Duration::MAX`, or any timeout whose deadline lies in the
    /// clock's last millisecond, waits for ever, as [`join`](Self::join) does (Python's
    /// `join(timeout)` raises `OverflowError` for a timeout that large); so do the other timed
    /// waits of this crate.
    ///
    /// # Errors
    /// `(`[`ProcessError::Timeout`]`, Some(handle))` when the child is still running: the
    /// handle comes back inside the error, so the caller can wait again, terminate it, or kill
    /// it. Otherwise `(error, None)` with an error of [`join`](Self::join).
    pub fn join_timeout(self, timeout: Duration) -> Result<R, (ProcessError, Option<Self>)> {
        match self.shared.wait_until(deadline(timeout)) {
            Ok(true) => self.result().map_err(|e| (e, None)),
            Ok(false) => Err((ProcessError::Timeout, Some(self))),
            Err(e) => Err((e, None)),
        }
    }

    fn result(self) -> Result<R, ProcessError> {
        forget_child(&self.shared);
        let mut state = self.shared.state.lock();
        let status = state.status;
        match state.outcome.take() {
            Some(Ok((Outcome::Ok(bytes), fds))) => {
                wire::decode(&bytes, fds).map_err(|e| ProcessError::Decode(e.to_string()))
            }
            Some(Ok((Outcome::Panicked(message, location), _))) => {
                Err(ProcessError::Panicked { message, location })
            }
            Some(Ok((Outcome::ArgDecode(why), _))) => Err(ProcessError::Decode(why)),
            Some(Ok((Outcome::ResultEncode(why), _))) => Err(ProcessError::ResultEncode(why)),
            Some(Ok((Outcome::BinaryChanged(why), _))) => Err(ProcessError::BinaryChanged(why)),
            // A channel cut off by a signal death (the child killed while it wrote a large
            // outcome) reports the signal, as for a child killed at any other time.
            Some(Err(e))
                if !matches!(e, ConnectionError::Closed)
                    && status.is_none_or(|s| returncode_of(s) >= 0) =>
            {
                Err(ProcessError::Connection(e))
            }
            _ => Err(match status.map(returncode_of) {
                Some(code) if code < 0 => ProcessError::Signaled { signal: -code },
                Some(code) => ProcessError::Exited { code },
                None => ProcessError::Exited { code: -1 },
            }),
        }
    }
}

impl<R> ProcessHandle<R> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether it is a daemon child.
    pub fn is_daemon(&self) -> bool {
        self.shared.daemon
    }

    /// Whether the child is still running (Python's `is_alive()`).
    pub fn is_alive(&self) -> bool {
        self.exitcode().is_none()
    }

    /// `None` while the child runs; then its exit code: 0 after the function returned, 1 after
    /// it panicked, minus the signal number if a signal killed it (Python's `exitcode`).
    ///
    /// It first reads what the child has sent so far (kept for [`join`](ProcessHandle::join)),
    /// so a child whose result is larger than the channel holds finishes sending it and exits
    /// while the parent only polls, as Python's does. [`is_alive`](ProcessHandle::is_alive) and
    /// the handle's `Debug` ask it, and read too.
    pub fn exitcode(&self) -> Option<i32> {
        self.shared.try_status_reading_outcome().map(returncode_of)
    }

    /// Asks the child to stop with SIGTERM (Python's `terminate()`); `join` then reports
    /// [`ProcessError::Signaled`] with signal 15.
    ///
    /// # Errors
    /// The OS's error when the signal cannot be sent; a child that has exited already is no
    /// error.
    pub fn terminate(&self) -> io::Result<()> {
        self.shared.signal(Signal::TERM)
    }

    /// Kills the child with SIGKILL (Python's `kill()`).
    ///
    /// # Errors
    /// As [`terminate`](Self::terminate).
    pub fn kill(&self) -> io::Result<()> {
        self.shared.signal(Signal::KILL)
    }
}

impl<R> Drop for ProcessHandle<R> {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Release);
    }
}

impl<R> std::fmt::Debug for ProcessHandle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessHandle")
            .field("name", &self.shared.name)
            .field("pid", &self.shared.pid)
            .field("daemon", &self.shared.daemon)
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

/// Every child not yet joined: `main` waits for them at the end, and abandoned ones are reaped.
static CHILDREN: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

pub(crate) fn forget_child(shared: &Arc<Shared>) {
    CHILDREN.lock().retain(|c| !Arc::ptr_eq(c, shared));
}

/// Reaps the children whose handles were dropped and which have finished (Python does this on
/// every `start`), reading whatever they sent so none stays blocked writing.
fn reap_abandoned() {
    let abandoned: Vec<Arc<Shared>> = CHILDREN
        .lock()
        .iter()
        .filter(|c| c.abandoned.load(Ordering::Acquire))
        .cloned()
        .collect();
    for child in abandoned {
        if let Ok(true) = child.wait_until(Some(Instant::now())) {
            forget_child(&child);
        }
    }
}

/// How long a daemon child has to end after SIGTERM at exit before it is killed.
const DAEMON_GRACE: Duration = Duration::from_secs(1);

/// Python's exit sequence for children: terminate the daemon ones, then wait for all. A daemon
/// child that ignores SIGTERM is killed after a grace period (Python would wait for ever).
fn finish_children() {
    let children: Vec<Arc<Shared>> = std::mem::take(&mut *CHILDREN.lock());
    for child in children.iter().filter(|c| c.daemon) {
        let _ = child.signal(Signal::TERM);
    }
    let grace = Instant::now() + DAEMON_GRACE;
    for child in &children {
        if child.daemon && !matches!(child.wait_until(Some(grace)), Ok(true)) {
            let _ = child.signal(Signal::KILL);
        }
        let _ = child.wait_until(None);
    }
    // The fork server outlives its children (they die with it); it ends last.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    crate::forkserver::stop();
}

/// Makes the child close every descriptor above stderr just before it executes (stdin is its
/// job socket), so it inherits nothing a parent opened without close-on-exec — a build tool's
/// jobserver pipe, a library's descriptor — as Python's `close_fds=True`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn close_other_fds_on_exec(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes raw `close_range`/`close` system calls, allocates nothing and
    // touches no Rust value (the descriptors it closes are the child's copies; exec follows).
    unsafe {
        command.pre_exec(|| {
            // SAFETY: in the child about to exec, every descriptor above stderr is a copy that
            // nothing will use: exec follows, and stdin (the channel) is kept.
            close_from(3);
            Ok(())
        });
    }
}

/// Closes every descriptor from `first` up: one `close_range` system call, or on kernels before
/// 5.9 the usual range one by one. Async-signal-safe (raw system calls, no allocation), for the
/// forked child before exec.
///
/// # Safety
/// The caller owns every descriptor from `first` up and uses none of them afterwards (no
/// `OwnedFd` or `File` of this process refers to one of them and is used or dropped later).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) unsafe fn close_from(first: u32) {
    // SAFETY: raw `close_range`/`close` calls on descriptor numbers, which touch no memory; the
    // descriptors are the caller's to close (the function's contract).
    unsafe {
        if libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) != 0 {
            for fd in first..4096 {
                libc::close(fd as i32);
            }
        }
    }
}

/// Whether `addr` is code of the main executable, where a child finds it at the same distance
/// from `anchor`. A function in a shared library sits at a different address in each process.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn in_executable(addr: usize) -> bool {
    static RANGES: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    let ranges = RANGES.get_or_init(|| {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let parse = |line: &str| -> Option<(usize, usize, String)> {
            let mut f = line.split_whitespace();
            let (lo, hi) = f.next()?.split_once('-')?;
            let (_perms, _offset, dev, inode) = (f.next()?, f.next()?, f.next()?, f.next()?);
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
                format!("{dev} {inode}"),
            ))
        };
        let entries: Vec<_> = maps.lines().filter_map(parse).collect();
        let anchor = anchor_address();
        let Some(object) = entries
            .iter()
            .find(|(lo, hi, id)| (*lo..*hi).contains(&anchor) && !id.ends_with(" 0"))
            .map(|e| e.2.clone())
        else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter(|e| e.2 == object)
            .map(|(lo, hi, _)| (lo, hi))
            .collect()
    });
    ranges.iter().any(|(lo, hi)| (*lo..*hi).contains(&addr))
}

/// Starts `command`. The parent-death signal of a child is tied to the *thread* that started
/// it, so children are started by the main thread or by one long-lived spawner thread.
pub(crate) fn spawn(mut command: Command) -> io::Result<Child> {
    if is_main_thread() {
        return command.spawn();
    }
    type Request = (Command, mpsc::SyncSender<io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        let started = std::thread::Builder::new()
            .name("weft-process-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        // Without a spawner thread the channel has no receiver: `send` fails below and children
        // start from the calling thread.
        drop(started);
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    let sent = spawner.lock().send((command, reply_tx));
    match sent {
        Ok(()) => reply_rx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("spawner thread gone"))),
        Err(mpsc::SendError((mut command, _))) => command.spawn(),
    }
}

fn is_main_thread() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        rustix::thread::gettid() == rustix::process::getpid()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        false
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    /// A forked child's exit wait sleeps on its status pipe for the time left until the
    /// deadline. It turned that time back into a deadline, `now + left`, which overflowed (a
    /// panic in `join_timeout`) when the deadline lay within a moment of the clock's end: a
    /// later `now` plus the time left from an earlier one. A sweep of `join_timeout`s ending in
    /// the clock's last 20 µs panicked in 1 of 198 calls; `left` here is that overflow made
    /// certain. The sleep now hands `left` to the kernel as it is, a relative timeout.
    #[test]
    fn exit_sleep_takes_a_time_left_up_to_the_clocks_end() {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        tx.write_all(b"s").unwrap(); // readable: the sleep returns at once
        let mut sleeper = ExitSleeper::Forked(Some(OwnedFd::from(rx)));
        sleeper.sleep(Duration::MAX);
        let now = Instant::now();
        let to_the_end = (0..64).rev().map(|bit| Duration::from_secs(1 << bit)).fold(
            Duration::ZERO,
            |d, step| {
                if now.checked_add(d + step).is_some() {
                    d + step
                } else {
                    d
                }
            },
        );
        sleeper.sleep(to_the_end);
    }
}

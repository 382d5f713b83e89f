//! A reusable worker process: the building block of weft-executor's `ProcessPoolExecutor`.
//!
//! A [`Worker`] is a child started like a [`Process`](crate::Process) (the same guard, executable
//! check, parent-death signal, descriptor closing and reaping) that serves many calls instead of
//! one: each [`Call`] is a plain function and its encoded argument (or a chunk of arguments),
//! tagged with an id the caller chooses, and each [`Reply`] carries that id back.
//!
//! # Channels
//! The child's stdin socket (the *control* channel) carries the start message, then only replies:
//! the parent shuts its end for writing once the start message is sent. Calls travel on a second
//! socket whose child end rides in the start message and whose parent end never leaves the
//! [`Worker`]. So the descriptor a `Worker` lends out for readiness ([`AsFd`]) cannot be written
//! to: nothing but [`Worker::send`] ever puts a call, with the function addresses it carries,
//! in front of the child.
//!
//! # Frames
//! A call is `[id: u64 LE][postcard (entry, func, signature)][postcard argument]`; a reply is
//! `[id: u64 LE][kind: u8][body]`, the body being the encoded result or a message. The argument
//! and the result are encoded once, straight into the frame.

use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::Shutdown;

/// The socket buffer asked for the calls channel (the kernel may round it).
const CALLS_BUFFER: usize = 256 << 10;
use rustix::process::Signal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::deadline;
use crate::error::{CallError, ConnectionError, ProcessError, SendCallError};
use crate::process::{
    anchor_address, apply, check_guard, check_in_executable, entry_at, forget_child,
    identity_and_name, initializer_at, launch, offset_of, set_current_name, signature,
    signature_mismatch, trampoline, typed_fn, Entry, Mode, Outcome, Shared, StartMethod,
};
use crate::subprocess::returncode_of;
use crate::wire::{self, Frame, Outgoing, Wire, DEFAULT_MAX_FRAME, MAX_FDS};

/// Reply kinds: a call's outcome, then the worker's own events.
const OK: u8 = 0;
const PANICKED: u8 = 1;
const ARGUMENT_DECODE: u8 = 2;
const RESULT_ENCODE: u8 = 3;
const RETIRED: u8 = 16;
const INITIALIZER_FAILED: u8 = 17;
const START_FAILED: u8 = 18;
/// The initializer has returned (or there is none): the worker reads its calls from now on.
/// Taken by the receiving methods in passing, never an event: see [`Worker::is_ready`].
const READY: u8 = 19;

/// The bytes before a reply's body: the id and the kind.
const REPLY_HEADER: usize = 9;

/// What a worker child is told when it starts; its calls socket rides along.
#[derive(Serialize, Deserialize)]
struct ServeSpec {
    name: String,
    /// The worker's place in the tree of processes (`next_identity`).
    identity: String,
    /// The initializer's distance from `anchor`.
    initializer: Option<u64>,
    max_tasks: Option<u64>,
    /// Send the ready notice once the initializer has returned.
    notify_ready: bool,
}

/// The part of a call frame between the id and the argument.
#[derive(Serialize, Deserialize)]
struct CallHeader {
    entry: u64,
    func: u64,
    signature: u64,
}

/// A call ready to be sent to a [`Worker`]: a plain function `fn(A) -> R` and its argument,
/// encoded (serde, postcard) when the call is made, so a call that cannot be encoded is refused
/// here rather than in the worker.
///
/// A [`Connection`](crate::Connection) in the argument takes what it had read ahead with it into
/// the call; dropping a call that was never sent gives that back to the connection.
///
/// ```
/// use weft_process::Call;
///
/// let call = Call::new(|x: u64| x + 1, &41).unwrap();
/// assert!(call.len() > 8);
/// let chunk = Call::chunk(|x: u64| x * 2, &[1, 2, 3]).unwrap();
/// assert!(chunk.len() > call.len());
/// ```
pub struct Call {
    /// The whole frame, with 8 bytes at the front for the id.
    bytes: Vec<u8>,
    /// The descriptors of connections and queues inside the argument, and what those
    /// connections had read ahead (given back to them if the call is dropped unsent).
    fds: Outgoing,
}

impl Call {
    /// A call of `func(arg)`: its [`Reply`] decodes as `R`.
    ///
    /// # Errors
    /// [`ProcessError::Encode`] when `arg` cannot be encoded (its `Serialize` returns an error
    /// or panics: the message says which, with the impl's message or the panic's), or is over
    /// the 64 MiB frame limit, or carries more than 32 connections or queues;
    /// [`ProcessError::FunctionNotInExecutable`] when `func` lives in a shared library. `arg`
    /// is borrowed, so the caller still has it, and a connection in it keeps what it had read
    /// ahead.
    pub fn new<A, R>(func: fn(A) -> R, arg: &A) -> Result<Self, ProcessError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        Self::build(func, trampoline::<A, R>, arg)
    }

    /// A call of `func` on each of `args` in turn, in one message each way: its [`Reply`]
    /// decodes as `Vec<R>` (Python's `chunksize`). A panic on any item fails the whole chunk, as
    /// an exception does in Python's chunks.
    ///
    /// # Errors
    /// As [`new`](Self::new), for any of `args`.
    pub fn chunk<A, R>(func: fn(A) -> R, args: &[A]) -> Result<Self, ProcessError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        Self::build(func, chunk_trampoline::<A, R>, args)
    }

    fn build<A, R, T: Serialize + ?Sized>(
        func: fn(A) -> R,
        entry: Entry,
        arg: &T,
    ) -> Result<Self, ProcessError> {
        check_in_executable(&[func as usize, entry as usize])?;
        let header = CallHeader {
            entry: offset_of(entry as usize),
            func: offset_of(func as usize),
            signature: signature::<A, R>(),
        };
        let mut front = Vec::with_capacity(64);
        front.extend_from_slice(&[0; 8]);
        // A `Serialize` that panics fails the call as one that returns an error does: the panic
        // does not unwind through the caller (a pool's `submit`, which gives the argument back).
        let (bytes, fds) = wire::encode_caught(front, &(header, arg))
            .map_err(ConnectionError::into_encode_error)?;
        if bytes.len() > DEFAULT_MAX_FRAME {
            return Err(ProcessError::Encode(format!(
                "a call of {} bytes is over the {DEFAULT_MAX_FRAME}-byte frame limit",
                bytes.len()
            )));
        }
        if fds.fds().len() > MAX_FDS {
            return Err(ProcessError::Encode(format!(
                "a call may carry at most {MAX_FDS} connections or queues, not {}",
                fds.fds().len()
            )));
        }
        Ok(Self { bytes, fds })
    }

    /// The size of the call's message, in bytes.
    #[allow(
        clippy::len_without_is_empty,
        reason = "a call is never empty: it always holds its id and function"
    )]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("len", &self.bytes.len())
            .field("fds", &self.fds.fds().len())
            .finish()
    }
}

/// Runs in a worker: decodes the chunk of arguments, calls the function on each, encodes the
/// results as one `Vec<R>`.
fn chunk_trampoline<A: DeserializeOwned, R: Serialize>(
    func: usize,
    expected: u64,
    arg: &[u8],
    fds: Vec<OwnedFd>,
) -> (Outcome, Vec<OwnedFd>) {
    match typed_fn::<A, R>(func, expected) {
        Some(f) => apply(arg, fds, |args: Vec<A>| {
            // Collected straight into `Results`: when `f` panics midway, the results so far are
            // dropped one at a time too.
            let mut results = Results(Vec::with_capacity(args.len()));
            for a in args {
                results.0.push(f(a));
            }
            results
        }),
        None => signature_mismatch(),
    }
}

/// A chunk's results, encoded as the `Vec<R>` they are. Dropped one at a time, each drop's panic
/// caught: a `Vec` dropping a second element after one panicked would abort the worker (see
/// `encode_then_drop` in `process.rs`).
struct Results<R>(Vec<R>);

impl<R: Serialize> Serialize for Results<R> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<R> Drop for Results<R> {
    fn drop(&mut self) {
        for result in self.0.drain(..) {
            let dropped =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(result)));
            if let Err(payload) = dropped {
                weft_sync::drop_panic_payload(payload);
            }
        }
    }
}

/// How to start a [`Worker`]: its name, an initializer, a number of calls after which it retires.
///
/// ```
/// use std::num::NonZeroU64;
///
/// fn setup() {}
///
/// fn main() {
///     weft_process::main(|| {
///         let worker = weft_process::WorkerBuilder::new()
///             .name("pool-worker-1")
///             .initializer(setup)
///             .max_tasks(NonZeroU64::new(100).unwrap())
///             .start()
///             .unwrap();
///         assert_eq!(worker.name(), "pool-worker-1");
///         worker.close();
///         assert_eq!(worker.join(), 0);
///     })
/// }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct WorkerBuilder {
    name: Option<String>,
    initializer: Option<fn()>,
    max_tasks: Option<NonZeroU64>,
    method: Option<StartMethod>,
    notify_ready: bool,
}

impl WorkerBuilder {
    /// The defaults: named `Worker-N`, no initializer, no limit on calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the worker (its [`current_process_name`](crate::current_process_name), and what
    /// `ps` shows). The default is `Worker-N`, numbered with the `Process`es this process starts
    /// (`Worker-I:N` in a child whose own number is `I`; see
    /// [`Process::name`](crate::Process::name)).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How to start the worker; by default [`start_method`](crate::start_method)'s (Python's
    /// `mp_context`). A worker forked by the fork server starts several times faster and
    /// shares the server's pages.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// A function the worker runs once when it starts, before any call (Python's
    /// `initializer`). If it panics, the worker reports
    /// [`WorkerEvent::InitializerFailed`] with the message and exits with code 1.
    pub fn initializer(mut self, initializer: fn()) -> Self {
        self.initializer = Some(initializer);
        self
    }

    /// The worker serves `max_tasks` calls (a chunk counts as one), reports
    /// [`WorkerEvent::Retired`] and exits with code 0 (Python's `max_tasks_per_child`).
    /// [`Worker::send`] refuses further calls, so none is sent to a worker that will not run it.
    pub fn max_tasks(mut self, max_tasks: NonZeroU64) -> Self {
        self.max_tasks = Some(max_tasks);
        self
    }

    /// The worker says when it is ready, that is once its initializer has returned (at once
    /// without one), before any reply: [`Worker::wait_any`] wakes for that notice, a receive
    /// takes it in passing (it is no [`WorkerEvent`]), and [`Worker::is_ready`] answers `true`
    /// from then on. For a caller that must not block writing a call larger than the socket
    /// buffer to a worker that reads nothing yet (weft-executor's `ProcessPoolExecutor`).
    /// Without it, `is_ready` stays `false`.
    ///
    /// ```
    /// use weft_process::{Call, WorkerBuilder, WorkerEvent};
    ///
    /// fn double(x: u64) -> u64 {
    ///     x * 2
    /// }
    ///
    /// fn main() {
    ///     weft_process::main(|| {
    ///         let worker = WorkerBuilder::new().notify_ready().start().unwrap();
    ///         worker.send(1, Call::new(double, &21).unwrap()).unwrap();
    ///         let WorkerEvent::Reply(reply) = worker.recv().unwrap() else { panic!() };
    ///         assert_eq!(reply.into_result::<u64>().unwrap(), 42);
    ///         assert!(worker.is_ready());
    ///         worker.close();
    ///         assert_eq!(worker.join(), 0);
    ///     })
    /// }
    /// ```
    pub fn notify_ready(mut self) -> Self {
        self.notify_ready = true;
        self
    }

    /// Starts the worker with its start method: re-executes this program, which
    /// [`init`](crate::init) dispatches to the worker loop, or has the fork server fork itself
    /// into such a worker. It does not wait for the child to be ready; calls sent meanwhile wait in
    /// its socket ([`Worker::is_ready`] says when it reads them).
    ///
    /// # Errors
    /// [`ProcessError::NoGuard`] without the child-process guard,
    /// [`ProcessError::FunctionNotInExecutable`] for an initializer in a shared library,
    /// [`ProcessError::Spawn`] when the child cannot be started, [`ProcessError::Connection`]
    /// when its start message cannot be sent to it (the child is killed).
    pub fn start(&self) -> Result<Worker, ProcessError> {
        check_guard()?;
        let initializer = match self.initializer {
            Some(f) => {
                check_in_executable(&[f as usize])?;
                Some(offset_of(f as usize))
            }
            None => None,
        };
        // The worker's own children (a `Process` a task starts) are named below it.
        let (identity, name) = identity_and_name("Worker", self.name.as_deref());
        let spec = ServeSpec {
            name: name.clone(),
            identity,
            initializer,
            max_tasks: self.max_tasks.map(NonZeroU64::get),
            notify_ready: self.notify_ready,
        };
        let (hello, _) = wire::encode(&spec).map_err(ConnectionError::into_encode_error)?;
        let (ours, theirs) = wire::stream_pair().map_err(|e| ProcessError::Spawn(e.into()))?;
        // Room for the calls a pool keeps in flight (ProcessPoolExecutor's byte budget is 96 KiB)
        // whatever the system's default socket buffer (8 KiB for Unix sockets on some systems),
        // so the pool's writes never wait on a worker that is itself writing a reply. Best
        // effort: a system that refuses keeps its default.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&ours, CALLS_BUFFER);
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&theirs, CALLS_BUFFER);
        // The child's end of the calls socket leaves this process inside the start message and
        // is closed here when `launch` returns, so the worker sees the end of its calls when the
        // `Worker` closes its own end.
        let shared = launch(
            Mode::Serve,
            self.method,
            name,
            true,
            hello,
            Outgoing::from_fds(vec![theirs]),
        )?;
        // From now on the control channel only brings replies: nothing written on the descriptor
        // this `Worker` lends out can reach the child.
        if let Err(e) = rustix::net::shutdown(shared.wire.fd(), Shutdown::Write) {
            let _ = shared.signal(Signal::KILL);
            shared.abandoned.store(true, Ordering::Release);
            return Err(ProcessError::Spawn(e.into()));
        }
        Ok(Worker {
            shared,
            calls: Wire::new(ours, DEFAULT_MAX_FRAME),
            max_tasks: self.max_tasks.map(NonZeroU64::get),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            ready: AtomicBool::new(false),
        })
    }
}

/// A child process that runs many calls, one after another: the building block of
/// weft-executor's `ProcessPoolExecutor` (Python's pool worker, `_process_worker`).
///
/// [`send`](Self::send) a [`Call`] with an id of your choosing; [`recv`](Self::recv) (or
/// [`recv_timeout`](Self::recv_timeout), [`try_recv`](Self::try_recv)) gets
/// [`WorkerEvent`]s: a [`Reply`] per call, in the order the calls were sent, and the worker's own
/// events (retired, initializer failed). A panic in a call fails that call only; the panic hook
/// prints it on the worker's stderr (std's says `thread 'main'`, the worker's main thread, with
/// the backtrace `RUST_BACKTRACE` asks for) below a line naming the worker, `worker process
/// 'NAME' (pid N):`, as for a panic of its initializer. When the worker
/// ends — closed, retired, killed, crashed — receiving reports
/// [`ConnectionError::Closed`] once every reply it sent has been received, and
/// [`exitcode`](Self::exitcode) / [`join`](Self::join) tell how it ended.
///
/// One thread can watch many workers: [`Worker::wait_any`], or the worker's descriptor
/// ([`AsFd`], readable when an event or the end can be received) in a `poll` loop of your own.
/// On Linux, `wait_any`, receiving and `join` also watch the worker's process, so its end comes
/// when it exits even if a process it forked (without `exec`) still holds its socket open;
/// the descriptor alone stays open as long as that process does.
///
/// Workers are daemon children: the parent's [`main`](crate::main) terminates those still
/// running when it ends, and every worker is reaped (by [`join`](Self::join), or after the
/// `Worker` is dropped, as an abandoned [`Process`](crate::Process) is).
///
/// ```
/// use weft_process::{Call, Worker, WorkerEvent};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     weft_process::main(|| {
///         let worker = Worker::start().unwrap();
///         for i in 0..3 {
///             worker.send(i, Call::new(square, &(i + 10)).unwrap()).unwrap();
///         }
///         for i in 0..3 {
///             let WorkerEvent::Reply(reply) = worker.recv().unwrap() else { panic!() };
///             assert_eq!(reply.id(), i);
///             assert_eq!(reply.into_result::<u64>().unwrap(), (i + 10) * (i + 10));
///         }
///         worker.close();
///         assert_eq!(worker.join(), 0);
///     })
/// }
/// ```
pub struct Worker {
    /// The child, and the control channel its replies come on.
    shared: Arc<Shared>,
    /// The parent's end of the calls socket; never lent out.
    calls: Wire,
    max_tasks: Option<u64>,
    /// Calls sent, and replies received.
    sent: AtomicU64,
    received: AtomicU64,
    /// The worker's ready notice has been received: its initializer is over.
    ready: AtomicBool,
}

/// What a [`Worker`] sends back: a call's reply, or news of the worker itself.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// The reply to the call sent with [`Reply::id`].
    Reply(Reply),
    /// The worker has served its `max_tasks` calls and is exiting with code 0.
    Retired,
    /// The initializer panicked (Python: the initializer raised); the worker ran no call and is
    /// exiting with code 1.
    InitializerFailed {
        /// The panic message.
        message: String,
    },
    /// The worker could not start serving (it found an executable other than its parent's);
    /// it is exiting with code 2.
    StartFailed {
        /// Why.
        reason: String,
    },
}

/// The reply to one [`Call`]: its id, and the result (or why there is none), decoded on demand
/// with [`into_result`](Self::into_result) so one thread can receive replies of many types.
pub struct Reply {
    id: u64,
    kind: u8,
    /// The whole frame; the body starts at `REPLY_HEADER`.
    frame: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl Reply {
    /// The id the call was sent with.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the call returned (rather than panicked or failed to decode or encode).
    pub fn is_ok(&self) -> bool {
        self.kind == OK
    }

    /// The call's result, decoded as `R` (`Vec<R>` for a [`Call::chunk`]).
    ///
    /// # Errors
    /// [`CallError::Panicked`] with the panic's message and location,
    /// [`CallError::ArgumentDecode`], [`CallError::ResultEncode`] (in the worker), and
    /// [`CallError::ResultDecode`] when the result is not an `R`.
    pub fn into_result<R: DeserializeOwned>(self) -> Result<R, CallError> {
        let body = &self.frame[REPLY_HEADER..];
        let text = || String::from_utf8_lossy(body).into_owned();
        match self.kind {
            OK => wire::decode(body, self.fds).map_err(|e| CallError::ResultDecode(e.to_string())),
            // The whole body is the pair, or else it is the message alone.
            PANICKED => Err(
                match postcard::take_from_bytes::<(String, Option<String>)>(body) {
                    Ok(((message, location), [])) => CallError::Panicked { message, location },
                    _ => CallError::Panicked {
                        message: text(),
                        location: None,
                    },
                },
            ),
            ARGUMENT_DECODE => Err(CallError::ArgumentDecode(text())),
            _ => Err(CallError::ResultEncode(text())),
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("id", &self.id)
            .field("ok", &self.is_ok())
            .field("len", &(self.frame.len() - REPLY_HEADER))
            .finish()
    }
}

impl Worker {
    /// Starts a worker with the defaults ([`WorkerBuilder::new`]).
    ///
    /// # Errors
    /// As [`WorkerBuilder::start`].
    pub fn start() -> Result<Self, ProcessError> {
        WorkerBuilder::new().start()
    }

    /// A builder, for a name, an initializer or `max_tasks`.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::new()
    }

    /// Sends `call`, tagged `id` (its [`Reply`] carries it back). Blocks while the worker's
    /// socket is full, that is while the worker has a socket buffer's worth of calls (about
    /// 200 KiB) not yet read; a pool that must never block keeps fewer than that in flight, and
    /// sends a call larger than that only to a worker that [`is_ready`](Self::is_ready) and has
    /// none in flight (one still in its initializer reads nothing; see
    /// [`WorkerBuilder::notify_ready`]).
    ///
    /// # Errors
    /// With the call back inside the error: [`SendCallError::Retiring`] once `max_tasks` calls
    /// have been sent, [`SendCallError::Disconnected`] after [`close`](Self::close) or when the
    /// worker has ended (on Linux also a send waiting for room when the worker exits, even if a
    /// process it forked holds its socket open), or when the calls socket fails otherwise (its
    /// `error` says how: [`ConnectionError::Corrupted`] after an earlier send failed midway,
    /// [`ConnectionError::Io`]).
    pub fn send(&self, id: u64, call: Call) -> Result<(), SendCallError> {
        let reserved = match self.max_tasks {
            Some(max) => self
                .sent
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_ok(),
            None => {
                self.sent.fetch_add(1, Ordering::AcqRel);
                true
            }
        };
        if !reserved {
            return Err(SendCallError::Retiring(call));
        }
        let mut call = call;
        call.bytes[..8].copy_from_slice(&id.to_le_bytes());
        // A send waiting for room gives up when the worker exits: a process it forked (without
        // `exec`) may hold the calls socket open, and would never read it.
        let exit = self.shared.exit_fd();
        match self.calls.send_or(&call.bytes, call.fds.fds(), None, exit) {
            Ok(()) => {
                // The worker has its own copies of the descriptors now, and the read-ahead.
                call.fds.sent();
                Ok(())
            }
            Err(error) => {
                self.sent.fetch_sub(1, Ordering::AcqRel);
                Err(SendCallError::Disconnected { call, error })
            }
        }
    }

    /// Receives the next event, waiting for it.
    ///
    /// # Errors
    /// [`ConnectionError::Closed`] once the worker has ended and everything it sent has been
    /// received: on Linux, once its process has exited, even if a process it forked still holds
    /// its socket open. [`ConnectionError::Corrupted`], [`ConnectionError::Truncated`] or
    /// [`ConnectionError::TooLarge`] (a frame header announcing more than 64 MiB, which a
    /// worker never sends) when the worker's replies can no longer be read;
    /// [`ConnectionError::Io`].
    pub fn recv(&self) -> Result<WorkerEvent, ConnectionError> {
        self.recv_until(None)
    }

    /// Receives the next event, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`ConnectionError::Timeout`] when no event comes in time; otherwise as
    /// [`recv`](Self::recv).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<WorkerEvent, ConnectionError> {
        self.recv_until(deadline(timeout))
    }

    /// Receives the next event, waiting until `deadline` (for ever for `None`); a ready notice
    /// on the way is taken in passing.
    fn recv_until(&self, deadline: Option<Instant>) -> Result<WorkerEvent, ConnectionError> {
        loop {
            match self.shared.recv_frame(deadline)? {
                Some(frame) => {
                    if let Some(event) = self.event(frame)? {
                        return Ok(event);
                    }
                }
                None => return Err(ConnectionError::Timeout),
            }
        }
    }

    /// Receives an event if one is there, without waiting for one: `Ok(None)` when there is none
    /// (or while another thread is receiving from this worker). At most one non-blocking read of
    /// the socket per call while the worker runs, and, when that finds no event, a look at
    /// whether it has exited; once it has, what it sent is read without waiting (several reads
    /// for a large reply, after another thread's receive, if one is under way). The worker's
    /// ready notice (see
    /// [`WorkerBuilder::notify_ready`]) is taken in passing, and the socket read once more.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), [`ConnectionError::Closed`] included.
    pub fn try_recv(&self) -> Result<Option<WorkerEvent>, ConnectionError> {
        loop {
            let frame = match self.shared.wire.try_recv()? {
                Some(frame) => frame,
                // Exited: what it sent is read without waiting, then the channel has ended.
                None if self.shared.exited() => {
                    match self.shared.recv_frame(Some(Instant::now()))? {
                        Some(frame) => frame,
                        None => return Err(ConnectionError::Closed),
                    }
                }
                None => return Ok(None),
            };
            if let Some(event) = self.event(frame)? {
                return Ok(Some(event));
            }
        }
    }

    /// Whether the worker has said that it is ready (only one started with
    /// [`WorkerBuilder::notify_ready`] does): its initializer has returned, so it reads its
    /// calls, and a [`send`](Self::send) waits no longer than the worker takes to read the call.
    /// As far as this process has received: the notice comes before any reply, and a receive
    /// ([`recv`](Self::recv), [`try_recv`](Self::try_recv), …) takes it in passing.
    ///
    /// ```
    /// use weft_process::{Worker, WorkerBuilder};
    ///
    /// fn main() {
    ///     weft_process::main(|| {
    ///         let worker = WorkerBuilder::new().notify_ready().start().unwrap();
    ///         while !worker.is_ready() {
    ///             Worker::wait_any(&[&worker], None).unwrap();
    ///             assert!(worker.try_recv().unwrap().is_none());
    ///         }
    ///         worker.close();
    ///         assert_eq!(worker.join(), 0);
    ///     })
    /// }
    /// ```
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The event a frame carries; `None` for the ready notice, which is recorded.
    fn event(&self, frame: Frame) -> Result<Option<WorkerEvent>, ConnectionError> {
        let Frame { bytes, fds } = frame;
        let Some((id, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(ConnectionError::Corrupted(
                "a worker's reply is too short".into(),
            ));
        };
        let id = u64::from_le_bytes(*id);
        let Some((&kind, body)) = rest.split_first() else {
            return Err(ConnectionError::Corrupted(
                "a worker's reply is too short".into(),
            ));
        };
        let text = || String::from_utf8_lossy(body).into_owned();
        Ok(Some(match kind {
            OK | PANICKED | ARGUMENT_DECODE | RESULT_ENCODE => {
                self.received.fetch_add(1, Ordering::AcqRel);
                WorkerEvent::Reply(Reply {
                    id,
                    kind,
                    frame: bytes,
                    fds,
                })
            }
            RETIRED => WorkerEvent::Retired,
            INITIALIZER_FAILED => WorkerEvent::InitializerFailed { message: text() },
            START_FAILED => WorkerEvent::StartFailed { reason: text() },
            READY => {
                self.ready.store(true, Ordering::Release);
                return Ok(None);
            }
            other => {
                return Err(ConnectionError::Corrupted(format!(
                    "a worker's reply of unknown kind {other}"
                )))
            }
        }))
    }

    /// Waits until at least one of `workers` has an event (or its end) to receive, at most
    /// `timeout` (`None`: for ever), and returns their indices in `workers` (empty on timeout).
    /// Receive from each with [`try_recv`](Self::try_recv) until it gives `None` before waiting
    /// again: this looks at what is buffered, then `poll`s the sockets. A worker's ready notice
    /// ([`WorkerBuilder::notify_ready`]) wakes it too, with no event to receive.
    ///
    /// With no workers it sleeps for the timeout and returns an empty list, as Python's
    /// `multiprocessing.connection.wait([], timeout)` does.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] for no workers and no timeout (or one too long for the
    /// clock, such as `Duration::MAX`, which waits for ever here as in every timed wait of the
    /// crate), which nothing could ever end (Python's waits for ever, or raises
    /// `OverflowError`); the error of `poll(2)` otherwise.
    pub fn wait_any(workers: &[&Worker], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
        let deadline = timeout.and_then(deadline);
        if workers.is_empty() && deadline.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no workers and no timeout given to Worker::wait_any: it would wait for ever",
            ));
        }
        let buffered: Vec<usize> = (0..workers.len())
            .filter(|&i| workers[i].shared.wire.buffered())
            .collect();
        if !buffered.is_empty() {
            return Ok(buffered);
        }
        // Each worker's socket, and its pidfd where there is one: a worker that has exited is
        // ready (its end), even while a process it forked holds the socket open.
        let fds: Vec<(usize, BorrowedFd<'_>)> = workers
            .iter()
            .enumerate()
            .flat_map(|(i, w)| {
                std::iter::once((i, w.shared.wire.fd())).chain(w.shared.exit_fd().map(|fd| (i, fd)))
            })
            .collect();
        loop {
            let mut set: Vec<PollFd<'_>> = fds
                .iter()
                .map(|(_, fd)| PollFd::new(fd, PollFlags::IN))
                .collect();
            let timeout = deadline.map(wire::timespec_until);
            match poll(&mut set, timeout.as_ref()) {
                Ok(0) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Vec::new());
                    }
                }
                Ok(_) => {
                    let mut ready: Vec<usize> = (0..set.len())
                        .filter(|&k| !set[k].revents().is_empty())
                        .map(|k| fds[k].0)
                        .collect();
                    ready.dedup();
                    return Ok(ready);
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Calls sent and not yet replied to (as far as this process has received).
    pub fn in_flight(&self) -> u64 {
        self.sent
            .load(Ordering::Acquire)
            .saturating_sub(self.received.load(Ordering::Acquire))
    }

    /// Calls sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// The `max_tasks` the worker was started with.
    pub fn max_tasks(&self) -> Option<u64> {
        self.max_tasks
    }

    /// Tells the worker that no more calls will come: it runs those already sent, replies to
    /// them, and exits with code 0 (then receiving reports [`ConnectionError::Closed`]). Later
    /// sends fail. A clean stop is `close` then [`join`](Self::join).
    pub fn close(&self) {
        let _ = rustix::net::shutdown(self.calls.fd(), Shutdown::Write);
    }

    /// Waits for the worker to exit and reaps it, then returns its exit code (see
    /// [`exitcode`](Self::exitcode)). Replies not yet received are read and discarded, so a
    /// worker blocked writing them can finish: receive what you want first, and do not receive
    /// from another thread meanwhile. Waits for ever unless the worker was closed, has retired,
    /// or was terminated or killed.
    pub fn join(&self) -> i32 {
        let _ = self.shared.wait_until(None);
        self.reaped()
    }

    /// As [`join`](Self::join), waiting at most `timeout`: `None` if the worker still runs.
    pub fn join_timeout(&self, timeout: Duration) -> Option<i32> {
        match self.shared.wait_until(deadline(timeout)) {
            Ok(true) => Some(self.reaped()),
            _ => None,
        }
    }

    fn reaped(&self) -> i32 {
        forget_child(&self.shared);
        self.shared.try_status().map_or(-1, returncode_of)
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether the worker process is still running (Python's `is_alive()`).
    pub fn is_alive(&self) -> bool {
        self.exitcode().is_none()
    }

    /// `None` while the worker runs; then its exit code: 0 after it was closed or retired, 1
    /// after its initializer panicked, minus the signal number if a signal killed it.
    ///
    /// While another thread waits in [`join`](Worker::join) or
    /// [`join_timeout`](Worker::join_timeout), a forked worker's exit is read by that thread
    /// (it has the only reader of the fork server's report), so this answers `None` until the
    /// join has seen the exit: at once when the worker exits (off Linux, not while the join
    /// still reads a channel that a process the worker forked holds open).
    pub fn exitcode(&self) -> Option<i32> {
        self.shared.try_status().map(returncode_of)
    }

    /// Asks the worker to stop with SIGTERM (Python's `terminate()`).
    ///
    /// # Errors
    /// The OS's error when the signal cannot be sent; a worker that has exited already is no
    /// error.
    pub fn terminate(&self) -> io::Result<()> {
        self.shared.signal(Signal::TERM)
    }

    /// Kills the worker with SIGKILL (Python's `kill()`).
    ///
    /// # Errors
    /// As [`terminate`](Self::terminate).
    pub fn kill(&self) -> io::Result<()> {
        self.shared.signal(Signal::KILL)
    }
}

/// The control channel: readable when an event, or the worker's end, can be received. It is shut
/// for writing, so it is only good for `poll`ing (reading it directly desynchronises the
/// worker's replies, which then fail as [`ConnectionError::Corrupted`]). A process the worker
/// forked without `exec` keeps it open after the worker's exit, so that exit does not make it
/// readable: [`Worker::wait_any`] also watches the worker's process (Linux).
impl AsFd for Worker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.wire.fd()
    }
}

impl Drop for Worker {
    /// Closes the worker and stops listening: it ends after its current call (its next reply
    /// cannot be sent), and is reaped later, as an abandoned [`Process`](crate::Process) is.
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(self.shared.wire.fd(), Shutdown::Read);
        self.shared.abandoned.store(true, Ordering::Release);
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.shared.name)
            .field("pid", &self.shared.pid)
            .field("in_flight", &self.in_flight())
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

// ---- the child's side ----

/// Tells the parent the worker cannot start serving (on the control channel, in reply form).
pub(crate) fn report_start_failure(control: &Wire, why: &str) {
    let _ = send_reply(
        control,
        &mut Vec::new(),
        0,
        START_FAILED,
        why.as_bytes(),
        &[],
    );
}

/// The worker loop, in the child: runs the initializer, then each call as it arrives, until the
/// calls socket ends (exit code 0), `max_tasks` calls have been served (0), the parent stops
/// listening (0), or the initializer panics (1). `start` is the start message.
pub(crate) fn serve(control: &Wire, start: Frame) -> i32 {
    // From here on this thread's panics are the worker's.
    crate::process::announce_panics_as("worker process");
    let spec: ServeSpec = match wire::decode(&start.bytes, Vec::new()) {
        Ok(spec) => spec,
        Err(e) => {
            report_start_failure(control, &format!("the start message did not decode: {e}"));
            return 2;
        }
    };
    let Some(calls) = start.fds.into_iter().next() else {
        report_start_failure(control, "the start message brought no calls socket");
        return 2;
    };
    let calls = Wire::new(calls, DEFAULT_MAX_FRAME);
    set_current_name(spec.name);
    crate::process::adopt_identity(spec.identity);
    let mut out = Vec::with_capacity(256);
    if let Some(offset) = spec.initializer {
        let initializer = initializer_at(offset);
        if let Err(payload) = catch_unwind(initializer) {
            let message = weft_sync::into_panic_message(payload);
            let _ = send_reply(
                control,
                &mut out,
                0,
                INITIALIZER_FAILED,
                fitted(message).as_bytes(),
                &[],
            );
            return 1;
        }
    }
    // Before any reply: the parent may now send calls of any size, which this loop reads.
    if spec.notify_ready && send_reply(control, &mut out, 0, READY, &[], &[]).is_err() {
        // The parent no longer listens (it dropped the worker): stop here.
        return 0;
    }
    let mut served = 0u64;
    loop {
        let frame = match calls.recv(None) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(ConnectionError::Closed) => return 0,
            // A stream that is no longer made of whole calls cannot be served further.
            Err(_) => return 2,
        };
        let Some((id, rest)) = frame.bytes.split_first_chunk::<8>() else {
            return 2;
        };
        let id = u64::from_le_bytes(*id);
        let (outcome, fds) = match postcard::take_from_bytes::<CallHeader>(rest) {
            Ok((header, arg)) => {
                let entry = entry_at(header.entry);
                let func = anchor_address().wrapping_add(header.func as usize);
                entry(func, header.signature, arg, frame.fds)
            }
            Err(e) => (
                Outcome::ArgDecode(format!("the call did not decode: {e}")),
                Vec::new(),
            ),
        };
        let panicked;
        let (kind, body) = match &outcome {
            Outcome::Ok(bytes) => (OK, bytes.as_slice()),
            Outcome::Panicked(m, at) => {
                // The message and where: `into_result` decodes both (or takes the bytes as the
                // message, were the encoding ever to fail).
                // Two strings, no nesting: postcard's own `Vec` writer copies them whole. (`apply`
                // has cut a message over the frame limit.)
                panicked = postcard::to_stdvec(&(m.as_str(), at.as_deref()))
                    .unwrap_or_else(|_| m.as_bytes().to_vec());
                (PANICKED, panicked.as_slice())
            }
            Outcome::ArgDecode(m) => (ARGUMENT_DECODE, m.as_bytes()),
            Outcome::ResultEncode(m) | Outcome::BinaryChanged(m) => (RESULT_ENCODE, m.as_bytes()),
        };
        let sent = match send_reply(control, &mut out, id, kind, body, &fds) {
            Err(ConnectionError::TooLarge { limit, .. }) => {
                let why = format!(
                    "a result of {} bytes (with its {REPLY_HEADER}-byte header) is over the \
                     {limit}-byte frame limit",
                    body.len() + REPLY_HEADER
                );
                send_reply(control, &mut out, id, RESULT_ENCODE, why.as_bytes(), &[])
            }
            other => other,
        };
        if sent.is_err() {
            // The parent no longer listens (it dropped the worker): stop here.
            return 0;
        }
        drop(fds);
        served += 1;
        if spec.max_tasks == Some(served) {
            let _ = send_reply(control, &mut out, 0, RETIRED, &[], &[]);
            return 0;
        }
    }
}

/// The longest panic message a reply carries: the frame limit, less room for the reply's header,
/// the panic's location and the note of what was cut.
const MAX_MESSAGE: usize = DEFAULT_MAX_FRAME - (64 << 10);

/// A panic message that fits in a reply: `message` itself, or, over [`MAX_MESSAGE`] bytes, its
/// start with a note of how many bytes were cut, so that such a panic is still reported as one
/// (rather than as a result over the frame limit). For a call's panic in a worker or a
/// [`Process`](crate::Process) (`apply`), and an initializer's.
pub(crate) fn fitted(mut message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = message.len() - end;
    message.truncate(end);
    message.push_str(&format!("... ({cut} more bytes cut)"));
    message
}

fn send_reply(
    control: &Wire,
    out: &mut Vec<u8>,
    id: u64,
    kind: u8,
    body: &[u8],
    fds: &[OwnedFd],
) -> Result<(), ConnectionError> {
    out.clear();
    out.extend_from_slice(&id.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    let sent = control.send(out, fds);
    // Give back the memory of an exceptionally large reply.
    if out.capacity() > 1 << 20 {
        *out = Vec::with_capacity(256);
    }
    sent
}

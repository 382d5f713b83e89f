//! The excepthook: how a panic that ends a weft thread is reported (Python's
//! `threading.excepthook`).

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::Panicked;

type Hook = Arc<dyn Fn(&Panicked) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);
/// Whether weft's panic hook wraps the process's (see [`install`]).
static INSTALLED: AtomicBool = AtomicBool::new(false);
static INSTALLING: Mutex<()> = Mutex::new(());

thread_local! {
    /// Set while a weft thread runs its body: panics there are reported by the excepthook when
    /// they end the thread, not printed by the panic hook.
    static IN_BODY: Cell<bool> = const { Cell::new(false) };
    /// The panics recorded in this thread's body since it last took one, the newest last (at
    /// most [`KEPT`]): the last is the one that ends the thread, and all are printed if the
    /// process aborts before the excepthook could run.
    static RECORDED: RefCell<Vec<Recorded>> = const { RefCell::new(Vec::new()) };
    /// How many panics this thread has recorded: the number of the next one (so that
    /// [`catch_panic`] can tell its own from those recorded before it).
    static RECORDED_COUNT: Cell<u64> = const { Cell::new(0) };
}

/// A panic in a weft thread body, as the panic hook saw it.
struct Recorded {
    /// Its number among this thread's recorded panics (see `RECORDED_COUNT`).
    number: u64,
    location: Option<String>,
    message: String,
    /// Captured in the hook, at the panic's depth of stack, but only formatted (symbolized, which
    /// takes far more stack) once the body has unwound: a thread started with a small stack must
    /// not overflow it reporting a panic.
    backtrace: Option<(std::backtrace::Backtrace, BacktraceStyle)>,
}

/// How many recorded panics a thread keeps for the abort report.
const KEPT: usize = 4;

/// How the messages of core's and std's panics that cannot unwind begin: a panic while unwinding
/// (from a destructor) or out of a function that must not unwind, and the checks of debug builds
/// (an unsafe function's preconditions, a misaligned or null pointer read, an invalid enum
/// value, overlapping copies) and the checks of `mem::zeroed` and `MaybeUninit` (a type that may
/// not be zeroed, left uninitialized, or made at all). The process aborts after the hook. (std's
/// `PanicHookInfo::can_unwind` would say it, but is not stable; the list follows std's texts,
/// and a user panic whose message begins the same is taken for one of them: printed at once, as
/// well as reported.)
const NOT_UNWINDING: [&str; 13] = [
    "panic in a destructor during cleanup",
    "panic in a function that cannot unwind",
    "unsafe precondition(s) violated",
    "misaligned pointer dereference",
    "null pointer dereference occurred",
    "trying to construct an enum from an invalid value",
    "attempted to zero-initialize type",
    "attempted to leave type",
    "attempted to instantiate uninhabited type",
    "is_nonoverlapping:",
    "failed requires check",
    "failed ensures check",
    "std::process::exit called re-entrantly",
];

/// Whether a panic with `message` aborts the process after the hook.
fn cannot_unwind(message: &str) -> bool {
    NOT_UNWINDING.iter().any(|start| message.starts_with(start))
}

/// Whether panics carry a backtrace, and in which format: what `RUST_BACKTRACE` says, as for
/// std's own panic messages (`0` or unset: none; `full`: the full format; anything else: the
/// short one). Read once, as std reads it. (`Backtrace::capture` would read
/// `RUST_LIB_BACKTRACE` first, which is for the backtraces of error values.)
fn backtrace_style() -> Option<BacktraceStyle> {
    static STYLE: std::sync::OnceLock<Option<BacktraceStyle>> = std::sync::OnceLock::new();
    *STYLE.get_or_init(|| match std::env::var_os("RUST_BACKTRACE")?.to_str() {
        Some("0") => None,
        Some("full") => Some(BacktraceStyle::Full),
        _ => Some(BacktraceStyle::Short),
    })
}

/// The two formats of std's panic backtraces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BacktraceStyle {
    Short,
    Full,
}

/// Replaces the function that reports a panic ending a weft thread (Python's
/// `threading.excepthook = f`). It runs once per such panic, in the thread that panicked, after
/// the thread's body has unwound; [`ThreadHandle::join`](crate::ThreadHandle::join) still returns
/// the panic. A panic inside the hook itself is caught, and printed by the process's panic hook
/// (as Python falls back to `sys.excepthook`); the thread still ends as it would have.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = Arc::clone(&seen);
/// weft_thread::set_excepthook(move |p| s.lock().unwrap().push(p.thread_name().to_owned()));
/// let h = weft_thread::Thread::new(|| panic!("x")).name("w1").start().unwrap();
/// assert!(h.join().is_err());
/// assert_eq!(*seen.lock().unwrap(), ["w1"]);
/// weft_thread::reset_excepthook();
/// ```
pub fn set_excepthook(hook: impl Fn(&Panicked) + Send + Sync + 'static) {
    *HOOK.write() = Some(Arc::new(hook));
}

/// Restores the default excepthook, [`default_excepthook`].
///
/// ```
/// weft_thread::set_excepthook(|_| {});
/// weft_thread::reset_excepthook();
/// ```
pub fn reset_excepthook() {
    *HOOK.write() = None;
}

/// The default excepthook (Python's `threading.__excepthook__`): prints to stderr
///
/// ```text
/// Exception in thread NAME:
/// panicked at src/main.rs:10:5:
/// MESSAGE
/// ```
///
/// followed by the backtrace when `RUST_BACKTRACE` asked for one (in the full format for
/// `RUST_BACKTRACE=full`), as std's panic messages.
///
/// ```
/// weft_thread::set_excepthook(|p| {
///     if p.message() != "expected" {
///         weft_thread::default_excepthook(p); // print the unexpected ones as usual
///     }
/// });
/// # let h = weft_thread::spawn(|| panic!("expected")).unwrap();
/// # assert!(h.join().is_err());
/// # weft_thread::reset_excepthook();
/// ```
pub fn default_excepthook(panic: &Panicked) {
    let mut text = format!("Exception in thread {}:\n", panic.thread_name());
    if let Some(location) = panic.location() {
        text.push_str(&format!("panicked at {location}:\n"));
    }
    text.push_str(panic.message());
    text.push('\n');
    if let Some(backtrace) = panic.backtrace() {
        text.push_str(&format!("stack backtrace:\n{backtrace}\n"));
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Wraps the process's panic hook once, so that panics inside weft thread bodies record their
/// location instead of being printed; every other panic goes to the hook that was there before.
///
/// Panics that end the process before the excepthook can report them go to that hook too: all
/// panics under `panic = "abort"`, and a panic that cannot unwind (a destructor panicking
/// during unwinding), which is printed after the body's panics recorded before it.
///
/// Not from a panicking thread, where std forbids changing the hook: a thread started from a
/// destructor during unwinding runs without it (its panics are printed as well as reported),
/// and a later start installs it.
#[inline]
pub(crate) fn install() {
    // Inlined: `catch_panic` calls this once per call, and it is only a load once installed.
    if !INSTALLED.load(Ordering::Acquire) {
        install_slow();
    }
}

#[cold]
fn install_slow() {
    if std::thread::panicking() {
        return;
    }
    let _installing = INSTALLING.lock();
    if INSTALLED.load(Ordering::Acquire) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        let aborting = cfg!(panic = "abort") || message.is_some_and(cannot_unwind);
        if !IN_BODY.with(Cell::get) {
            previous(info);
        } else if aborting {
            print_recorded();
            previous(info);
        } else {
            let location = info.location().map(|l| l.to_string());
            let backtrace =
                backtrace_style().map(|style| (std::backtrace::Backtrace::force_capture(), style));
            let number = RECORDED_COUNT.replace(RECORDED_COUNT.get() + 1);
            let _ = RECORDED.try_with(|r| {
                let mut r = r.borrow_mut();
                if r.len() == KEPT {
                    r.remove(0);
                }
                r.push(Recorded {
                    number,
                    location,
                    message: message.unwrap_or("Box<dyn Any>").to_owned(),
                    backtrace,
                });
            });
        }
    }));
    INSTALLED.store(true, Ordering::Release);
}

/// Prints the panics recorded in this thread's body and not yet reported: the process is about
/// to abort, and the excepthook will not run.
fn print_recorded() {
    let recorded = RECORDED.try_with(|r| std::mem::take(&mut *r.borrow_mut()));
    let name = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    let mut text = String::new();
    for Recorded {
        location, message, ..
    } in recorded.unwrap_or_default()
    {
        let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
        text.push_str(&format!(
            "thread '{name}' panicked{at} (earlier in its body; caught, or not yet reported):\n{message}\n"
        ));
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Marks the current thread as running (or no longer running) a weft thread body.
pub(crate) fn set_in_body(value: bool) {
    IN_BODY.with(|b| b.set(value));
}

/// The location and backtrace of the panic that ended this thread's body, with the message
/// `message`: the newest panic recorded with that message text (a panic caught in a destructor
/// while the body unwound is recorded after it). A body that caught a panic and then raised
/// another payload with `resume_unwind` (which skips the panic hook) ends with a panic nobody
/// recorded: it gets no location, unless a caught panic had the same text, whose location it
/// then gets (payloads that are not strings all read `Box<dyn Any>`). Only the last
/// [`KEPT`] panics are kept.
pub(crate) fn take_last_panic(message: &str) -> (Option<String>, Option<String>) {
    RECORDED
        .try_with(|r| {
            let mut recorded = std::mem::take(&mut *r.borrow_mut());
            let at = recorded.iter().rposition(|p| p.message == message)?;
            let last = recorded.swap_remove(at);
            let backtrace = last.backtrace_text();
            Some((last.location, backtrace))
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl Recorded {
    /// The backtrace, formatted (symbolized) in the style `RUST_BACKTRACE` asked for.
    fn backtrace_text(&self) -> Option<String> {
        self.backtrace.as_ref().map(|(b, style)| match style {
            BacktraceStyle::Short => format!("{b}"),
            BacktraceStyle::Full => format!("{b:#}"),
        })
    }
}

/// Runs `f` and catches its panic, as [`std::panic::catch_unwind`] does, but the panic hook
/// does not print it: its location, message (and backtrace, when `RUST_BACKTRACE` asks for one)
/// come back in the [`Panicked`], as a weft thread body's do. For code that hands a panic to
/// whoever waits for the result, as Python hands over an exception (weft-executor's thread
/// pool runs its tasks so: `future.exception()` has the traceback, and nothing is printed).
///
/// - Panics that `f` catches itself are not printed either (Python prints no exception that
///   was caught); a panic that ends the process (under `panic = "abort"`, or one that cannot
///   unwind) is printed, after the ones `f` caught before it, as in a weft thread.
/// - [`Panicked::thread_name`] and [`Panicked::ident`] are those of the current thread (see
///   [`current_thread`](crate::current_thread)).
/// - The location is found as for a thread's panic: a payload raised with
///   [`std::panic::resume_unwind`], which skips the panic hook, has none, unless `f` caught a
///   panic with the same message text first, whose location it gets; so, when a destructor
///   run by the unwinding catches a panic with the very text of `f`'s, the location is that
///   destructor's (the newest panic with that text). The payload is dropped
///   here, after the location is taken: a `Drop` of it that panics is caught, and printed by
///   the panic hook as any panic outside this function (nothing else reports it), also when
///   the call is nested in a weft thread body or in another `catch_panic`.
/// - `f` need not be [`UnwindSafe`](std::panic::UnwindSafe), as a thread body need not: the
///   caller, who gets the panic, judges what state `f` left.
/// - It takes over the process's panic hook as starting a weft thread does (once, see the
///   crate's docs): a hook set later with `std::panic::set_hook` replaces weft's, and the panics
///   are then printed by it and have no location. Called on a thread that is already panicking
///   (in a destructor run by the unwinding) before anything in the process took the hook over,
///   it cannot take it (std forbids changing the hook there): `f`'s panic is then printed by
///   the process's hook and has no location.
/// - Nested in another `catch_panic` or in a weft thread body, it looks only at the panics of
///   its own `f`, and leaves them for the enclosing code as panics caught there (which a
///   `resume_unwind` of the same text there then gets the location of, as in a thread body).
///
/// # Errors
/// [`Panicked`] when `f` panics, with its message and, when it can be found (see above), its
/// location.
///
/// ```
/// let err = weft_thread::catch_panic(|| -> u32 { panic!("code {}", 7) }).unwrap_err();
/// assert_eq!(err.message(), "code 7");
/// assert!(err.location().unwrap().contains(".rs:")); // this line; nothing was printed
/// assert_eq!(weft_thread::catch_panic(|| 5).unwrap(), 5);
/// ```
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    install();
    let nested = IN_BODY.replace(true);
    let first = RECORDED_COUNT.get();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_BODY.set(nested);
    let outcome = outcome.map_err(|payload| {
        let message = weft_sync::panic_message(payload.as_ref());
        // Before the payload is dropped: a drop that panics is not this panic.
        let (location, backtrace) = recorded_since(first, &message);
        (payload, message, location, backtrace)
    });
    if !nested && RECORDED_COUNT.get() != first {
        // Nobody encloses this call: what `f` recorded is of no use to anyone any more (and must
        // not lend its location to a later call's payload of the same text).
        let _ = RECORDED.try_with(|r| r.borrow_mut().clear());
    }
    outcome.map_err(|(payload, message, location, backtrace)| {
        // Dropped as outside any body, also when this call is nested in one: a panic of the
        // drop is caught and forgotten here, so only the panic hook can report it (recorded, it
        // would never be printed).
        IN_BODY.set(false);
        weft_sync::drop_panic_payload(payload);
        IN_BODY.set(nested);
        let me = crate::current_thread();
        Panicked {
            name: Arc::from(me.name()),
            ident: me.ident(),
            message,
            location,
            backtrace,
        }
    })
}

/// The location and backtrace of the newest panic with the text `message` among those this
/// thread recorded since it had recorded `first` (none if there is no such panic).
fn recorded_since(first: u64, message: &str) -> (Option<String>, Option<String>) {
    if RECORDED_COUNT.get() == first {
        return (None, None);
    }
    RECORDED
        .try_with(|r| {
            let r = r.borrow();
            let newest = r
                .iter()
                .rev()
                .take_while(|p| p.number >= first)
                .find(|p| p.message == message)?;
            Some((newest.location.clone(), newest.backtrace_text()))
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Reports `panic` through the current excepthook.
pub(crate) fn report(panic: &Panicked) {
    let hook = HOOK.read().clone();
    // The thread publishes its result after this: a hook's panic, even one whose payload
    // panics when dropped, must not take it down first.
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match hook {
        Some(hook) => hook(panic),
        None => default_excepthook(panic),
    })) {
        weft_sync::drop_panic_payload(payload);
    }
}

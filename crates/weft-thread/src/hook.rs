//! The excepthook: how a panic that ends a weft thread is reported (Python's
//! `threading.excepthook`).

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::{Arc, Once};

use parking_lot::RwLock;

use crate::error::Panicked;

type Hook = Arc<dyn Fn(&Panicked) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);
static INSTALL: Once = Once::new();

thread_local! {
    /// Set while a weft thread runs its body: panics there are reported by the excepthook when
    /// they end the thread, not printed by the panic hook.
    static IN_BODY: Cell<bool> = const { Cell::new(false) };
    /// The location and backtrace of the last panic in this thread's body.
    static LAST_PANIC: RefCell<(Option<String>, Option<String>)> = const { RefCell::new((None, None)) };
}

/// Replaces the function that reports a panic ending a weft thread (Python's
/// `threading.excepthook = f`). It runs once per such panic, in the thread that panicked, after
/// the thread's body has unwound; [`ThreadHandle::join`](crate::ThreadHandle::join) still returns
/// the panic. A panic inside the hook itself is caught and ignored.
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
/// followed by the backtrace when `RUST_BACKTRACE` asked for one.
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
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_BODY.with(Cell::get) {
                let location = info.location().map(|l| l.to_string());
                let backtrace = std::backtrace::Backtrace::capture();
                let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
                    .then(|| backtrace.to_string());
                LAST_PANIC.with(|p| *p.borrow_mut() = (location, backtrace));
            } else {
                previous(info);
            }
        }));
    });
}

/// Marks the current thread as running (or no longer running) a weft thread body.
pub(crate) fn set_in_body(value: bool) {
    IN_BODY.with(|b| b.set(value));
}

/// The location and backtrace recorded by the last panic in this thread's body.
pub(crate) fn take_last_panic() -> (Option<String>, Option<String>) {
    LAST_PANIC.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Reports `panic` through the current excepthook.
pub(crate) fn report(panic: &Panicked) {
    let hook = HOOK.read().clone();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match hook {
        Some(hook) => hook(panic),
        None => default_excepthook(panic),
    }));
}

//! Cooperative stop and pause: [`StopToken`], read by the thread, driven by its handle.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use weft_sync::Event;

use crate::error::Stopped;

/// The stop and pause requests of one thread. Built from two weft-sync [`Event`]s (whose wait
/// logic is loom-checked there): `stopped` is raised once and never lowered; `running` is lowered
/// by `pause` and raised by `resume` and by `stop`, so a paused thread can always be stopped. The
/// transitions take `ended` (set when the thread's body returned), so `pause` can never lower
/// `running` after `stop` raised it or after the thread ended.
pub(crate) struct Control {
    stopped: Event,
    running: Event,
    ended: parking_lot::Mutex<bool>,
}

impl Control {
    pub(crate) fn new() -> Arc<Self> {
        let control = Self {
            stopped: Event::new(),
            running: Event::new(),
            ended: parking_lot::Mutex::new(false),
        };
        control.running.set();
        Arc::new(control)
    }

    pub(crate) fn stop(&self) {
        let _ended = self.ended.lock();
        self.stopped.set();
        self.running.set();
    }

    pub(crate) fn pause(&self) {
        let ended = self.ended.lock();
        if !*ended && !self.stopped.is_set() {
            self.running.clear();
        }
    }

    pub(crate) fn resume(&self) {
        let _ended = self.ended.lock();
        self.running.set();
    }

    /// Called when the thread's body returned: later pauses do nothing.
    pub(crate) fn end(&self) {
        let mut ended = self.ended.lock();
        *ended = true;
        self.running.set();
    }

    pub(crate) fn is_paused(&self) -> bool {
        !self.running.is_set()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.is_set()
    }
}

/// What a stoppable thread reads to learn that it was asked to stop or to pause.
///
/// A thread started with [`Thread::new_stoppable`](crate::Thread::new_stoppable) receives one;
/// its [`ThreadHandle`](crate::ThreadHandle) sends the requests ([`stop`](crate::ThreadHandle::stop),
/// [`pause`](crate::ThreadHandle::pause), [`resume`](crate::ThreadHandle::resume)). Stopping is
/// cooperative, as in Python, where "stopping a thread must be implemented by yourself": the thread
/// checks at points of its choosing and returns. Cloning the token gives another reader of the
/// same requests.
///
/// - [`is_stopped`](Self::is_stopped): one atomic load, for hot loops.
/// - [`check`](Self::check): the same as a `Result`, for `?`.
/// - [`sleep`](Self::sleep): sleeps, but returns early with `Err(Stopped)` when a stop comes.
/// - [`checkpoint`](Self::checkpoint): blocks while the thread is paused; returns when resumed,
///   or with `Err(Stopped)` when stopped (a paused thread can always be stopped).
///
/// ```
/// use std::time::Duration;
/// use weft_thread::{Stopped, Thread};
///
/// let handle = Thread::new_stoppable(|stop| -> Result<(), Stopped> {
///     loop {
///         stop.checkpoint()?; // waits here while paused
///         stop.sleep(Duration::from_secs(3600))?; // "work", cut short by stop()
///     }
/// })
/// .start()
/// .unwrap();
/// handle.pause();
/// handle.resume();
/// handle.stop();
/// assert_eq!(handle.join().unwrap(), Err(Stopped));
/// ```
#[derive(Clone)]
pub struct StopToken {
    pub(crate) control: Arc<Control>,
}

impl StopToken {
    /// Whether a stop was requested. One atomic load: cheap enough for the hottest loop.
    ///
    /// ```
    /// let handle = weft_thread::Thread::new_stoppable(|stop| {
    ///     let mut spins = 0u64;
    ///     while !stop.is_stopped() {
    ///         spins += 1;
    ///     }
    ///     spins
    /// })
    /// .start()
    /// .unwrap();
    /// handle.stop();
    /// let _spins = handle.join().unwrap();
    /// ```
    #[inline]
    pub fn is_stopped(&self) -> bool {
        self.control.is_stopped()
    }

    /// Checks for a stop request, for `?`.
    ///
    /// # Errors
    /// [`Stopped`] if a stop was requested.
    ///
    /// ```
    /// use weft_thread::Stopped;
    /// let handle = weft_thread::Thread::new_stoppable(|stop| -> Result<(), Stopped> {
    ///     loop {
    ///         stop.check()?;
    ///         std::thread::yield_now();
    ///     }
    /// })
    /// .start()
    /// .unwrap();
    /// handle.stop();
    /// assert_eq!(handle.join().unwrap(), Err(Stopped));
    /// ```
    #[inline]
    pub fn check(&self) -> Result<(), Stopped> {
        if self.is_stopped() {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// Sleeps for `duration`. `Ok(())` means the whole duration passed; `Duration::MAX` sleeps
    /// until stopped.
    ///
    /// # Errors
    /// [`Stopped`], early, as soon as a stop is requested (at once if one already was).
    ///
    /// ```
    /// use std::time::Duration;
    /// let handle = weft_thread::Thread::new_stoppable(|stop| stop.sleep(Duration::from_secs(3600)))
    ///     .start()
    ///     .unwrap();
    /// handle.stop();
    /// assert!(handle.join().unwrap().is_err()); // woke at once, not after an hour
    /// ```
    pub fn sleep(&self, duration: Duration) -> Result<(), Stopped> {
        if self.control.stopped.wait_timeout(duration) {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// Blocks while the thread is paused. Returns `Ok(())` at once when not paused or as soon as
    /// it is resumed.
    ///
    /// # Errors
    /// [`Stopped`] when a stop was requested, paused or not.
    ///
    /// ```
    /// use weft_thread::Stopped;
    /// let handle = weft_thread::Thread::new_stoppable(|stop| -> Result<(), Stopped> {
    ///     loop {
    ///         stop.checkpoint()?;
    ///         std::thread::yield_now();
    ///     }
    /// })
    /// .start()
    /// .unwrap();
    /// handle.pause();
    /// handle.stop(); // a paused thread can always be stopped
    /// assert_eq!(handle.join().unwrap(), Err(Stopped));
    /// ```
    pub fn checkpoint(&self) -> Result<(), Stopped> {
        self.control.running.wait();
        self.check()
    }

    /// Whether a pause is in force (a [`checkpoint`](Self::checkpoint) would block).
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let handle = weft_thread::Thread::new_stoppable(move |stop| {
    ///     tx.send(stop.clone()).unwrap();
    ///     stop.sleep(std::time::Duration::MAX)
    /// })
    /// .start()
    /// .unwrap();
    /// let token = rx.recv().unwrap();
    /// handle.pause();
    /// assert!(token.is_paused());
    /// handle.resume();
    /// assert!(!token.is_paused());
    /// handle.stop();
    /// handle.join().unwrap().unwrap_err();
    /// ```
    pub fn is_paused(&self) -> bool {
        self.control.is_paused()
    }
}

impl fmt::Debug for StopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("stopped", &self.is_stopped())
            .field("paused", &self.is_paused())
            .finish()
    }
}

//! The `Executor` trait: one interface for thread and process pools.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::SubmitError;
use crate::future::Future;
use crate::map::Map;

/// A value that every pool can carry: process pools send it to another process, so it is a serde
/// type; every pool sends it to another thread.
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// What thread and process pools have in common (Python's `concurrent.futures.Executor`), so code
/// can switch between them: plain functions `fn(A) -> R` over serde values.
///
/// A type's own `submit` and `map` take precedence over the trait's in method calls; call the
/// trait's through a generic parameter or as `Executor::submit(&pool, f, arg)`.
///
/// ```
/// use weft_executor::{Executor, ThreadPoolExecutor};
///
/// fn total<E: Executor>(pool: &E) -> u64 {
///     fn cube(x: u64) -> u64 {
///         x * x * x
///     }
///     let f = pool.submit(cube, 3).unwrap();
///     let rest: u64 = pool.map(cube, 1..=2).map(Result::unwrap).sum();
///     f.result().unwrap() + rest
/// }
///
/// assert_eq!(total(&ThreadPoolExecutor::new()), 27 + 1 + 8);
/// ```
pub trait Executor {
    /// Runs `f(arg)` on the pool and returns its future (Python's `submit(fn, arg)`).
    ///
    /// # Errors
    /// `arg` comes back inside the error: [`SubmitError::ShutDown`] after a shutdown,
    /// [`SubmitError::BrokenPool`] once the pool is broken, and the pool's own refusals (a
    /// process pool's [`SubmitError::Serialize`], a thread pool's [`SubmitError::Spawn`]): see
    /// [`ThreadPoolExecutor::submit`](crate::ThreadPoolExecutor::submit) and
    /// [`ProcessPoolExecutor::submit`](crate::ProcessPoolExecutor::submit).
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError<A>>;

    /// Runs `f` over `items` and yields the results in input order (Python's `map`).
    fn map<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I) -> Map<'a, R>
    where
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a;

    /// Stops taking work; see the pools' own `shutdown` (Python's `shutdown(wait,
    /// cancel_futures)`).
    fn shutdown(&self, wait: bool, cancel_futures: bool);
}

impl Executor for crate::ThreadPoolExecutor {
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError<A>> {
        self.submit_call(f, arg)
    }

    fn map<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I) -> Map<'a, R>
    where
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        crate::ThreadPoolExecutor::map(self, f, items)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        crate::ThreadPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}

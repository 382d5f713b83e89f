//! Helpers shared by the task, gather, timeout and task-group tests.
#![allow(dead_code, reason = "each test file uses a part")]

use std::sync::Arc;
use std::time::Duration;

/// Long enough that only a cancellation ends a sleep.
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

/// Counts live clones: a task holding a `Probe` is alive until its future is dropped.
#[derive(Clone, Default)]
pub(crate) struct Probe(Arc<()>);

impl Probe {
    /// How many clones other than this one exist.
    pub(crate) fn live(&self) -> usize {
        Arc::strong_count(&self.0) - 1
    }

    /// A future that holds a clone of the probe and sleeps an hour: alive until cancelled.
    pub(crate) fn held_for_an_hour(&self) -> impl std::future::Future<Output = ()> + Send {
        self.held_for_an_hour_then(())
    }

    /// The same, typed as a task that would return `value` after its hour.
    pub(crate) fn held_for_an_hour_then<T: Send>(
        &self,
        value: T,
    ) -> impl std::future::Future<Output = T> + Send {
        let held = self.clone();
        async move {
            let _held = held;
            weft_async::sleep(HOUR).await;
            value
        }
    }
}

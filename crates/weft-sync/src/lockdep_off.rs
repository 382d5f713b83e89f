//! Deadlock detection compiled out (feature `deadlock-detection` off): zero-sized stand-ins, so
//! the locks keep their size and their acquire paths are the plain ones.

use std::marker::PhantomData;

/// A lock's class: nothing to store without the feature.
#[derive(Debug, Default)]
pub(crate) struct LockMeta;

impl LockMeta {
    pub(crate) const fn new() -> Self {
        Self
    }

    pub(crate) const fn named(_name: &'static str) -> Self {
        Self
    }
}

/// A held lock's record: nothing without the feature but the marker that keeps guards off other
/// threads (not `Send`, still `Sync`), so the auto traits do not change with the feature.
#[derive(Debug)]
pub(crate) struct Dep<'a>(PhantomData<(&'a (), std::sync::MutexGuard<'static, ()>)>);

impl Dep<'_> {
    pub(crate) const NONE: Self = Dep(PhantomData);
}

/// A Condition wait: just the wait.
#[inline(always)]
pub(crate) fn condition_wait<R>(
    _dep: &Dep<'_>,
    _at: &'static std::panic::Location<'static>,
    wait: impl FnOnce() -> R,
) -> R {
    wait()
}

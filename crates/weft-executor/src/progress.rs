//! Progress bars on result iterators (feature `progress`), the tqdm habit.

use std::fmt;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::TaskError;
use crate::map::Map;
use crate::wait::AsCompleted;

/// An iterator that advances a progress bar on stderr for each item it yields (but the item of
/// a timeout, or of a `map`'s zero `chunksize` or `buffersize`, which finishes no task), and
/// leaves the bar where it is when it ends: full when every item came, short of full when a
/// `map` stopped at a failure or an `as_completed` timed out. The bar is drawn only when stderr
/// is a terminal (indicatif hides it otherwise), so logs and pipes stay clean.
pub struct Progress<I: Iterator> {
    inner: I,
    bar: ProgressBar,
    /// Whether an item advances the bar.
    counts: fn(&I::Item) -> bool,
}

impl<I: Iterator> Progress<I> {
    fn new(inner: I, len: Option<usize>, counts: fn(&I::Item) -> bool) -> Self {
        let bar = match len {
            Some(n) => {
                let bar = ProgressBar::new(n as u64);
                if let Ok(style) = ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => ProgressBar::no_length(),
        };
        Progress { inner, bar, counts }
    }

    /// The bar, to set a message or a style.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}

impl<I: Iterator> Iterator for Progress<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next();
        match &item {
            Some(item) => {
                if (self.counts)(item) {
                    self.bar.inc(1);
                }
            }
            // Left where it is: a `map` that stopped at a failure, or an `as_completed` that
            // timed out, did not get through everything (indicatif's `finish` would fill it).
            None => self.bar.abandon(),
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<I: std::iter::FusedIterator> std::iter::FusedIterator for Progress<I> {}

impl<I: Iterator> fmt::Debug for Progress<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("position", &self.bar.position())
            .field("length", &self.bar.length())
            .finish()
    }
}

impl<T, E> AsCompleted<T, E> {
    /// Shows a progress bar of the futures finished so far (feature `progress`).
    ///
    /// ```
    /// use weft_executor::{as_completed, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let fs: Vec<_> = (0..20).map(|i| pool.submit(move || i).unwrap()).collect();
    /// let n = as_completed(fs, None).progress().count();
    /// assert_eq!(n, 20);
    /// ```
    pub fn progress(self) -> Progress<Self> {
        let total = self.remaining();
        // The timeout's item hands back the futures that did not finish: not progress.
        Progress::new(self, Some(total), Result::is_ok)
    }
}

impl<'a, R, E> Map<'a, R, E> {
    /// Shows a progress bar of the results yielded so far (feature `progress`); its length is the
    /// input's, when the input knows it.
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let sum: u32 = pool.map(|x: u32| x * 2, 0..100).progress().map(Result::unwrap).sum();
    /// assert_eq!(sum, 9900);
    /// ```
    pub fn progress(self) -> Progress<Self> {
        let len = self.len_hint();
        // A failed task is done too (after it, the `map` ends); the timeout's item is no task,
        // nor is the error of a zero `chunksize` or `buffersize`.
        Progress::new(self, len, |r| {
            !matches!(
                r,
                Err(TaskError::Timeout | TaskError::ZeroChunksize | TaskError::ZeroBuffersize)
            )
        })
    }
}

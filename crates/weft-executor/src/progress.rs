//! Progress bars on result iterators (feature `progress`), the tqdm habit.

use std::fmt;

use indicatif::{ProgressBar, ProgressStyle};

use crate::map::Map;
use crate::wait::AsCompleted;

/// An iterator that advances a progress bar on stderr for each item it yields, and finishes the
/// bar when it ends. The bar is drawn only when stderr is a terminal (indicatif hides it
/// otherwise), so logs and pipes stay clean.
pub struct Progress<I> {
    inner: I,
    bar: ProgressBar,
}

impl<I> Progress<I> {
    fn new(inner: I, len: Option<usize>) -> Self {
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
        Progress { inner, bar }
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
        match item {
            Some(_) => self.bar.inc(1),
            None => self.bar.finish(),
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<I> fmt::Debug for Progress<I> {
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
        Progress::new(self, Some(total))
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
        Progress::new(self, len)
    }
}

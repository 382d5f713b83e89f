//! The stripped-down generators of `generator_design.rs`, shared with `instructions.rs`, which
//! counts them: they pass values the way `generator` does, through a thread-local pointer to a
//! slot on the stack of each poll, and drop one part of it at a time (see `generator_design.rs`).
//! They are used only as the benchmarks use them (one generator, its yields awaited by its own
//! body), which is what their `unsafe` relies on.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use futures_core::Stream;

thread_local! {
    /// The slot of the sketch generator whose body this thread is polling; null otherwise.
    static CURRENT: Cell<*mut ()> = const { Cell::new(ptr::null_mut()) };
}

/// What a yield and its generator pass each other during one poll.
#[repr(C)]
struct Slot<T> {
    /// The generator's identity (first, so a check can read it whatever `T` is).
    key: u64,
    value: Option<T>,
}

/// How much of `generator`'s design a sketch keeps (a const parameter, so that each sketch is
/// compiled with only its own checks).
pub(crate) const UNCHECKED: u8 = 0;
pub(crate) const IDENTITY: u8 = 1;
pub(crate) const IDENTITY_AND_CATCH_UNWIND: u8 = 2;

struct Sketch<T, F, const CHECKS: u8> {
    body: Option<Pin<Box<F>>>,
    key: u64,
    _item: PhantomData<fn(T) -> T>,
}

impl<T, F, const CHECKS: u8> Unpin for Sketch<T, F, CHECKS> {}

struct SketchYielder<T, const CHECKS: u8> {
    key: u64,
    _item: PhantomData<fn(T) -> T>,
}

struct SketchYield<'a, T, const CHECKS: u8> {
    key: u64,
    value: Option<T>,
    _yielder: PhantomData<&'a mut SketchYielder<T, CHECKS>>,
}

impl<T, const CHECKS: u8> Unpin for SketchYield<'_, T, CHECKS> {}

#[cold]
#[inline(never)]
fn misplaced() -> ! {
    panic!("a sketch yield was awaited outside its generator's body")
}

impl<T, const CHECKS: u8> Future for SketchYield<'_, T, CHECKS> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.value.is_none() {
            return Poll::Ready(());
        }
        let current = CURRENT.with(Cell::get).cast::<Slot<T>>();
        if current.is_null() {
            misplaced();
        }
        // SAFETY: non-null `CURRENT` points at the slot on the stack of the poll running this
        // yield (set by `Sketch::poll_next` for the whole poll). Its key is the first field of a
        // `repr(C)` struct, readable whatever the slot's item type.
        if CHECKS != UNCHECKED && unsafe { *current.cast::<u64>() } != this.key {
            misplaced();
        }
        // SAFETY: as above, and the slot's item type is this yield's: checked by the key, or,
        // for `unchecked`, assumed (the benchmark runs one generator at a time, and its yields
        // are awaited by its own body). Nothing else refers to the slot during the poll.
        let slot = unsafe { &mut *current };
        if slot.value.is_none() {
            slot.value = this.value.take();
        }
        Poll::Pending
    }
}

impl<T, const CHECKS: u8> SketchYielder<T, CHECKS> {
    fn yield_(&mut self, value: T) -> SketchYield<'_, T, CHECKS> {
        SketchYield {
            key: self.key,
            value: Some(value),
            _yielder: PhantomData,
        }
    }
}

fn sketch<T, F: Future<Output = ()>, const CHECKS: u8>(
    f: impl FnOnce(SketchYielder<T, CHECKS>) -> F,
) -> Sketch<T, F, CHECKS> {
    let key = 7;
    Sketch {
        body: Some(Box::pin(f(SketchYielder {
            key,
            _item: PhantomData,
        }))),
        key,
        _item: PhantomData,
    }
}

impl<T, F: Future<Output = ()>, const CHECKS: u8> Stream for Sketch<T, F, CHECKS> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        struct Restore(*mut ());
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let this = self.get_mut();
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        let mut slot = Slot {
            key: this.key,
            value: None,
        };
        let restore = Restore(CURRENT.with(|c| c.replace((&raw mut slot).cast())));
        let polled = if CHECKS == IDENTITY_AND_CATCH_UNWIND {
            match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
                Ok(polled) => polled,
                Err(payload) => {
                    drop(restore);
                    this.body = None;
                    resume_unwind(payload)
                }
            }
        } else {
            body.as_mut().poll(cx)
        };
        drop(restore);
        if polled.is_ready() {
            this.body = None;
        }
        match slot.value {
            Some(v) => Poll::Ready(Some(v)),
            None if polled.is_ready() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

pub(crate) fn counting_sketch<const CHECKS: u8>(n: u64) -> impl Stream<Item = u64> + Unpin {
    sketch::<_, _, CHECKS>(move |mut co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    })
}

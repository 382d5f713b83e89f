//! Compile-time checks of the auto traits weft-executor promises (in the style of tokio's
//! `tests/async_send_sync.rs`): a `Future<T, E>` is `Send + Sync + Unpin` whenever `T` and `E`
//! are `Send` (so a `Cell` result is fine: the value is only ever handed to one thread at a
//! time), and not `Send` when `T` is not; a `Promise<T, E>` is `Send + Sync` on the same terms;
//! `ThreadPoolExecutor`, `ProcessPoolExecutor` and their builders are `Send + Sync` (the
//! builders also `Clone + Default`), so a pool can be shared through an `Arc` or borrowed by
//! scoped threads; the `as_completed` iterator and `wait`'s result move between threads with
//! their futures; every
//! error type is `Send + Sync + 'static` and converts into `Box<dyn Error + Send + Sync>` when
//! what it carries back is. Also checked here: `map`, `as_completed` and `progress` iterators
//! are `FusedIterator`.
//!
//! These are not CPython cases; a failure here is a compile error.

use std::cell::Cell;
use std::convert::Infallible;
use std::error::Error;
use std::rc::Rc;

use weft_executor::{
    AsCompleted, AsCompletedTimeout, BuildError, Future, Outcome, ResultTimeoutError, ReturnWhen,
    SubmitError, TaskError, ThreadPoolBuilder, ThreadPoolExecutor, Waited,
};

fn is_send<T: ?Sized + Send>() {}
fn is_send_sync<T: ?Sized + Send + Sync>() {}
fn is_config<T: Clone + Default + Send + Sync>() {}
fn is_unpin<T: ?Sized + Unpin>() {}
fn is_error<T: Error + Send + Sync + 'static>() {}
fn is_std_future<T: std::future::Future<Output = O> + Send, O>() {}

/// `AmbiguousIfSend::some_item` resolves only if `T` is not `Send` (the `static_assertions`
/// `assert_not_impl_any!` trick): with `T: Send` both impls apply and the call is ambiguous.
trait AmbiguousIfSend<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

#[test]
fn futures_are_send_sync_unpin_for_send_values() {
    is_send_sync::<Future<u32>>();
    is_send_sync::<Future<Vec<String>, String>>();
    is_send_sync::<Future<Cell<u32>>>();
    is_send_sync::<Future<Cell<u32>, Cell<u8>>>();
    is_unpin::<Future<u32>>();
    is_unpin::<Future<Cell<u32>>>();
    is_std_future::<Future<u32>, Outcome<u32, Infallible>>();
    is_std_future::<Future<Cell<u32>, String>, Outcome<Cell<u32>, String>>();
    is_send_sync::<Outcome<u32, String>>();
    // A promise is completed on another thread than the one waiting on its future.
    is_send_sync::<weft_executor::Promise<u32>>();
    is_send_sync::<weft_executor::Promise<Cell<u32>, Cell<u8>>>();
}

#[test]
fn futures_of_non_send_values_are_not_send() {
    // Compiles only if the type is not Send.
    <Future<Rc<u32>> as AmbiguousIfSend<_>>::some_item();
    <Future<u32, Rc<u32>> as AmbiguousIfSend<_>>::some_item();
}

#[test]
fn pools_are_send_sync() {
    is_send_sync::<ThreadPoolExecutor>();
    is_send_sync::<ThreadPoolBuilder>();
    is_send_sync::<ReturnWhen>();
    #[cfg(all(unix, feature = "process"))]
    {
        is_send_sync::<weft_executor::ProcessPoolExecutor>();
        is_send_sync::<weft_executor::ProcessPoolBuilder>();
    }
    // Builders are configurations: cloned to build several pools, `Default` as `builder()`.
    is_config::<ThreadPoolBuilder>();
    #[cfg(all(unix, feature = "process"))]
    is_config::<weft_executor::ProcessPoolBuilder>();
    // Shared by scoped threads, borrowed.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let total: u32 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let pool = &pool;
                s.spawn(move || pool.submit(move || i + 1).unwrap().result().unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, 3);
}

#[test]
fn collections_of_futures_are_send() {
    is_send_sync::<AsCompleted<u32>>();
    is_send_sync::<AsCompleted<Cell<u32>, String>>();
    is_send_sync::<Waited<u32>>();
    is_send_sync::<Waited<Cell<u32>, String>>();
    <AsCompleted<Rc<u32>> as AmbiguousIfSend<_>>::some_item();
    is_send::<Vec<Future<u32>>>();
}

#[test]
fn errors_are_send_sync_errors() {
    is_error::<TaskError>();
    is_error::<TaskError<String>>();
    is_error::<TaskError<std::num::ParseIntError>>();
    is_error::<ResultTimeoutError<u32>>();
    is_error::<ResultTimeoutError<Cell<u32>, String>>();
    is_error::<SubmitError<u32>>();
    is_error::<SubmitError<fn() -> u32>>();
    is_error::<AsCompletedTimeout<u32>>();
    is_error::<AsCompletedTimeout<Cell<u32>>>();
    is_error::<BuildError>();

    // `?` into the usual boxed error, from each operation.
    fn run() -> Result<u32, Box<dyn Error + Send + Sync>> {
        let pool = ThreadPoolExecutor::builder().max_workers(1).build()?;
        let f = pool.submit(|| 1_u32)?;
        let v = f.result_timeout(std::time::Duration::from_secs(60))?;
        let w = pool.submit_fallible(|| "2".parse::<u32>())?;
        Ok(v + w.result()?)
    }
    assert_eq!(run().unwrap(), 3);

    let boxed: Box<dyn Error + Send + Sync> = Box::new(TaskError::<Infallible>::Cancelled);
    assert_eq!(boxed.to_string(), "the future was cancelled");
}

#[test]
fn iterators_are_fused() {
    fn is_fused<I: std::iter::FusedIterator>(it: I) -> I {
        it
    }
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let mut it = is_fused(pool.map(|x: u32| x + 1, [1, 2]));
    assert_eq!(it.next().map(Result::unwrap), Some(2));
    assert_eq!(it.next().map(Result::unwrap), Some(3));
    assert!(it.next().is_none());
    assert!(it.next().is_none());

    let f = pool.submit(|| 7_u32).unwrap();
    let mut it = is_fused(weft_executor::as_completed([f], None));
    assert_eq!(it.next().unwrap().unwrap().result().unwrap(), 7);
    assert!(it.next().is_none());
    assert!(it.next().is_none());

    #[cfg(feature = "progress")]
    {
        let mut it = is_fused(pool.map(|x: u32| x, [5]).progress());
        assert_eq!(it.next().map(Result::unwrap), Some(5));
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }
}

//! Compile-time checks of the auto traits weft-channel promises (in the style of tokio's
//! `tests/async_send_sync.rs`): `Queue<T>`, `LifoQueue<T>`, `PriorityQueue<T>` and
//! `SimpleQueue<T>` are `Send + Sync + Clone` for any `T: Send`, even one that is not `Sync`
//! (`Cell`); the futures `PutFuture`, `GetFuture`, `JoinFuture` and `SimpleGetFuture` are `Send`
//! (and `Unpin`) for `T: Send`, so an `async move` block awaiting them can be spawned on a
//! multi-thread tokio runtime; every error type is `Send + Sync + 'static` and converts into
//! `Box<dyn Error + Send + Sync>`; every public type implements `Debug`, whatever `T` is.
//!
//! These are not CPython `test_queue.py` cases; a failure here is a compile error.

use std::cell::Cell;
use std::error::Error;
use std::fmt::Debug;
use std::future::Future;
use std::sync::mpsc;

use weft_channel::{
    Empty, GetError, GetFuture, GetTimeoutError, Iter, JoinFuture, LifoQueue, PriorityQueue,
    PutError, PutFuture, PutTimeoutError, Queue, SimpleGetFuture, SimpleQueue, TaskDoneError,
    TryGetError, TryPutError, ZeroCapacity,
};

fn is_send<T: ?Sized + Send>() {}
fn is_unpin<T: ?Sized + Unpin>() {}
fn is_debug<T: ?Sized + Debug>() {}
fn is_queue_handle<T: Send + Sync + Clone + Debug + 'static>() {}
fn is_error<T: Error + Send + Sync + 'static>() {}

/// Compiles only if `fut` could be given to `tokio::spawn` on a multi-thread runtime.
fn is_spawnable<F: Future + Send + 'static>(_: F) {}

/// Not `Debug`, not `Sync`, not `Clone`: only `Send` (and `Ord`, for the priority queue).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Opaque(Cell<u32>);

#[test]
fn queues_are_send_sync_clone_for_send_items() {
    is_queue_handle::<Queue<u32>>();
    is_queue_handle::<Queue<Cell<u32>>>();
    is_queue_handle::<Queue<mpsc::Receiver<String>>>();
    is_queue_handle::<Queue<Box<dyn FnOnce() + Send>>>();
    is_queue_handle::<Queue<Opaque>>();

    is_queue_handle::<LifoQueue<u32>>();
    is_queue_handle::<LifoQueue<Cell<u32>>>();
    is_queue_handle::<LifoQueue<Opaque>>();

    is_queue_handle::<PriorityQueue<u32>>();
    is_queue_handle::<PriorityQueue<(u8, String)>>();
    is_queue_handle::<PriorityQueue<Cell<u32>>>();
    is_queue_handle::<PriorityQueue<Opaque>>();

    is_queue_handle::<SimpleQueue<u32>>();
    is_queue_handle::<SimpleQueue<Cell<u32>>>();
    is_queue_handle::<SimpleQueue<Opaque>>();
}

#[test]
fn futures_are_send_and_unpin_for_send_items() {
    is_send::<PutFuture<'static, u32>>();
    is_send::<GetFuture<'static, u32>>();
    is_send::<JoinFuture<'static, u32>>();
    is_send::<PutFuture<'static, Cell<u32>>>();
    is_send::<GetFuture<'static, Cell<u32>>>();
    is_send::<JoinFuture<'static, Cell<u32>>>();
    is_send::<PutFuture<'static, Opaque>>();
    is_send::<SimpleGetFuture<'static, Cell<u32>>>();
    // The iterator of `iter()` can be handed to another thread (a scoped one, say).
    is_send::<Iter<'static, Cell<u32>>>();

    is_unpin::<PutFuture<'static, Opaque>>();
    is_unpin::<GetFuture<'static, Opaque>>();
    is_unpin::<JoinFuture<'static, Opaque>>();
    is_unpin::<SimpleGetFuture<'static, Opaque>>();
}

#[test]
fn tasks_awaiting_the_futures_are_spawnable() {
    let q = Queue::<Cell<u32>>::bounded(1).unwrap();
    is_spawnable({
        let q = q.clone();
        async move {
            q.put_async(Cell::new(1)).await.unwrap();
            let item = q.get_async().await.unwrap();
            q.task_done().unwrap();
            q.join_async().await;
            item.get()
        }
    });
    let q = LifoQueue::<Opaque>::unbounded();
    is_spawnable(async move { q.get_async().await.is_ok() });
    let q = PriorityQueue::<Opaque>::unbounded();
    is_spawnable(async move { q.put_async(Opaque(Cell::new(1))).await.is_ok() });
    let q = SimpleQueue::<Cell<u32>>::new();
    is_spawnable(async move { q.get_async().await.get() });
}

#[test]
fn errors_are_send_sync_errors() {
    is_error::<PutError<u32>>();
    is_error::<TryPutError<u32>>();
    is_error::<PutTimeoutError<u32>>();
    is_error::<PutError<String>>();
    is_error::<GetError>();
    is_error::<TryGetError>();
    is_error::<GetTimeoutError>();
    is_error::<Empty>();
    is_error::<TaskDoneError>();
    is_error::<ZeroCapacity>();
    // Item errors are Send for any Send item.
    is_send::<PutError<Cell<u32>>>();
    is_send::<TryPutError<Opaque>>();
    is_send::<PutTimeoutError<Opaque>>();

    let q = Queue::<String>::bounded(1).unwrap();
    q.put("a".into()).unwrap();
    let boxed: Box<dyn Error + Send + Sync> = q.try_put("b".into()).unwrap_err().into();
    assert!(!boxed.to_string().is_empty());
    q.shutdown();
    let boxed: Box<dyn Error + Send + Sync> = q.put("c".into()).unwrap_err().into();
    assert!(boxed.to_string().contains("shut down"));
    let boxed: Box<dyn Error + Send + Sync> = Box::new(ZeroCapacity);
    assert!(!boxed.to_string().is_empty());
}

#[test]
fn every_public_type_is_debug_whatever_the_item() {
    is_debug::<Queue<Opaque>>();
    is_debug::<LifoQueue<Opaque>>();
    is_debug::<PriorityQueue<Opaque>>();
    is_debug::<SimpleQueue<Opaque>>();
    is_debug::<PutFuture<'static, Opaque>>();
    is_debug::<GetFuture<'static, Opaque>>();
    is_debug::<JoinFuture<'static, Opaque>>();
    is_debug::<SimpleGetFuture<'static, Opaque>>();
    is_debug::<Iter<'static, Opaque>>();
    is_debug::<PutError<Opaque>>();
    is_debug::<TryPutError<Opaque>>();
    is_debug::<PutTimeoutError<Opaque>>();

    // The item is not printed (it need not be Debug), the kind is.
    let q = Queue::bounded(1).unwrap();
    q.put(Opaque(Cell::new(1))).unwrap();
    let err = q.try_put(Opaque(Cell::new(2))).unwrap_err();
    assert_eq!(format!("{err:?}"), "Full(..)");
    let dbg = format!("{q:?}");
    assert!(dbg.contains("Queue") && dbg.contains("qsize: 1"), "{dbg}");
}

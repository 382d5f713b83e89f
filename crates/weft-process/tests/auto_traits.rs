//! Compile-time checks of the auto traits weft-process promises (in the style of tokio's
//! `tests/async_send_sync.rs`): the handles to children and the channels to them (`Popen`,
//! `Killer`, `ProcessHandle`, `Worker`, `Connection`, `ProcessQueue`) are `Send + Sync`, so one
//! can be shared by threads through an `Arc` or a borrow, whatever the item type (items cross as
//! bytes); `Call` and `Reply` move between threads; every error type is
//! `Send + Sync + 'static` and converts into `Box<dyn Error + Send + Sync>` (the queue's and the
//! call's also `Clone + Eq`, for tests to compare); and every public
//! type is `Debug` without asking its item type to be.
//!
//! These are not CPython cases; a failure here is a compile error.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::cell::Cell;
use std::error::Error;
use std::rc::Rc;

use weft_process::subprocess::SubprocessError;
use weft_process::{
    Call, CallError, Connection, ConnectionError, Killer, Popen, Process, ProcessError,
    ProcessHandle, ProcessQueue, QueueError, QueueIter, Reply, SendCallError, StartError,
    StartMethod, TooManyTaskDone, Worker, WorkerBuilder, WorkerEvent,
};

fn is_send<T: ?Sized + Send>() {}
fn is_send_sync<T: ?Sized + Send + Sync>() {}
fn is_clone<T: Clone>() {}
fn is_error<T: Error + Send + Sync + 'static>() {}
/// Errors a test can compare whole (`assert_eq!(q.try_get(), Err(QueueError::Empty))`).
fn is_comparable<T: Clone + Eq>() {}

#[test]
fn handles_are_send_sync_whatever_the_item() {
    is_send_sync::<Popen>();
    is_send_sync::<Killer>();
    is_clone::<Killer>();
    is_send_sync::<Worker>();
    is_send_sync::<WorkerBuilder>();
    is_send_sync::<ProcessHandle<u32>>();
    is_send_sync::<ProcessHandle<Rc<u32>>>();
    is_send_sync::<Connection<String>>();
    is_send_sync::<Connection<Rc<u32>>>();
    is_send_sync::<QueueIter<'static, String>>();
    is_send_sync::<ProcessQueue<String>>();
    is_send_sync::<ProcessQueue<Cell<u32>>>();
    is_clone::<ProcessQueue<Cell<u32>>>();
    is_send_sync::<StartMethod>();
    #[cfg(feature = "async")]
    is_send_sync::<weft_process::AsyncPopen>();
}

#[test]
fn messages_and_builders_are_send() {
    is_send_sync::<Call>();
    is_send_sync::<Reply>();
    is_send::<WorkerEvent>();
    is_send_sync::<Process<u32, String>>();
    is_send::<weft_process::Run>();
}

#[test]
fn errors_are_send_sync_errors() {
    is_error::<ProcessError>();
    is_error::<ConnectionError>();
    is_error::<CallError>();
    is_error::<SendCallError>();
    is_error::<SubprocessError>();
    is_error::<TooManyTaskDone>();
    is_error::<StartError<u32, String>>();
    is_error::<QueueError<String>>();
    is_comparable::<QueueError<String>>();
    is_comparable::<TooManyTaskDone>();
    is_comparable::<CallError>();

    let boxed: Box<dyn Error + Send + Sync> = Box::new(
        weft_process::run(Vec::<String>::new())
            .output()
            .unwrap_err(),
    );
    assert!(!boxed.to_string().is_empty());
    let q = ProcessQueue::<u32>::new(1).unwrap();
    q.put(1).unwrap();
    let boxed: Box<dyn Error + Send + Sync> = Box::new(q.try_put(2).unwrap_err());
    assert_eq!(boxed.to_string(), "the queue is full");
}

/// An item type without `Debug`: the types holding one are `Debug` all the same.
#[derive(serde::Serialize, serde::Deserialize)]
struct Opaque(u32);

#[test]
fn every_public_type_is_debug_whatever_the_item() {
    fn is_debug<T: ?Sized + std::fmt::Debug>() {}
    is_debug::<weft_process::Pipe<Opaque>>();
    is_debug::<Connection<Opaque>>();
    is_debug::<ProcessQueue<Opaque>>();
    is_debug::<QueueIter<'static, Opaque>>();
    is_debug::<QueueError<Opaque>>();
    is_debug::<Process<u32, Opaque>>();
    is_debug::<ProcessHandle<Opaque>>();
    is_debug::<StartError<Opaque, Opaque>>();
    is_error::<QueueError<Opaque>>();

    let q = ProcessQueue::<Opaque>::new(1).unwrap();
    q.put(Opaque(1)).unwrap();
    let err = q.try_put(Opaque(2)).unwrap_err();
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.into_inner().map(|o| o.0), Some(2));
    assert_eq!(
        format!("{q:?}"),
        "ProcessQueue { qsize: 1, maxsize: Some(1), unfinished_tasks: 1, shutdown: false }"
    );
    q.shutdown();
    assert_eq!(
        format!("{:?}", q.put(Opaque(3)).unwrap_err()),
        "ShutDown(Some(..))"
    );
    let mut items = q.iter();
    assert_eq!(items.next().map(|o| o.0), Some(1));
    assert!(items.next().is_none());
    assert!(
        format!("{items:?}").contains("error: Some(ShutDown(None))"),
        "{items:?}"
    );
    let p = Process::new(|x: u32| Opaque(x), 5);
    assert!(format!("{p:?}").contains("arg: 5"), "{p:?}");
}

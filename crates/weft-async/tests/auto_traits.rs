//! Compile-time checks of the auto traits weft-async promises (in the style of tokio's
//! `tests/async_send_sync.rs`): task handles, group handles and the futures of `gather`,
//! `timeout`, `to_thread` and `run_in_executor` are `Send` when what they carry is, so they can
//! be used inside `tokio::spawn` on a multi-thread runtime; the locks are `Send + Sync` and their
//! waits `Send`; generators and coroutines are `Send` when their bodies are; the errors are
//! `Send + Sync + 'static` and convert into `Box<dyn Error + Send + Sync>`, and those that carry
//! comparable values are `Clone + Eq` for tests to compare.
//!
//! These are not CPython cases; a failure here is a compile error.

use std::error::Error;
use std::future::Future;
use std::time::Duration;

use weft_async::{
    AsCompleted, AsyncExitStack, Entered, ErrorRef, Exit, Gather, GatherSettled, GroupTask,
    Outcome, RunError, SpawnError, StackError, Task, TaskError, TaskFailure, TaskGroup,
    TaskGroupError, TaskGroupHandle, TimeoutError, ToThread, WithError,
};

fn is_send<T: ?Sized + Send>() {}
fn is_send_sync<T: ?Sized + Send + Sync>() {}
fn is_unpin<T: ?Sized + Unpin>() {}
fn is_error<T: Error + Send + Sync + 'static>() {}
/// Errors a test can compare whole.
fn is_comparable<T: Clone + Eq>() {}
fn send_future<F: Future + Send>(_: &F) {}
fn sync_future<F: Future + Sync>(_: &F) {}

#[test]
fn handles_are_send_and_sync() {
    is_send_sync::<Task<u8>>();
    is_unpin::<Task<u8>>();
    is_send_sync::<GroupTask<u8>>();
    is_unpin::<GroupTask<u8>>();
    is_send_sync::<TaskGroup<String>>();
    is_send_sync::<TaskGroupHandle<String>>();
    is_send::<ToThread<u8>>();
    is_send_sync::<Gather<Task<u8>>>();
    is_send_sync::<GatherSettled<Task<u8>>>();
    is_send::<AsCompleted<Task<u8>>>();
    is_send_sync::<weft_async::Loop>();
    is_send_sync::<weft_async::CallHandle>();
    // A runner can be built on one thread and closed on another.
    is_send_sync::<weft_async::Runner>();
    #[cfg(feature = "executor")]
    is_send::<weft_async::InExecutor<u8>>();
}

#[test]
fn futures_are_send_when_their_inputs_are() {
    let t = weft_async::timeout(Duration::from_secs(1), async { 1 });
    send_future(&t);
    sync_future(&t);
    // Its output need not be `Send` or `Sync` for it to be: it is never kept across an await.
    send_future(&weft_async::timeout(Duration::from_secs(1), async {
        std::rc::Rc::new(1)
    }));
    sync_future(&weft_async::timeout(Duration::from_secs(1), async {
        std::cell::Cell::new(1)
    }));
    let w = weft_async::wait_for(async { 1 }, Duration::from_secs(1));
    send_future(&w);
    let s = weft_async::sleep(Duration::from_secs(1));
    send_future(&s);
    send_future(&weft_async::yield_now());
    let tg = TaskGroup::<String>::new();
    send_future(&tg.wait());
    let scope = TaskGroup::<String>::scope(|_| async { Ok(1) });
    send_future(&scope);
    sync_future(&scope);
}

#[test]
fn locks_are_shared_between_tasks() {
    use std::cell::Cell;
    use weft_async::{Barrier, BoundedSemaphore, Condition, Event};
    // Shared through an `Arc` by tasks on a multi-thread runtime: `Send + Sync`, and a
    // condition's data need only be `Send` (the lock hands it to one task at a time).
    is_send_sync::<Event>();
    is_send_sync::<Barrier>();
    is_send_sync::<BoundedSemaphore>();
    is_send_sync::<Condition<Cell<u8>>>();
    is_send_sync::<weft_async::BoundedSemaphorePermit<'static>>();
    is_send_sync::<weft_async::ConditionGuard<'static, u8>>();
    // Their waits can be awaited inside `tokio::spawn`.
    let event = Event::new();
    send_future(&event.wait());
    send_future(&event.wait_timeout(Duration::from_secs(1)));
    let barrier = Barrier::new(1).unwrap();
    send_future(&barrier.wait());
    let sem = BoundedSemaphore::new(1);
    send_future(&sem.acquire());
    send_future(&sem.acquire_timeout(Duration::from_secs(1)));
    let cond = Condition::new(Cell::new(0u8));
    send_future(&cond.acquire());
}

#[test]
fn generators_are_send_when_their_bodies_are() {
    let g = weft_async::generator(|mut co| async move {
        co.yield_(1u8).await;
    });
    is_send_val(&g);
    let c = weft_async::coroutine(|mut co| async move {
        let _sent: u8 = co.yield_(1u8).await;
    });
    is_send_val(&c);
}

fn is_send_val<T: Send>(_: &T) {}

#[test]
fn context_managers_move_between_threads() {
    // An exit stack is handed from task to task (Send) but not shared (it is not Sync).
    is_send::<AsyncExitStack>();
    is_send_sync::<Entered<String>>();
    is_send_sync::<Outcome<'static>>();
    is_send_sync::<ErrorRef<'static>>();
    is_send_sync::<Exit>();
    let cm = weft_async::context_manager(
        || async { Ok::<_, std::io::Error>(1u8) },
        |_r, _outcome| async { Ok::<(), std::io::Error>(()) },
    );
    let with = weft_async::async_with(cm, async |r: &mut u8| Ok::<_, std::io::Error>(*r));
    send_future(&with);
}

#[test]
fn errors_are_send_sync_static() {
    is_error::<StackError>();
    is_error::<WithError<std::io::Error, std::io::Error>>();
    is_error::<TaskError>();
    is_error::<TimeoutError>();
    is_error::<TaskGroupError<String>>();
    is_error::<RunError<std::future::Ready<()>>>();
    is_error::<weft_async::NoRunningLoop>();
    is_error::<weft_async::CloseError>();
    is_error::<weft_async::LoopClosed<std::future::Ready<()>>>();
    is_error::<SpawnError<std::future::Ready<Result<(), String>>>>();
    is_error::<TaskFailure<String>>();
    is_error::<weft_async::AcloseError<u8, std::io::Error>>();
    is_error::<weft_async::AsendError<u8>>();
    is_error::<weft_async::AlreadyStarted>();
    is_error::<weft_async::GeneratorExit>();
    is_error::<weft_async::ReleaseError>();
    is_comparable::<WithError<String, String>>();
    is_comparable::<weft_async::AcloseError<u8, String>>();
    is_comparable::<weft_async::AsendError<u8>>();
    is_comparable::<TaskError>();
    is_comparable::<TaskGroupError<String>>();
    let boxed: Box<dyn Error + Send + Sync> = Box::new(TaskError::Cancelled);
    assert_eq!(boxed.to_string(), "task was cancelled");
}

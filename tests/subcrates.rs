//! Touches every path the umbrella re-exports, so a missing or renamed re-export fails here
//! (crossbeam's `tests/subcrates.rs`). `weft::thread`'s paths are in `subcrates_thread.rs`: its
//! test runs `weft::main`, whose exit refuses every pool's submits and every `to_thread` call in
//! the process, so it has a test binary (a process) of its own.

#[cfg(feature = "sync")]
#[test]
fn sync() {
    use std::time::Duration;
    use weft::sync::{
        AcquireError, Barrier, BoundedSemaphore, BreakCause, BrokenBarrier, Condition,
        ConditionGuard, Event, Lock, LockGuard, RLock, RLockGuard, ReleaseError, Semaphore,
        SemaphorePermit, ZeroParties,
    };

    let lock = Lock::new(1);
    let guard: LockGuard<'_, i32> = lock.acquire();
    assert_eq!(*guard, 1);
    drop(guard);

    let rlock = RLock::new(2);
    let guard: RLockGuard<'_, i32> = rlock.acquire();
    assert_eq!(*guard, 2);
    drop(guard);

    let cond = Condition::new(3);
    let mut guard: ConditionGuard<'_, i32> = cond.acquire();
    assert!(!guard.wait_timeout(Duration::ZERO));
    drop(guard);

    let sem = Semaphore::new(1);
    let permit: SemaphorePermit<'_> = sem.acquire();
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        AcquireError::NoPermits
    );
    drop(permit);

    let bounded = BoundedSemaphore::new(1);
    assert!(matches!(
        bounded.release(1),
        Err(ReleaseError::TooManyReleases { .. })
    ));

    assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
    let barrier = Barrier::new(1).unwrap();
    barrier.abort();
    let err: BrokenBarrier = barrier.wait().unwrap_err();
    assert_eq!(err.cause(), BreakCause::Aborted);

    let event = Event::new();
    event.set();
    assert!(event.is_set());

    let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    assert_eq!(weft::sync::panic_message(payload.as_ref()), "boom");
}

#[cfg(feature = "channel")]
#[test]
fn channel() {
    use std::time::Duration;
    use weft::channel::{
        Empty, GetError, GetFuture, GetTimeoutError, Iter, JoinFuture, LifoQueue, PriorityQueue,
        PutError, PutFuture, PutTimeoutError, Queue, SimpleGetFuture, SimpleQueue, TaskDoneError,
        TryGetError, TryPutError, ZeroCapacity,
    };

    let q: Queue<u8> = Queue::bounded(1).unwrap();
    assert_eq!(Queue::<u8>::bounded(0).unwrap_err(), ZeroCapacity);
    q.put(1).unwrap();
    assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    assert_eq!(
        q.put_timeout(3, Duration::ZERO),
        Err(PutTimeoutError::Timeout(3))
    );
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(q.get_timeout(Duration::ZERO), Err(GetTimeoutError::Timeout));
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let put: PutFuture<'_, u8> = q.put_async(4);
        put.await.unwrap();
        let get: GetFuture<'_, u8> = q.get_async();
        assert_eq!(get.await, Ok(4));
        q.task_done().unwrap();
        let join: JoinFuture<'_, u8> = q.join_async();
        join.await;
    });
    q.shutdown();
    assert_eq!(q.put(5), Err(PutError(5)));
    assert_eq!(q.get(), Err(GetError));
    let it: Iter<'_, u8> = q.iter();
    assert_eq!(it.count(), 0);

    let lifo = LifoQueue::unbounded();
    lifo.put(1).unwrap();
    lifo.put(2).unwrap();
    assert_eq!(lifo.get(), Ok(2));
    let prio = PriorityQueue::unbounded();
    prio.put((2, 'b')).unwrap();
    prio.put((1, 'a')).unwrap();
    assert_eq!(prio.get(), Ok((1, 'a')));
    let simple = SimpleQueue::new();
    simple.put(9);
    assert_eq!(simple.get(), 9);
    assert_eq!(simple.try_get(), Err(Empty));
    simple.put(10);
    let get: SimpleGetFuture<'_, u8> = simple.get_async();
    assert_eq!(rt.block_on(get), 10);
}

#[cfg(feature = "process")]
#[test]
fn process() {
    use std::time::Duration;
    use weft::process::subprocess::{check_output, run};
    use weft::process::{
        CompletedProcess, Connection, ConnectionError, Pipe, Process, ProcessError, ProcessQueue,
        QueueError, QueueIter, SubprocessError,
    };
    // The README's table names subprocess's helpers under `weft::process`, as `run` is.
    assert_eq!(weft::process::call(["false"]).unwrap(), 1);
    weft::process::check_call(["true"]).unwrap();
    assert_eq!(weft::process::check_output(["printf", "y"]).unwrap(), b"y");
    let mut child = weft::process::run(["true"]).spawn().unwrap();
    let _: weft::process::Killer = child.killer();
    child.wait().unwrap();

    let done: CompletedProcess = run(["echo", "hi"]).capture().output().unwrap();
    assert_eq!(done.stdout, b"hi\n");
    assert_eq!(check_output(["printf", "x"]).unwrap(), b"x");
    let err: SubprocessError = run(["no-such-program-weft"]).output().unwrap_err();
    assert!(err.to_string().contains("no-such-program-weft"));

    let (a, b): (Connection<u8>, Connection<u8>) = Pipe::new().unwrap();
    a.send(&1).unwrap();
    assert_eq!(b.recv_timeout(Duration::from_secs(60)).unwrap(), 1);
    drop(a);
    assert!(matches!(b.recv(), Err(ConnectionError::Closed)));

    let q = ProcessQueue::<u8>::new(1).unwrap();
    q.put(1).unwrap();
    assert!(matches!(q.try_put(2), Err(QueueError::Full(2))));
    assert_eq!(q.shutdown_immediate(), [1]);
    let mut items: QueueIter<'_, u8> = q.iter();
    assert_eq!(items.next(), None);

    // This test binary has cargo's harness as its main, not the guard: starting a process is a
    // clear error, never a child that runs the test suite again.
    fn noop(_: ()) {}
    let err = Process::new(noop, ()).start().unwrap_err();
    assert!(matches!(err.error(), ProcessError::NoGuard));
    assert!(err.to_string().contains("weft::main"));
}

#[cfg(feature = "executor")]
#[test]
fn executor() {
    use std::time::Duration;
    use weft::executor::{
        as_completed, wait, AsCompletedTimeout, Executor, Future, ResultTimeoutError, ReturnWhen,
        SubmitError, TaskError, ThreadPoolExecutor, Waited,
    };

    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let f: Future<u32> = pool.submit(|| 2).unwrap();
    assert_eq!(f.result(), Ok(2));
    let futures: Vec<_> = (0..4u32).map(|i| pool.submit(move || i).unwrap()).collect();
    let sum: u32 = as_completed(futures, None)
        .map(|f| f.unwrap().result().unwrap())
        .sum();
    assert_eq!(sum, 6);
    let w: Waited<u32> = wait(
        vec![pool.submit(|| 1).unwrap()],
        None,
        ReturnWhen::AllCompleted,
    );
    assert_eq!(w.done.len(), 1);
    fn double(x: u32) -> u32 {
        x * 2
    }
    assert_eq!(Executor::submit(&pool, double, 4).unwrap().result(), Ok(8));
    let bad = pool.submit(|| -> u32 { panic!("p") }).unwrap();
    assert!(matches!(bad.result(), Err(TaskError::Panicked { .. })));
    // A std channel, not weft::sync, so that this test builds with `executor` alone.
    let (gate, g) = std::sync::mpsc::channel::<()>();
    let slow = pool
        .submit(move || {
            g.recv().unwrap();
            true
        })
        .unwrap();
    let slow = match slow.result_timeout(Duration::from_millis(1)) {
        Err(ResultTimeoutError::Timeout(f)) => f,
        other => panic!("{other:?}"),
    };
    let pending: Vec<Future<bool>> = vec![slow];
    let timed_out: AsCompletedTimeout<bool> = as_completed(pending, Some(Duration::ZERO))
        .next()
        .unwrap()
        .unwrap_err();
    gate.send(()).unwrap();
    assert!(timed_out
        .unfinished
        .into_iter()
        .all(|f| f.result() == Ok(true)));
    pool.shutdown(true, false);
    assert!(matches!(pool.submit(|| 0), Err(SubmitError::ShutDown(_))));
}

#[cfg(feature = "aio")]
#[test]
fn aio() {
    use futures_util::StreamExt;
    use std::time::Duration;
    use weft::aio::{
        anext_or, as_completed, async_with, context_manager, create_task, gather, gather_settled,
        generator, get_running_loop, run, shield, sleep, timeout, to_thread, try_generator,
        AsyncExitStack, Barrier, BoundedSemaphore, CloseError, Condition, Event, Lock, LoopClosed,
        Queue, Runner, Semaphore, TaskError, TaskGroup, TimeoutError,
    };

    run(async {
        let t = create_task(async { 1 });
        assert_eq!(gather([t]).await, Ok(vec![1]));
        assert_eq!(gather_settled([shield(async { 2 })]).await, [Ok(2)]);
        let firsts: Vec<_> = as_completed([create_task(async { 3 })]).collect().await;
        assert_eq!(firsts, [Ok(3)]);
        assert_eq!(
            timeout(Duration::from_millis(1), sleep(Duration::from_secs(60))).await,
            Err(TimeoutError)
        );
        assert_eq!(to_thread(|| 4).await, Ok(4));

        let tg = TaskGroup::<()>::new();
        let g = tg.create_task(async { Ok(5) }).unwrap();
        tg.wait().await.unwrap();
        assert_eq!(g.await, Ok(5));

        let mut macro_gen = Box::pin(weft::async_gen! { yield 6; });
        assert_eq!(macro_gen.next().await, Some(6));
        let mut fallible = Box::pin(weft::try_async_gen! { yield 7; Err::<(), _>("x")?; });
        assert_eq!(fallible.next().await, Some(Ok::<_, &str>(7)));
        let mut g = generator(|mut co| async move { co.yield_(8).await });
        assert_eq!(anext_or(&mut g, 0).await, 8);
        let mut tg2 = try_generator(|mut co| async move {
            co.yield_(9).await;
            Err::<(), _>("y")
        });
        assert_eq!(tg2.next().await, Some(Ok(9)));

        let cm = context_manager(
            || async { Ok::<_, std::io::Error>(10) },
            |_r, _outcome| async { Ok::<(), std::io::Error>(()) },
        );
        let r = async_with(cm, async |r: &mut i32| Ok::<_, std::io::Error>(*r)).await;
        assert_eq!(r.unwrap(), 10);
        let mut stack = AsyncExitStack::new();
        stack.push_async_callback(|| async {});
        stack.aclose().await.unwrap();

        let e = Event::new();
        e.set();
        e.wait().await;
        let c = Condition::new(0);
        *c.acquire().await += 1;
        let b = Barrier::new(1).unwrap();
        assert_eq!(b.wait().await, Ok(0));
        let s = BoundedSemaphore::new(1);
        drop(s.acquire().await);
        assert!(s.release().is_err());
        let l = Lock::new(11);
        assert_eq!(*l.lock().await, 11);
        let sem = Semaphore::new(1);
        drop(sem.acquire().await.unwrap());
        let q = Queue::unbounded();
        q.put_async(12).await.unwrap();
        assert_eq!(q.get_async().await.unwrap(), 12);
        let pending = create_task(std::future::pending::<()>());
        assert!(pending.cancel());
        assert_eq!(pending.await, Err(TaskError::Cancelled));

        let lp = get_running_loop().unwrap();
        let f: weft::executor::Future<i32> =
            to_thread(move || lp.run_coroutine_threadsafe(async { 13 }).unwrap())
                .await
                .unwrap();
        assert_eq!(f.await, Ok(13));
    })
    .unwrap();
    let lp = run(async { weft::aio::Loop::current().unwrap() }).unwrap();
    let LoopClosed(f) = lp.call_soon_threadsafe(|| ()).unwrap_err();
    f();

    let mut runner = Runner::new();
    assert_eq!(runner.run(async { 14 }).unwrap(), 14);
    let runner = run(async move {
        let mut runner = runner;
        assert_eq!(runner.close(), Err(CloseError));
        runner
    })
    .unwrap();
    drop(runner); // closes it
}

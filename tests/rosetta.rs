//! The README's Rosetta table, compiled: every code span of its weft column, word for word.
//!
//! Two halves. The module `rows` holds, per section of the table, code that uses the weft code
//! spans of its rows verbatim, with the placeholders bound (`d` is a `Duration`, as the README
//! says; `f` a function, `q` a queue, `h` a handle, `n` a count or a name, ...). It is only
//! type-checked, against the real weft types: nothing in it is called, since rows block, spawn
//! processes or need a runtime. The test `readme_rosetta_spans_compile` reads README.md, takes
//! every code span of the weft column (`\|` read as `|`), and asserts that each occurs in the
//! code of `rows` (comments left out): whitespace runs count as one space (none before a `.`),
//! a match may not be glued to a longer name, and a `...` or `…` in a span stands for up to 300
//! bytes of code. So a row that drifts from the API fails here (the README changed, `rows` did
//! not) or at compile time (the API changed and `rows` no longer builds).
//!
//! Besides: a span `cargo xtask demo NAME` is checked against Cargo.toml's `[[example]]`s, a
//! span naming a feature of the umbrella against its `[features]`, and a span that is not Rust
//! as written (a type with its generic arguments left out, a signature without a body, several
//! calls in one) is listed in `NOT_CODE` with its reason. Short names (`cancel()`, `put`,
//! `TaskError::Cancelled`) are only checked to occur in `rows` as a whole word.
//!
//! Covered: every section of the table, with spans checked / in `NOT_CODE` when written:
//! threading: threads 45 / 3; queue and asyncio.Queue 35 / 0; threading: synchronization 50 / 4;
//! subprocess and multiprocessing 72 / 1; concurrent.futures 52 / 0; asyncio 118 / 0. The test
//! prints these counts (`cargo test --test rosetta -- --nocapture`).
//!
//! Keeping it green: whoever edits a row's weft column edits its line in `rows` (or `NOT_CODE`)
//! the same way; the test names each span it could not find, the compiler each span that no
//! longer builds.

#![cfg(all(feature = "aio", feature = "sync"))]

/// The table's rows, compiled. Formatting is kept as the README writes the spans.
#[rustfmt::skip]
#[allow(dead_code, reason = "type-checked only: the rows block, spawn processes or need a runtime")]
#[allow(unused, reason = "each row binds only what its span names")]
#[allow(clippy::all, reason = "the spans are written for the reader, as the README shows them")]
mod rows {
    use std::time::Duration;

    type Res = Result<(), Box<dyn std::error::Error>>;

    /// `### threading: threads`
    fn threads() -> Res {
        use weft::thread::JoinTimeoutError::Timeout;
        use weft::thread::{JoinError, Panicked, Runnable, Stopped, Thread, ThreadInfo};
        use weft::thread::{Interval, Timer};
        let d = Duration::from_millis(1);
        fn f() -> u32 { 1 }
        {
            fn main() { weft::main(|| { f(); }) }
        }
        let n = "worker";
        let t = Thread::new(f).name(n).daemon(true);
        let h = t.start()?;
        let h2 = weft::thread::spawn(f)?;
        let _: Result<u32, JoinError<u32>> = h2.join();
        match h.join_timeout(d) {
            Ok(_) => {}
            Err(Timeout(h)) => { let _ = h.join(); }
            Err(_) => {}
        }
        let h = weft::thread::spawn(f)?;
        let _: bool = h.is_alive();
        let _: (&str, u64, Option<u64>) = (h.name(), h.ident(), h.native_id());
        let _ = Thread::new(f).daemon(true);
        let _: bool = h.is_daemon();
        struct W;
        impl Runnable for W { fn run(&mut self) {} }
        let w = W;
        let _: W = Thread::from_runnable(w).start()?.join().map_err(|_| "panicked")?;
        let h = Thread::new_stoppable(|stop| -> Result<(), Stopped> {
            let d = Duration::from_millis(1);
            let _: bool = stop.is_stopped(); stop.check()?; stop.sleep(d)?;
            stop.checkpoint()?;
            Ok(())
        }).start()?;
        h.stop();
        h.pause();
        h.resume();
        fn tick() {}
        let f = tick;
        let timer = Timer::new(d, f).start()?;
        let _: bool = timer.cancel();
        let _: bool = Timer::new(d, f).cancel();
        if timer.wait_timeout(d) {
            let _ = timer.join();
        }
        let period = d;
        let interval = Interval::new(period, f).start()?;
        interval.cancel();
        let _: bool = interval.cancel_timeout(d);
        weft::thread::set_excepthook(|p| { let _: &Panicked = p; });
        let _: fn(&Panicked) = weft::thread::default_excepthook;
        weft::thread::reset_excepthook();
        match weft::thread::catch_panic(f) {
            Ok(_) => {}
            Err(p) => { let _: Panicked = p; }
        }
        if let Err(p) = weft::thread::catch_panic(f) {
            let _ = (p.location(), p.message());
        }
        std::thread_local! { static LOCAL: u32 = const { 0 } }
        {
            let n = 1 << 20;
            let _ = Thread::new(f).stack_size(n);
        }
        let _: usize = weft::thread::active_count();
        let _: Vec<ThreadInfo> = weft::thread::enumerate();
        let _: ThreadInfo = weft::thread::current_thread();
        let _: ThreadInfo = weft::thread::main_thread();
        let _: bool = weft::thread::is_exiting();
        Ok(())
    }

    /// `### queue and asyncio.Queue`
    fn queue() -> Res {
        use weft::channel::{LifoQueue, PriorityQueue, Queue, SimpleQueue};
        use weft::channel::{GetTimeoutError, TaskDoneError, TryGetError, TryPutError};
        let d = Duration::from_millis(1);
        let n = 4;
        let item = 1u32;
        let q = Queue::new(0);
        let _: Queue<u32> = Queue::unbounded();
        let _: Queue<u32> = Queue::default();
        let _: Queue<u32> = Queue::new(n);
        let _: Queue<u32> = Queue::bounded(n)?;
        let _: LifoQueue<u32> = LifoQueue::new(n);
        let _: PriorityQueue<(u8, &str)> = PriorityQueue::new(n);
        let priority = 1u8;
        PriorityQueue::new(n).put((priority, item))?;
        let _: SimpleQueue<u32> = SimpleQueue::new();
        q.put(item)?;
        let _ = q.put_timeout(item, d);
        if let Err(TryPutError::Full(item)) = q.try_put(item) {
            let _: u32 = item;
        }
        let _: u32 = q.get()?;
        let _ = q.get_timeout(d);
        if let Err(TryGetError::Empty) = q.try_get() {}
        q.task_done()?;
        let _: Option<TaskDoneError> = q.task_done().err();
        q.join();
        let _ = q.join_timeout(d);
        q.shutdown();
        if let Err(GetTimeoutError::ShutDown) = q.get_timeout(d) {} // the `ShutDown` variants
        let left = q.shutdown_immediate();
        let _: Vec<u32> = left;
        let _ = (q.qsize(), q.empty(), q.full(), q.maxsize());
        let _ = (q.unfinished_tasks(), q.is_shutdown());
        for item in q.iter() { let _: u32 = item; }
        for item in &q { let _: u32 = item; }
        let _ = async {
            let x = 2;
            let _ = q.put_async(x).await;
            let _ = q.get_async().await;
            q.join_async().await;
        };
        Ok(())
    }

    /// `### threading: synchronization`
    fn synchronization() -> Res {
        use weft::sync::{AcquireError, Barrier, BoundedSemaphore, BrokenBarrier, Condition, Event};
        use weft::sync::{Lock, LockGuard, ReleaseError, RLock, Semaphore, SemaphorePermit};
        let d = Duration::from_millis(1);
        let n = 2;
        let data = 0u32;
        let lock = Lock::new(data);
        let guard = lock.acquire(); let _: &u32 = &guard;
        guard.release();
        let _: Option<LockGuard<'_, u32>> = lock.try_acquire();
        let _: Option<LockGuard<'_, u32>> = lock.acquire_timeout(d);
        let guard = lock.acquire();
        drop(guard);
        let _: bool = lock.locked();
        let sem = Semaphore::new(0);
        let _ = sem.release(1);
        sem.acquire().forget();
        let _ = BoundedSemaphore::new(1);
        let rlock = RLock::new(data);
        let _outer = rlock.acquire();
        let _inner = rlock.acquire();
        let cond = Condition::new(data);
        let mut g = cond.acquire(); g.wait();
        let _: bool = g.wait_timeout(d);
        let pred = true;
        g.wait_for(|data| pred);
        let _: bool = g.wait_for_timeout(|data| pred, d);
        drop(g);
        let _: (usize, usize) = (cond.notify(n), cond.notify_all());
        let sem = Semaphore::new(n);
        let _permit = sem.acquire(); drop(_permit);
        let _: Option<SemaphorePermit<'_>> = sem.try_acquire();
        let _: Option<SemaphorePermit<'_>> = sem.acquire_timeout(d);
        let _: Result<SemaphorePermit<'_>, AcquireError> = sem.acquire_many(n);
        let _: Result<(), ReleaseError> = sem.release(n);
        let _: usize = sem.available();
        let bounded = BoundedSemaphore::new(n);
        if let Err(ReleaseError::TooManyReleases { .. }) = bounded.release(1) {}
        let f = || {};
        let barrier = Barrier::new(n)?.action(f).timeout(d);
        let i = barrier.wait()?;
        let _: usize = i;
        let _: usize = barrier.wait_timeout(d)?;
        if let Err(e) = barrier.wait() {
            let _: BrokenBarrier = e;
            let _ = e.cause();
        }
        barrier.abort();
        barrier.reset();
        let _ = (barrier.parties(), barrier.n_waiting(), barrier.broken());
        let event = Event::new();
        event.set();
        event.clear();
        let _: bool = event.is_set();
        event.wait();
        let _: bool = event.wait_timeout(d);
        Ok(())
    }

    /// `### subprocess and multiprocessing`
    fn subprocess() -> Res {
        use weft::process::subprocess::{call, check_call, check_output, run};
        use weft::process::subprocess::{AsyncPopen, CompletedProcess, Redirect, SubprocessError};
        use weft::thread::Timer;
        let d = Duration::from_millis(1);
        let CompletedProcess { args, returncode, stdout, stderr } = run(["prog", "arg"]).output()?;
        let (b, p, map) = (b"input".to_vec(), "/tmp", [("K", "V")]);
        let _ = run(["prog"]).capture().input(b).cwd(p).env_clear().envs(map);
        let f = std::fs::File::open("/dev/null")?;
        let _ = run(["prog"]).stdout(Redirect::Null);
        let _ = run(["prog"]).stdout(Redirect::Pipe);
        let _ = run(["prog"]).stdout(Redirect::File(f));
        let _ = run(["prog"]).stderr(Redirect::Stdout).check().timeout(d);
        match run(["prog"]).output() {
            Err(SubprocessError::CalledProcessError { returncode, stdout, stderr, .. }) => {}
            Err(SubprocessError::TimeoutExpired { stdout, stderr, .. }) => {}
            Err(SubprocessError::Spawn { program, .. }) => {}
            Err(SubprocessError::Cwd { path, .. }) => {}
            Err(SubprocessError::InvalidArgument("embedded null byte")) => {}
            _ => {}
        }
        let _: (Vec<u8>, i32) = (check_output(["prog"])?, call(["prog"])?);
        check_call(["prog"])?;
        let args = ["cat"];
        let input = b"input";
        let mut p = run(args).stdin(Redirect::Pipe).stdout(Redirect::Pipe).spawn()?;
        let _ = p.communicate(input)?;
        let _ = p.communicate_timeout(input, d)?;
        let _: Option<i32> = p.poll();
        let _: Option<i32> = p.wait_timeout(d)?;
        let _: Option<i32> = p.returncode();
        let s = 15;
        let _ = (p.terminate(), p.kill(), p.send_signal(s), p.pid());
        let t = d;
        let k = p.killer(); Timer::new(t, move || { let _ = k.kill(); }).start()?; p.wait()?;
        let _ = async move {
            let mut p: AsyncPopen = run(args).spawn_async()?;
            let k = p.killer()?;
            k.kill()?;
            let _ = AsyncPopen::communicate_async;
            let _ = run(args).output_async().await;
            Res::Ok(())
        };
        Ok(())
    }

    /// `### subprocess and multiprocessing`: multiprocessing
    fn multiprocessing() -> Res {
        use weft::process::{Connection, Pipe, Process, ProcessError, ProcessQueue, StartMethod};
        type R = u64;
        type T = String;
        let d = Duration::from_millis(1);
        fn f(a: u64) -> R { a }
        {
            fn main() { weft::main(|| { let _ = f(1); }) }
        }
        weft::process::init();
        let (a, n) = (1, "worker");
        let p = Process::new(f, a).name(n).daemon(true);
        let h = p.start()?;
        weft::process::set_start_method(StartMethod::Spawn);
        let _: StartMethod = weft::process::start_method();
        let _ = Process::new(f, a).start_method(StartMethod::ForkServer);
        let _: Result<R, ProcessError> = h.join();
        let h = Process::new(f, a).start()?;
        use ProcessError::Timeout;
        match h.join_timeout(d) {
            Err((Timeout, Some(h))) => {
                let _ = (h.is_alive(), h.exitcode(), h.pid(), h.name());
                let _ = (h.terminate(), h.kill());
            }
            _ => {}
        }
        let _ = Process::new(f, a).daemon(true);
        let _: &str = &weft::process::current_process_name();
        let maxsize = 8;
        let q: ProcessQueue<u64> = ProcessQueue::new(maxsize)?;
        let _ = (q.put(1), q.get(), q.try_put(1), q.try_get());
        let _ = (q.put_timeout(1, d), q.get_timeout(d));
        q.task_done()?;
        let _ = (q.join(), q.join_timeout(d));
        q.shutdown();
        let (a, b) = Pipe::<T>::new()?;
        let (c, p): (Connection<T>, _) = Pipe::one_way()?;
        let x = String::from("message");
        a.send(&x)?;
        let _: T = b.recv()?;
        let _ = b.recv_timeout(d);
        let _: bool = b.poll(d)?;
        Ok(())
    }

    /// `### concurrent.futures`
    fn futures() -> Res {
        use weft::executor::{as_completed, wait, AsCompletedTimeout, Executor, Future};
        use weft::executor::{ProcessPoolExecutor, ResultTimeoutError, ReturnWhen};
        use weft::executor::{StartMethod, SubmitError, TaskError, ThreadPoolExecutor, Waited};
        type R = u64;
        let d = Duration::from_millis(1);
        fn generic<E: Executor>(ex: &E) {
            fn square(x: u64) -> u64 { x * x }
            let _ = (ex.submit(square, 2), ex.map(square, 0..4));
            ex.shutdown(true, false);
        }
        fn func(arg: u64) -> R { arg }
        let (n, p, k, b, t, arg, it) = (2, "worker", 10, 4, d, 1, 0..4);
        let f = || {};
        let ex = ThreadPoolExecutor::builder()
            .max_workers(n).thread_name_prefix(p).initializer(f).build()?;
        {
            fn f() {}
            let ex = ProcessPoolExecutor::builder()
                .max_workers(n).initializer(f).max_tasks_per_child(k).build()?;
            let _: Future<R> = ex.submit(func, arg)?;
            if let Err(SubmitError::Serialize { .. }) = ex.submit(func, arg) {}
            ex.terminate_workers();
            ex.kill_workers();
        }
        let _ = ProcessPoolExecutor::builder().start_method(StartMethod::ForkServer).build()?;
        let _: Future<R> = ex.submit(move || func(arg))?;
        let it = ex.map(func, it).timeout(t).chunksize(n).buffersize(b);
        ex.shutdown(true, false);
        weft::main(|| {});
        weft::thread::before_exit(f);
        match ex.submit(f) {
            Err(SubmitError::ShutDown(task)) => {}
            Err(SubmitError::Spawn { reason, value }) => {}
            Err(SubmitError::BrokenPool { .. }) => {}
            _ => {}
        }
        let f = ex.submit(|| 1)?;
        let _ = f.result();
        let f = ex.submit(|| 1)?;
        if let Err(ResultTimeoutError::Timeout(f)) = f.result_timeout(d) {
            let _: Option<TaskError> = f.exception();
            let _: bool = f.wait_timeout(d);
            f.add_done_callback(|result| { let _ = result; });
            let _ = async { let _ = f.await; };
        }
        let fs: Vec<Future<u32>> = Vec::new();
        for f in as_completed(fs, Some(d)) {
            let _: Result<Future<u32>, AsCompletedTimeout<u32>> = f;
        }
        let fs: Vec<Future<u32>> = Vec::new();
        let Waited { done, not_done } = wait(fs, Some(d), ReturnWhen::FirstCompleted);
        let _ = (ReturnWhen::FirstException, ReturnWhen::AllCompleted);
        let e = TaskError::Failed("the task's Err");
        match e {
            TaskError::Panicked { message, location } => {}
            TaskError::Failed(e) => {}
            TaskError::Cancelled | TaskError::Timeout => {}
            TaskError::Serialize { .. } => {}
            TaskError::BrokenPool { reason } => {}
            TaskError::Spawn { reason } => {}
            _ => {}
        }
        let _ = SubmitError::Serialize::<u64> { message: String::new(), value: 1 };
        let _ = SubmitError::BrokenPool::<u64> { reason: String::new(), value: 1 };
        let fs: Vec<Future<u32>> = Vec::new();
        let _ = as_completed(fs, None).progress();
        {
            let (f, it) = (func, 0..4);
            let _ = ex.map(f, it).progress();
        }
        Ok(())
    }

    /// `### asyncio`
    fn asyncio() -> Res {
        use std::cell::RefCell;
        use std::pin::pin;
        use futures_util::{Stream, StreamExt};
        use weft::aio::{as_completed, create_task, create_task_named, gather, gather_settled};
        use weft::aio::{get_running_loop, run, shield, sleep, timeout, timeout_at, wait, wait_for};
        use weft::aio::{yield_now, Event, Loop, ReturnWhen, RunError, Runner, Task, TaskError};
        use weft::aio::{SpawnError, TaskFailure, TaskGroup, TaskGroupError, TimeoutError, Waited};
        type T = u32;
        type E = String;
        let d = Duration::from_millis(1);
        async fn main() -> u32 { 1 }
        let _: T = run(main())?;
        let (f1, f2) = (main(), main());
        let mut runner = Runner::new(); runner.run(f1)?; runner.run(f2)?;
        let _: Loop = runner.get_loop()?;
        runner.close()?;
        if let Err(RunError::Nested(fut)) = run(main()) { let _ = fut; }
        let _ = create_task(main());
        let _ = Event::new();
        let _ = RefCell::new(0);
        {
            async fn f() {}
            let fut = f();
            let _ = async { fut.await };
        }
        let (n, fut) = ("worker", main());
        let task: Task<T> = create_task_named(n, fut);
        let fut = main();
        let _: Task<T> = create_task(fut);
        let _ = (task.cancel(), task.done(), task.cancelled(), task.name());
        let _ = async {
            let _: Result<T, TaskError> = task.await;
            match create_task(main()).await {
                Err(TaskError::Cancelled) => {}
                Err(TaskError::Panicked { message }) => {}
                _ => {}
            }
            sleep(d).await;
            yield_now().await;
            let futs = vec![async { Ok::<T, E>(1) }];
            let _: Result<Vec<T>, E> = gather(futs).await;
            let futs = vec![async { Ok::<T, E>(1) }];
            let _: Vec<Result<T, E>> = gather_settled(futs).await;
            let futs = vec![main()];
            let mut s = as_completed(futs);
            let _: Option<T> = s.next().await;
            let (t, tasks) = (d, vec![create_task(main())]);
            let Waited { done, pending } = wait(tasks, Some(t), ReturnWhen::FirstCompleted).await;
            let _ = (ReturnWhen::FirstException, ReturnWhen::AllCompleted);
            let fut = main();
            let _: Result<T, TimeoutError> = wait_for(fut, d).await;
            let fut = main();
            let _ = timeout(d, fut).await;
            let (instant, fut) = (std::time::Instant::now() + d, main());
            let _ = timeout_at(instant, fut).await;
            let fut = main();
            let _ = shield(fut);
            let task = create_task(main());
            let _ = task.shield();
            Res::Ok(())
        };
        let lp = Loop::current()?;
        let _: Loop = get_running_loop()?;
        let fut = main();
        let future: weft::executor::Future<T> = lp.run_coroutine_threadsafe(fut)?;
        let _: (bool, bool) = (future.cancel(), future.done());
        future.add_done_callback(|_| {});
        let _ = lp.run_coroutine_threadsafe(main())?.result_timeout(d);
        let f = || {};
        let h = lp.call_soon_threadsafe(f)?;
        let _: (bool, bool) = (h.cancel(), h.cancelled());
        Ok(())
    }

    /// `### asyncio`: task groups, blocking work, generators, context managers
    async fn asyncio_groups() -> Res {
        use weft::aio::{run_in_executor, to_thread, SpawnError, TaskFailure, TaskGroup};
        use weft::aio::TaskGroupError;
        use weft::executor::ThreadPoolExecutor;
        type E = Box<dyn std::error::Error + Send + Sync>;
        let v = 1;
        let fut = async { Ok::<u32, E>(1) };
        let _: u32 = TaskGroup::scope(async |tg| { tg.create_task(fut)?;
            let _ = tg; Ok(v) }).await?;
        let tg = TaskGroup::new();
        let fut = async { Ok::<u32, E>(1) };
        tg.create_task(fut)?;
        let (n, fut) = ("worker", async { Ok::<u32, E>(1) });
        let _ = tg.create_task_named(n, fut)?;
        tg.wait().await?;
        let tg = TaskGroup::new();
        let _ = tg.create_task(async { Ok::<u32, E>(1) });
        if let Err(e) = tg.wait().await {
            let _: TaskGroupError<E> = e;
            let _: &[TaskFailure<E>] = e.errors();
        }
        let fut = 1;
        let _ = (SpawnError::Finished(fut), SpawnError::ShuttingDown(fut));
        fn f(args: (u32, u32)) -> u32 { args.0 + args.1 }
        let args = (1, 2);
        let _ = to_thread(move || f(args)).await;
        let (pool, arg) = (ThreadPoolExecutor::new(), (1, 2));
        let _ = run_in_executor(&pool, f, arg)?.await;
        Ok(())
    }

    /// `### asyncio`: generators, context managers, locks, queue
    async fn asyncio_rest() -> Res {
        use std::pin::{pin, Pin};
        use std::task::{Context, Poll};
        use futures_util as futures;
        use futures_util::StreamExt;
        use weft::aio::{anext, anext_or, async_gen, async_with, context_manager, coroutine};
        use weft::aio::{generator, AsyncContextManager, AsyncExitStack, GeneratorExit};
        use weft::aio::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore};
        let d = Duration::from_millis(1);
        let x = 1u32;
        let mut s = pin!(async_gen! { yield x; });
        while let Some(x) = s.next().await { let _: u32 = x; }
        let mut g = generator(|mut co| async move { co.yield_(x).await; });
        let mut s = &mut g;
        let _ = anext(&mut s).await;
        let default = 0;
        let _ = anext_or(&mut s, default).await;
        let _ = g.aclose().await;
        let mut c = coroutine(|mut co| async move { let v = co.yield_(x).await; let _: u32 = v; });
        let (start, v) = (c.start().await, 2u32);
        let _ = c.asend(v).await;
        let mut g = generator(|mut co| async move {
            if let Err(GeneratorExit) = co.yield_or_exit(x).await {}
        });
        struct Ticks;
        impl futures::Stream for Ticks {
            type Item = u32;
            fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
                Poll::Ready(None)
            }
        }
        let _ = anext(&mut Ticks).await;
        let setup = || async { Ok::<u32, std::io::Error>(1) };
        let teardown =
            |r: u32, _: weft::aio::Outcome<'_>| async move { Ok::<(), std::io::Error>(()) };
        let cm = context_manager(setup, teardown);
        fn manager<C: AsyncContextManager>(cm: &C) {}
        manager(&cm);
        let body = async |r: &mut u32| Ok::<u32, std::io::Error>(*r);
        let _ = async_with(cm, body).await;
        let mut stack = AsyncExitStack::new();
        let cm = context_manager(setup, teardown);
        let _ = stack.enter_async_context(cm).await?;
        stack.push_async_exit(|_| async { Ok::<(), std::io::Error>(()) });
        stack.push_async_callback(|| async {});
        let _ = stack.pop_all();
        let _ = stack.aclose().await;
        let lock: Lock<u32> = tokio::sync::Mutex::new(0);
        let _ = lock.lock().await;
        let n = 1;
        let sem = Semaphore::new(n);
        let _permit = sem.acquire().await?;
        sem.add_permits(n);
        let bounded = BoundedSemaphore::new(n);
        let _ = bounded.acquire().await;
        bounded.acquire_forget().await;
        let _ = bounded.release();
        let event = Event::new();
        event.set();
        event.clear();
        let _: bool = event.is_set();
        event.wait().await;
        type T = u32;
        let cond: Condition<T> = Condition::new(0);
        let mut g = cond.acquire().await;
        g = g.wait().await;
        let pred = |v: &mut u32| *v > 0;
        g = g.wait_for(pred).await;
        g.notify(n);
        g.notify_all();
        let f = || {};
        let barrier = Barrier::new(n)?.action(f).timeout(d);
        let _: usize = barrier.wait().await?;
        let _ = barrier.wait_timeout(d).await;
        barrier.abort();
        barrier.reset();
        let q: weft::aio::Queue<u32> = weft::channel::Queue::new(0);
        let _ = (q.put_async(1).await, q.get_async().await, q.join_async().await);
        Ok(())
    }
}

/// Spans of the weft column that are not compiled, each with why.
const NOT_CODE: &[(&str, &str)] = &[
    (
        "Result<T, JoinError>",
        "shorthand: `JoinError<T>`'s argument left out",
    ),
    (
        "impl Runnable for W { fn run(&mut self) }",
        "a signature: `run` has no body",
    ),
    (
        "Option<LockGuard>",
        "shorthand: `LockGuard<'_, T>`'s arguments left out",
    ),
    (
        "Option<SemaphorePermit>",
        "shorthand: `SemaphorePermit<'_>`'s lifetime left out",
    ),
    (
        "Result<SemaphorePermit, AcquireError>",
        "shorthand: `SemaphorePermit<'_>`'s lifetime left out",
    ),
    ("Err(Panicked)", "shorthand: an `Err` holding a `Panicked`"),
    (
        ".stdout(Redirect::Null / Pipe / File(f))",
        "three calls in one; each is compiled alone",
    ),
];

/// The weft column's code spans of the Rosetta table: (section heading, span), `\|` unescaped.
fn weft_spans(readme: &str) -> Vec<(String, String)> {
    let start = readme
        .find("\n## Rosetta table")
        .expect("README has a `## Rosetta table`");
    let table = &readme[start + 1..];
    let end = table[3..].find("\n## ").map_or(table.len(), |i| i + 3);
    let mut section = String::new();
    let mut spans = Vec::new();
    for line in table[..end].lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            section = heading.to_owned();
            continue;
        }
        if section.is_empty() || !line.starts_with('|') {
            continue;
        }
        // Cells are split at each `|` not escaped as `\|`; the weft column is the second.
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => cell.push(chars.next().unwrap()),
                '|' => cells.push(std::mem::take(&mut cell)),
                _ => cell.push(c),
            }
        }
        let weft = match cells.get(2) {
            Some(weft) if !matches!(weft.trim(), "weft" | "---") => weft,
            _ => continue,
        };
        for (i, span) in weft.split('`').enumerate() {
            if i % 2 == 1 {
                spans.push((section.clone(), span.to_owned()));
            }
        }
    }
    spans
}

/// `s` with every run of whitespace as one space, none before a `.` (so `rows` may break a
/// chain of calls), trimmed.
fn squeeze(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" .", ".")
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether `part` occurs in `code` at `from` or later, not glued to a longer word; the end of the
/// first such occurrence that starts at most `within` bytes after `from`.
fn find_part(code: &str, part: &str, from: usize, within: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = code[at..].find(part) {
        let start = at + i;
        if start - from > within {
            return None;
        }
        let end = start + part.len();
        let glued_before = is_word(part.chars().next()) && is_word(code[..start].chars().last());
        let glued_after = is_word(part.chars().last()) && is_word(code[end..].chars().next());
        if !glued_before && !glued_after {
            return Some(end);
        }
        at = start + part.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// Whether `span` occurs in `code`, where a `...` or `…` stands for at most 300 bytes of code.
fn occurs(code: &str, span: &str) -> bool {
    let span = squeeze(span).replace('…', "...");
    let parts: Vec<&str> = span.split("...").map(str::trim).collect();
    let mut from = 0;
    while let Some(first) = find_part(code, parts[0], from, usize::MAX) {
        let mut end = Some(first);
        for part in &parts[1..] {
            end = end.and_then(|e| {
                if part.is_empty() {
                    Some(e)
                } else {
                    find_part(code, part, e, 300)
                }
            });
        }
        if end.is_some() {
            return true;
        }
        from = first - parts[0].len() + 1;
    }
    false
}

#[test]
fn readme_rosetta_spans_compile() {
    let readme = include_str!("../README.md");
    let manifest = include_str!("../Cargo.toml");
    let source = include_str!("rosetta.rs");
    let rows_start = source.find("\nmod rows {").expect("the `rows` module");
    let rows_end = source
        .find("\n/// Spans of the weft column")
        .expect("NOT_CODE");
    // Comments out: a span must occur in code the compiler read.
    let rows: Vec<&str> = source[rows_start..rows_end]
        .lines()
        .map(|line| line.find("//").map_or(line, |i| &line[..i]))
        .collect();
    let code = squeeze(&rows.join("\n"));
    let mut missing = Vec::new();
    let mut counts: Vec<(String, usize, usize)> = Vec::new();
    for (section, span) in weft_spans(readme) {
        if counts.last().is_none_or(|(s, ..)| *s != section) {
            counts.push((section.clone(), 0, 0));
        }
        let count = counts.last_mut().unwrap();
        let found = if let Some(demo) = span.strip_prefix("cargo xtask demo ") {
            manifest.contains(&format!("[[example]]\nname = \"{demo}\"\n"))
        } else if manifest.contains(&format!("\n{span} = [")) {
            true // a feature of the umbrella, as Cargo.toml's `[features]` has it
        } else if NOT_CODE.iter().any(|(s, _)| *s == span) {
            count.2 += 1;
            continue;
        } else {
            occurs(&code, &span)
        };
        count.1 += 1;
        if !found {
            missing.push(format!("{section}: `{span}`"));
        }
    }
    for (section, checked, listed) in &counts {
        println!("{section}: {checked} spans checked, {listed} in NOT_CODE");
    }
    let sections: Vec<&str> = counts.iter().map(|(s, ..)| s.as_str()).collect();
    assert_eq!(
        sections.len(),
        6,
        "a section was added to or removed from the Rosetta table: {sections:?}; cover it \
         in `rows` and in this file's header"
    );
    assert!(
        missing.is_empty(),
        "README Rosetta spans not found in tests/rosetta.rs (edit the README row and `rows` \
         together):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_span_matcher() {
    let code = squeeze("let h = t.start()?; th.join(); weft::main(|| { f(); }) }");
    assert!(occurs(&code, "let h = t.start()?;"));
    assert!(!occurs(&code, "h.join()"), "glued to `th`");
    assert!(occurs(&code, "weft::main(|| { ... }) }"));
    assert!(!occurs(&code, "weft::main(|| { ... }) }) }"));
    assert!(occurs(
        &squeeze("let b = x()\n    .y()?;"),
        "let b = x().y()?;"
    ));
    let row = "| `a` | `x(\\|p\\| 1)`, `y` | `z` |";
    let spans = weft_spans(&format!("\n## Rosetta table\n### s\n{row}\n## next\n"));
    assert_eq!(
        spans,
        [
            ("s".to_owned(), "x(|p| 1)".to_owned()),
            ("s".to_owned(), "y".to_owned())
        ]
    );
}

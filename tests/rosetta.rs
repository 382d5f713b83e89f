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
//! Covered: every section of the table (threading: threads; queue and asyncio.Queue; threading:
//! synchronization; subprocess and multiprocessing; concurrent.futures; asyncio); the test fails
//! when the number of sections changes. It prints, per section, how many spans it checked and
//! how many are in `NOT_CODE` (`cargo test --test rosetta -- --nocapture`): counts this header
//! leaves out, where they would go stale.
//!
//! Keeping it green: whoever edits a row's weft column edits its line in `rows` (or `NOT_CODE`)
//! the same way; the test names each span it could not find, the compiler each span that no
//! longer builds.
//!
//! The crates' own tables too: the test `crate_tables_spans_compile` reads, at run time, every
//! `.rs` and `.md` file under `crates/` and takes each Markdown table whose header has a column
//! starting `Python` (a lib.rs's "Coming from Python" in its `//!` docs, an item's in its `///`
//! docs, a README's); every other column but `notes` is weft's. A link's span and the span glued
//! to it read as one (`` [`anext`]`(&mut g)` `` is `anext(&mut g)`). Their spans go through the
//! same matcher against the same `rows`, which has one function per crate (`crate_sync`, ...)
//! for the spans the README's rows do not already have; `CRATE_NOT_CODE` lists, per file, the
//! spans that are not Rust as written (a signature, Python's names in the prose, shorthand), and
//! an entry no table has any more fails the test. A new table is checked from the day it is
//! written; the test also fails when a crate has no table. It prints, per table and per crate,
//! how many spans it checked and how many are in `CRATE_NOT_CODE` (with `--nocapture`, as above).

#![cfg(all(feature = "aio", feature = "sync"))]

use std::path::{Path, PathBuf};

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
        let _ = Semaphore::default();
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
            TaskError::ZeroChunksize | TaskError::ZeroBuffersize => {}
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
        let _ = SpawnError::NoRuntime(fut);
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
        let mut s = pin!(async_gen! { yield x; });
        while let Some(x) = anext(&mut s).await { let _: u32 = x; }
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
    // The crates' own "Coming from Python" tables (and their READMEs' tables), one function
    // per crate; a span the README's rows above already have is not written twice.

    /// `crates/weft-sync`: src/lib.rs and README.md
    fn crate_sync() -> Res {
        use std::cell::Cell;
        use weft::sync::{BreakCause, Condition, Lock, RLock, Semaphore};
        type T = u32;
        let (d, n, data) = (Duration::from_millis(1), 2, 0u32);
        let lock: Lock<T> = Lock::new(data);
        let guard = lock.acquire();
        let _: &T = &guard;
        let _: RLock<T> = RLock::new(data);
        let _ = RLock::new(Cell::new(data));
        let cond = Condition::new(data);
        let mut guard = cond.acquire();
        let p = |data: &mut u32| *data > 0;
        guard.wait();
        guard.wait_for(p);
        let _: bool = guard.wait_timeout(d);
        let _: bool = guard.wait_for_timeout(p, d);
        let _: bool = guard.wait_for_timeout(|data| *data > 0, d);
        drop(guard);
        let sem = Semaphore::new(n);
        let _ = (sem.try_acquire_many(n), sem.acquire_many_timeout(n, d));
        let _: Option<BreakCause> = None;
        Ok(())
    }

    /// `crates/weft-thread`: src/lib.rs and README.md
    fn crate_thread() -> Res {
        use weft::thread::JoinTimeoutError::Timeout;
        use weft::thread::{set_excepthook, wait_non_daemon, StartError, Thread};
        let (d, n) = (Duration::from_millis(1), "worker");
        fn f() -> u32 { 1 }
        let t = Thread::new(f).name(n).daemon(true).start()?;
        let _ = (t.name(), t.ident(), t.native_id(), t.is_daemon());
        match t.join_timeout(d) {
            Ok(_) => {}
            Err(Timeout(t)) => { let _ = t.join(); }
            Err(_) => {}
        }
        let _ = Thread::new(f).name(n).daemon(true).start();
        let _ = Thread::new(f).name(n).daemon(true).start();
        wait_non_daemon();
        let t = Thread::new_stoppable(|stop| stop.sleep(Duration::from_millis(1))).start()?;
        t.stop();
        t.pause();
        t.resume();
        let hook = |p: &weft::thread::Panicked| { let _ = p; };
        set_excepthook(hook);
        if let Err(StartError::StackSize { .. }) = Thread::new(f).stack_size(1).start() {}
        Ok(())
    }

    /// `crates/weft-channel`: src/lib.rs and README.md
    fn crate_channel() -> Res {
        use weft::channel::{GetTimeoutError, Queue};
        let (d, item) = (Duration::from_millis(1), 1u32);
        let q: Queue<u32> = Queue::new(0);
        q.put_timeout(item, d)?;
        let _: u32 = q.get_timeout(d)?;
        let _: Option<usize> = q.maxsize();
        if let Err(GetTimeoutError::Timeout) = q.get_timeout(d) {}
        let _ = async {
            let mut fut = q.put_async(item);
            tokio::select! {
                _ = &mut fut => {}
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            let _: Option<u32> = fut.into_inner();
        };
        Ok(())
    }

    /// `crates/weft-process`: src/lib.rs, src/subprocess/mod.rs and README.md
    fn crate_process() -> Res {
        use serde::de::DeserializeOwned;
        use serde::Serialize;
        use weft::aio as weft_async;
        use weft::process as weft_process;
        use weft::process::subprocess::{run, CompletedProcess, Killer, Popen, Redirect};
        use weft::process::{Connection, ConnectionError, Pipe, ProcessError, ProcessHandle};
        use weft::process::{ProcessQueue, QueueError, Worker};
        let (d, t) = (Duration::from_millis(1), Duration::from_millis(1));
        let (args, b, p, map) = (["prog"], b"input".to_vec(), "/tmp", [("K", "V")]);
        let (k, v, dir) = ("K", "V", "/tmp");
        let _ = run(args).capture().input(b).timeout(d).check().cwd(p).env_clear().envs(map)
            .output();
        let b = b"input".to_vec();
        let _ = run(args).capture().input(b).timeout(t).check().output();
        let cp: CompletedProcess = run(args).output()?;
        let _ = cp.stdout_str();
        let _ = run(args).capture().output()?;
        let _ = run(args).input(b"input").output()?;
        let _ = run(args).timeout(Duration::from_secs(5));
        let file = std::fs::File::create("/dev/null")?;
        let _ = run(args).stdout(file).cwd(dir).env(k, v).process_group(0).shell(true);
        let mut p: Popen = run(args).spawn()?;
        let _: Option<i32> = None::<i32>.or(p.wait_timeout(d)?);
        if let Ok(None) = p.wait_timeout(d) {}
        let _ = Popen::killer;
        let k: Killer = p.killer();
        let _ = p.args();
        let _ = p.stdout();
        let _ = p.take_stdout();
        let mut p1: Popen = run(args).stdout(Redirect::Pipe).spawn()?;
        use std::os::fd::OwnedFd;
        let _ = run(args).stdin(OwnedFd::from(p1.take_stdout().unwrap()));
        let _ = p.communicate(&[])?;
        let input = b"input";
        let _ = async move {
            let mut p = run(args).spawn_async()?;
            let _ = p.communicate_async(input).await;
            Res::Ok(())
        };
        let _ = Duration::MAX;
        fn f(a: u64) -> u64 { a }
        let _: fn(ProcessHandle<u64>, Duration) -> _ = ProcessHandle::join_timeout;
        let h: ProcessHandle<u64> = weft::process::Process::new(f, 1).start()?;
        match h.join() {
            Err(ProcessError::Panicked { .. }) | Err(ProcessError::Signaled { .. }) => {}
            _ => {}
        }
        {
            fn main() { weft_process::main(|| {}) }
        }
        let n = 1;
        let _ = Some(n);
        let q: ProcessQueue<u64> = ProcessQueue::new(8)?;
        match q.try_get() {
            Err(QueueError::Empty) | Err(QueueError::Disconnected(_)) => {}
            _ => {}
        }
        if let Err(QueueError::ShutDown(item)) = q.try_put(1) { let _: Option<u64> = item; }
        let _ = weft_async::to_thread(|| 1);
        let (a, _b): (Connection<u64>, _) = Pipe::new()?;
        if let Err(ConnectionError::Closed) = a.recv() {}
        let _ = Worker::wait_any;
        fn message<T: Serialize + DeserializeOwned>() {}
        Ok(())
    }

    /// `crates/weft-executor`: src/lib.rs
    fn crate_executor() -> Res {
        use weft::executor::{as_completed, wait, Future, ReturnWhen, SubmitError, TaskError};
        use weft::executor::ThreadPoolExecutor;
        use weft::thread as weft_thread;
        type T = u32;
        type F = fn() -> u32;
        let t = Duration::from_millis(1);
        let ex = ThreadPoolExecutor::builder().max_workers(4).build()?;
        fn task() -> u32 { 1 }
        let _: Result<Future<T>, SubmitError<F>> = ex.submit(task as F);
        let _ = weft_thread::is_exiting;
        let f = ex.submit(task)?;
        let _ = f.result_timeout(t);
        let f = ex.submit(task)?;
        let _: bool = f.wait_timeout(t);
        let task = || "1".parse::<u32>();
        let _ = ex.submit_fallible(task)?;
        let _: fn(&TaskError<()>) -> Option<&str> = TaskError::panic_location;
        let fs: Vec<Future<u32>> = Vec::new();
        let _ = as_completed(fs, Some(t));
        let fs: Vec<Future<u32>> = Vec::new();
        let _ = wait(fs, Some(t), ReturnWhen::FirstException);
        Ok(())
    }

    /// `crates/weft-async`: src/lib.rs, src/generator.rs, src/context.rs, src/locks/mod.rs
    async fn crate_async() -> Res {
        use std::pin::pin;
        use futures_util as futures;
        use futures::StreamExt;
        use weft::aio::{anext, anext_or, async_with, generator, timeout_at, try_async_gen};
        use weft::aio::{try_generator, AcloseError, AsyncContextManager, AsyncExitStack};
        use weft::aio::{BreakCause, CallHandle, Entered, ErrorRef, Exit, GroupTask, Loop};
        use weft::aio::{LoopClosed, NoRunningLoop, Outcome, RunError, Runner, TaskGroup};
        use weft::aio::{TimeoutError, WithError};
        use weft::aio::{Condition, Event, Lock, Semaphore, BoundedSemaphore};
        type E = std::io::Error;
        let d = Duration::from_millis(1);
        async fn main() -> u32 { 1 }
        {
            let (f1, f2) = (main(), main());
            let mut r = Runner::new(); r.run(f1)?; r.run(f2)?;
            let _: Loop = r.get_loop()?;
            r.close()?;
            if let Err(RunError::Closed(fut)) = r.run(main()) { let _ = fut; }
        }
        let _: Option<GroupTask<u32>> = None;
        let _: Option<(NoRunningLoop, CallHandle)> = None;
        let _ = LoopClosed::<u32>;
        let (t, fut) = (std::time::Instant::now() + d, main());
        if let Err(TimeoutError) = timeout_at(t, fut).await {}
        type BE = Box<dyn std::error::Error + Send + Sync>;
        let v = 1;
        let fut = async { Ok::<u32, BE>(1) };
        let _: u32 = TaskGroup::scope(async |tg| { tg.create_task(fut)?; Ok(v) }).await?;
        let fut = async { Ok::<u32, BE>(1) };
        let tg = TaskGroup::new(); tg.create_task(fut)?; tg.wait().await?;
        // generator.rs
        let x = 1u32;
        let mut g = generator(|mut co| async move { co.yield_(x).await; });
        while let Some(x) = anext(&mut g).await { let _: u32 = x; }
        let _ = g.next().await;
        let default = 0;
        let _: u32 = anext_or(&mut g, default).await;
        fn items<S: futures::Stream<Item = Result<u32, E>>>(s: S) -> S { s }
        let _ = items(try_async_gen! { yield x; Err(E::other("e"))?; });
        let _ = try_generator(|mut co| async move { co.yield_(x).await; Ok::<(), E>(()) });
        let cleanup = || async {};
        let _ = generator(|mut co| async move {
            if co.yield_or_exit(x).await.is_err() { cleanup().await; }
        });
        if let Err(AcloseError::IgnoredGeneratorExit(x)) = g.aclose().await { let _: u32 = x; }
        // context.rs
        type Resource = u32;
        struct Conn;
        impl AsyncContextManager for Conn {
            type Resource = u32;
            type Error = E;
            type Exit = Exit;
            async fn enter(&mut self) -> Result<Resource, E> { Ok(0) }
            async fn exit(self, resource: u32, outcome: Outcome<'_>) -> Result<Exit, E> {
                match outcome {
                    Outcome::Success | Outcome::Cancelled => {}
                    Outcome::Error(e) => { let _: ErrorRef<'_> = e; }
                    Outcome::Panicked(_) => {}
                    _ => {}
                }
                Ok(Exit::Suppress)
            }
        }
        let (cm, body) = (Conn, Ok::<u32, E>(1));
        match async_with(cm, async |r| { body }).await {
            Ok(None) => {}
            Err(WithError::Exit { .. }) | Err(WithError::Enter(_)) => {}
            _ => {}
        }
        let _ = async_with(Conn, async |r: &mut Resource| { Ok::<u32, E>(*r) }).await;
        let x = E::other("x");
        let _: Result<(), E> = Err(x);
        let _ = async_with(AsyncExitStack::new(), async |stack| Ok::<(), E>(())).await;
        let mut stack = AsyncExitStack::new();
        let _ = AsyncExitStack::enter_async_context::<Conn>;
        let entered: Entered<u32> = stack.enter_async_context(Conn).await?;
        let _ = stack.get_mut(entered);
        let _ = (AsyncExitStack::get_mut::<u32>, AsyncExitStack::aclose, AsyncExitStack::pop_all);
        // locks/mod.rs
        let (data, n, maxsize, x) = (0u32, 1, 4, 2u32);
        let lock = Lock::new(data);
        {
            let guard = lock.lock().await;
        }
        let _: bool = lock.try_lock().is_err();
        {
            let _guard = lock.lock().await;
        }
        let event = Event::new();
        let _: bool = event.wait_timeout(d).await;
        let cond = Condition::new(data);
        let guard = cond.acquire().await;
        let mut guard = guard;
        guard = guard.wait().await;
        guard = guard.wait_for(|data| *data > 0).await;
        let _ = (guard.notify(n), guard.notify_all());
        let sem = Semaphore::new(n);
        sem.add_permits(1);
        sem.acquire().await?.forget();
        sem.add_permits(1);
        let _: bool = sem.available_permits() == 0;
        let sem = BoundedSemaphore::new(n);
        sem.acquire_forget().await;
        sem.release()?;
        let _: Option<BreakCause> = None;
        let q: weft::aio::Queue<u32> = weft::aio::Queue::new(maxsize);
        q.put_async(x).await?;
        let _: u32 = q.get_async().await?;
        let _ = (q.try_put(x), q.try_get());
        let q = weft::aio::SimpleQueue::new();
        q.put(x);
        let _: u32 = q.get_async().await;
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

/// Spans of the crates' own Python tables that are not compiled: (file, span, why). A span
/// listed here that no table has any more fails the test, so the list cannot go stale.
const CRATE_NOT_CODE: &[(&str, &str, &str)] = &[
    (
        "crates/weft-async/src/context.rs",
        "AsyncContextManager::enter(&mut self) -> Result<Resource, Error>",
        "a signature: `enter` is implemented in `rows`",
    ),
    (
        "crates/weft-async/src/context.rs",
        "AsyncContextManager::exit(self, resource, outcome)",
        "a signature: `exit` is implemented in `rows`",
    ),
    (
        "crates/weft-async/src/context.rs",
        "AsyncExitStack::push_async_callback(move || async move { .. })",
        "a method by its type's path, with no receiver: the README's row compiles the call",
    ),
    (
        "crates/weft-async/src/context.rs",
        "AsyncExitStack::push_async_exit(|outcome| ..)",
        "a method by its type's path, with no receiver: the README's row compiles the call",
    ),
    (
        "crates/weft-async/src/context.rs",
        "__context__",
        "Python's attribute",
    ),
    (
        "crates/weft-async/src/locks/mod.rs",
        "_async",
        "a suffix of names: `put_async`, ...",
    ),
    (
        "crates/weft-executor/src/lib.rs",
        "Result<Future, AsCompletedTimeout>",
        "shorthand: the generic arguments left out",
    ),
    ("crates/weft-process/README.md", "env=", "Python's argument"),
    (
        "crates/weft-process/README.md",
        "OverflowError",
        "Python's exception",
    ),
    (
        "crates/weft-process/README.md",
        "shutdown(immediate=True)",
        "Python's call",
    ),
    (
        "crates/weft-process/README.md",
        "Process::start_method(..)",
        "a method by its type's path, its argument left out",
    ),
    (
        "crates/weft-process/README.md",
        "WorkerBuilder::start_method(..)",
        "a method by its type's path, its argument left out",
    ),
    (
        "crates/weft-process/src/lib.rs",
        "try_",
        "a prefix of names: `try_put`, `try_get`",
    ),
    (
        "crates/weft-process/src/subprocess/mod.rs",
        "SIGRTMIN",
        "a C signal number",
    ),
    (
        "crates/weft-process/src/subprocess/mod.rs",
        "dup",
        "a C system call",
    ),
    (
        "crates/weft-process/src/subprocess/mod.rs",
        "fcntl",
        "a C system call",
    ),
    (
        "crates/weft-sync/src/lib.rs",
        "Option<guard>",
        "shorthand: the guard's type left unnamed",
    ),
    (
        "crates/weft-thread/README.md",
        "TimerHandle::cancel()",
        "a method by its type's path: the README's row compiles `timer.cancel()`",
    ),
    (
        "crates/weft-thread/README.md",
        "Timer::cancel()",
        "a method by its type's path: the README's row compiles `Timer::new(d, f).cancel()`",
    ),
    (
        "crates/weft-thread/README.md",
        "TimerHandle::wait_timeout(d)",
        "a method by its type's path: the README's row compiles `timer.wait_timeout(d)`",
    ),
    (
        "crates/weft-thread/README.md",
        "Thread::stack_size(n)",
        "a method by its type's path: the README's row compiles `.stack_size(n)`",
    ),
    (
        "crates/weft-thread/src/lib.rs",
        "Thread::stack_size(n)",
        "a method by its type's path: the README's row compiles `.stack_size(n)`",
    ),
    (
        "crates/weft-thread/README.md",
        "Err(Panicked)",
        "shorthand: an `Err` holding a `Panicked`",
    ),
    (
        "crates/weft-thread/src/lib.rs",
        "Err(Panicked)",
        "shorthand: an `Err` holding a `Panicked`",
    ),
    (
        "crates/weft-thread/src/lib.rs",
        "Result<T, JoinError>",
        "shorthand: `JoinError<T>`'s argument left out",
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
        // The weft column is the second.
        let weft = match cells(line).get(2) {
            Some(weft) if !matches!(weft.trim(), "weft" | "---") => weft.clone(),
            _ => continue,
        };
        for span in code_spans(&weft) {
            spans.push((section.clone(), span));
        }
    }
    spans
}

/// A table row's cells, split at each `|` not escaped as `\|` (unescaped); the text before the
/// first `|` is the first cell, the text after the last is left out.
fn cells(line: &str) -> Vec<String> {
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
    cells
}

/// The code spans of a cell (in `` [`a`](b) `` too, the span is `a`); a link's span and the span
/// right after it are one, as the reader reads them: `` [`anext`]`(&mut g)` `` is `anext(&mut g)`.
fn code_spans(cell: &str) -> Vec<String> {
    let mut spans: Vec<String> = Vec::new();
    let mut glued = false;
    for (i, part) in cell.split('`').enumerate() {
        if i % 2 == 0 {
            glued = part == "]" && !spans.is_empty();
        } else if glued {
            spans.last_mut().unwrap().push_str(part);
        } else {
            spans.push(part.to_owned());
        }
    }
    spans
}

/// The code of `rows` as the matcher reads it: comments out (a span must occur in code the
/// compiler read), whitespace squeezed.
fn rows_code() -> String {
    let source = include_str!("rosetta.rs");
    let rows_start = source.find("\nmod rows {").expect("the `rows` module");
    let rows_end = source
        .find("\n/// Spans of the weft column")
        .expect("NOT_CODE");
    let rows: Vec<&str> = source[rows_start..rows_end]
        .lines()
        .map(|line| line.find("//").map_or(line, |i| &line[..i]))
        .collect();
    squeeze(&rows.join("\n"))
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
    let code = rows_code();
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
    assert_eq!(
        code_spans("[`anext`]`(&mut g)`, [`Lock`]"),
        ["anext(&mut g)", "Lock"]
    );
    assert_eq!(code_spans("[`f`](g) `(x)`"), ["f", "(x)"]);
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

/// A Python table of a crate's docs or README: where its header is, and the code spans of its
/// weft columns.
struct CrateTable {
    /// `crates/<crate>/<path>:<line>` of the header row.
    at: String,
    spans: Vec<String>,
}

/// Every table in the files under `dir` (`target` left out) whose header has a column starting
/// `Python`: in Markdown files, and in the `//!` and `///` docs of Rust files. Its weft columns
/// are all the others but one headed `notes`.
fn crate_tables(root: &Path, dir: &Path, tables: &mut Vec<CrateTable>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("a readable directory under crates/")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if !path.ends_with("target") {
                crate_tables(root, &path, tables);
            }
            continue;
        }
        let extension = path.extension().and_then(|e| e.to_str());
        let rust = extension == Some("rs");
        if !rust && extension != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable file under crates/");
        let file = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        // The weft columns of the table being read (none for a table of another kind).
        let mut columns: Option<Vec<usize>> = None;
        for (i, line) in text.lines().enumerate() {
            let line = if rust {
                let code = line.trim_start();
                match code
                    .strip_prefix("//!")
                    .or_else(|| code.strip_prefix("///"))
                {
                    Some(doc) => doc.strip_prefix(' ').unwrap_or(doc),
                    None => "",
                }
            } else {
                line
            };
            if !line.starts_with('|') {
                columns = None;
                continue;
            }
            let row = cells(line);
            let Some(weft) = &columns else {
                let python = row.iter().position(|c| c.trim().starts_with("Python"));
                columns = Some(match python {
                    Some(python) => {
                        tables.push(CrateTable {
                            at: format!("{file}:{}", i + 1),
                            spans: Vec::new(),
                        });
                        (1..row.len())
                            .filter(|&c| c != python && row[c].trim() != "notes")
                            .collect()
                    }
                    None => Vec::new(),
                });
                continue;
            };
            for &c in weft {
                if let Some(cell) = row.get(c).filter(|cell| !cell.trim().starts_with("---")) {
                    let table = tables.last_mut().expect("a Python table is being read");
                    table.spans.extend(code_spans(cell));
                }
            }
        }
    }
}

#[test]
fn crate_tables_spans_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tables = Vec::new();
    crate_tables(root, &root.join("crates"), &mut tables);
    let code = rows_code();
    let mut listed_used = vec![false; CRATE_NOT_CODE.len()];
    let mut missing = Vec::new();
    // Per crate: spans checked, spans in CRATE_NOT_CODE, tables.
    let mut crates: Vec<(&str, usize, usize, usize)> = Vec::new();
    for table in &tables {
        let file = table.at.rsplit_once(':').expect("file:line").0;
        let krate = file.split('/').nth(1).expect("crates/<crate>/...");
        if crates.last().is_none_or(|(k, ..)| *k != krate) {
            crates.push((krate, 0, 0, 0));
        }
        let count = crates.last_mut().unwrap();
        count.3 += 1;
        let (mut checked, mut listed) = (0, 0);
        for span in &table.spans {
            let allowed = CRATE_NOT_CODE
                .iter()
                .position(|(f, s, _)| *f == file && s == span);
            if let Some(i) = allowed {
                listed_used[i] = true;
                listed += 1;
            } else {
                checked += 1;
                if !occurs(&code, span) {
                    missing.push(format!("{}: `{span}`", table.at));
                }
            }
        }
        println!(
            "{}: {checked} spans checked, {listed} in CRATE_NOT_CODE",
            table.at
        );
        count.1 += checked;
        count.2 += listed;
    }
    for (krate, checked, listed, n) in &crates {
        println!("{krate}: {n} tables, {checked} spans checked, {listed} in CRATE_NOT_CODE");
    }
    let names: Vec<&str> = crates.iter().map(|(k, ..)| *k).collect();
    let expected = [
        "weft-async",
        "weft-channel",
        "weft-executor",
        "weft-process",
        "weft-sync",
        "weft-thread",
    ];
    assert_eq!(
        names, expected,
        "every crate has a Coming from Python table; a crate without one, or a new crate, \
         changes this list"
    );
    let stale: Vec<_> = CRATE_NOT_CODE
        .iter()
        .zip(&listed_used)
        .filter(|(_, used)| !**used)
        .map(|((f, s, _), _)| format!("{f}: `{s}`"))
        .collect();
    assert!(
        stale.is_empty(),
        "CRATE_NOT_CODE lists spans no table has:\n  {}",
        stale.join("\n  ")
    );
    assert!(
        missing.is_empty(),
        "crate table spans not found in tests/rosetta.rs (edit the table's row and `rows` \
         together):\n  {}",
        missing.join("\n  ")
    );
}

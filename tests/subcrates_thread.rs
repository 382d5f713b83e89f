//! `weft::thread`'s re-exports (the rest are in `subcrates.rs`), in a test binary of their own:
//! the test runs `weft::main`, and from the end of its body until it returns the whole process
//! is exiting (`weft::thread::is_exiting`): every pool refuses submits and every `to_thread`
//! call is refused, which would fail the other re-export tests were they running meanwhile.

#[cfg(feature = "thread")]
#[test]
fn thread() {
    use std::time::Duration;
    use weft::thread::{
        active_count, current_thread, default_excepthook, enumerate, is_exiting, main_thread,
        reset_excepthook, set_excepthook, spawn, wait_non_daemon, Interval, IntervalHandle,
        JoinError, JoinTimeoutError, Panicked, Runnable, StartError, StopToken, Stopped, Thread,
        ThreadHandle, ThreadInfo, Timer, TimerHandle,
    };

    struct Job(u8);
    impl Runnable for Job {
        fn run(&mut self) {
            self.0 += 1;
        }
    }

    let value = weft::main(|| {
        let handle: ThreadHandle<u8> = spawn(|| 1).unwrap();
        let job = Thread::from_runnable(Job(1)).start().unwrap();
        let stoppable = Thread::new_stoppable(|stop: StopToken| stop.sleep(Duration::MAX))
            .start()
            .unwrap();
        stoppable.stop();
        assert_eq!(stoppable.join().unwrap(), Err(Stopped));
        let info: ThreadInfo = current_thread();
        assert_eq!(info.name(), "thread"); // the test harness names the thread after the test
        assert_eq!(main_thread().name(), "MainThread");
        assert!(active_count() >= 1 && !enumerate().is_empty());
        assert!(matches!(
            Thread::new(|| ()).name("a\0b").start(),
            Err(StartError::InvalidName(_))
        ));
        let timer: TimerHandle = Timer::new(Duration::MAX, || ()).start().unwrap();
        assert!(timer.cancel());
        let interval: IntervalHandle = Interval::new(Duration::MAX, || ()).start().unwrap();
        interval.cancel();
        set_excepthook(|p: &Panicked| default_excepthook(p));
        reset_excepthook();
        let late = spawn(|| 2).unwrap();
        let late = match late.join_timeout(Duration::from_secs(10)) {
            Ok(v) => v,
            Err(JoinTimeoutError::Timeout(h)) => {
                h.join().map_err(JoinError::into_panicked).unwrap()
            }
            Err(e) => panic!("{e}"),
        };
        handle.join().unwrap() + job.join().unwrap().0 + late
    });
    wait_non_daemon();
    assert!(!is_exiting()); // `main` has returned
    assert_eq!(value, 5);
}

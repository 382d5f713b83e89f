//! Deadlock detection's process-wide policies (feature `deadlock-detection`), one test so they
//! run in sequence: `Report` is the default, `Panic` fails the thread that closes a cycle (for test
//! suites) after the hook has seen the report, `Ignore` records and reports nothing.
#![cfg(feature = "deadlock-detection")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;
use weft_sync::deadlock::{
    clear_deadlock_hook, deadlock_policy, set_deadlock_hook, set_deadlock_policy, DeadlockPolicy,
};
use weft_sync::{Condition, Lock};

#[test]
fn policies_in_sequence() {
    assert_eq!(deadlock_policy(), DeadlockPolicy::Report);
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let seen = Arc::clone(&seen);
        set_deadlock_hook(move |r| seen.lock().push(r.to_string()));
    }

    // Panic: the acquire that closes the cycle panics instead of taking the lock.
    set_deadlock_policy(DeadlockPolicy::Panic);
    let a = Lock::named("pol-a", ());
    let b = Lock::named("pol-b", ());
    {
        let _a = a.acquire();
        let _b = b.acquire();
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _b = b.acquire();
        let _a = a.acquire();
    }));
    let payload = result.expect_err("closing the cycle must panic under Panic");
    let message = weft_sync::panic_message(payload.as_ref());
    assert!(
        message.contains("lock order cycle") && message.contains("'pol-a'"),
        "{message}"
    );
    assert_eq!(
        seen.lock().len(),
        1,
        "the hook sees the report before the panic"
    );
    assert!(
        !a.locked() && !b.locked(),
        "the unwinding released what was held"
    );

    // A thread that would wait for itself panics every time, not only the first: the hook saw
    // the cycle once, but a second test getting there must fail too, not hang.
    let again = Lock::named("pol-again", ());
    let _held = again.acquire();
    for attempt in 1..=2 {
        let result = catch_unwind(AssertUnwindSafe(|| {
            again
                .acquire_timeout(std::time::Duration::from_secs(30))
                .is_some()
        }));
        let payload = result.expect_err("a self-deadlock panics under Panic, every time");
        let message = weft_sync::panic_message(payload.as_ref());
        assert!(
            message.contains("'pol-again'"),
            "attempt {attempt}: {message}"
        );
    }
    assert_eq!(seen.lock().len(), 2, "the hook saw the self-deadlock once");
    drop(_held);

    // Ignore: nothing is recorded, so nothing is reported, now or later; also not by a
    // Condition wait's re-take of a guard taken before (pol-x -> pol-cond would close a cycle).
    let cond = Condition::named("pol-cond", ());
    let x = Lock::named("pol-x", ());
    let mut waiting = cond.acquire();
    let held_x = x.acquire(); // pol-cond -> pol-x, recorded under Panic
    set_deadlock_policy(DeadlockPolicy::Ignore);
    assert!(!waiting.wait_timeout(std::time::Duration::from_millis(1)));
    drop((held_x, waiting));
    assert_eq!(seen.lock().len(), 2, "a wait under Ignore reported");
    let c = Lock::named("pol-c", ());
    let d = Lock::named("pol-d", ());
    for (first, second) in [(&c, &d), (&d, &c)] {
        let _f = first.acquire();
        let _s = second.acquire();
    }
    assert_eq!(seen.lock().len(), 2);

    // Report again, without a hook: printed to stderr, and execution goes on.
    set_deadlock_policy(DeadlockPolicy::Report);
    clear_deadlock_hook();
    let e = Lock::named("pol-e", ());
    let f = Lock::named("pol-f", ());
    for (first, second) in [(&e, &f), (&f, &e)] {
        let _f = first.acquire();
        let _s = second.acquire();
    }
    assert_eq!(seen.lock().len(), 2, "the cleared hook is not called");

    // A hook that takes a lock of the very cycle it reports: the report runs before the new
    // lock is taken, so it cannot wait for itself.
    let log = Arc::new(Lock::named("pol-log", Vec::<String>::new()));
    {
        let log = Arc::clone(&log);
        set_deadlock_hook(move |r| log.acquire().push(r.to_string()));
    }
    let config = Lock::named("pol-config", ());
    {
        let _l = log.acquire();
        let _c = config.acquire();
    }
    {
        let _c = config.acquire();
        let _l = log.acquire(); // closes the cycle; the hook takes pol-log first
    }
    assert_eq!(log.acquire().len(), 1);
    clear_deadlock_hook();
}

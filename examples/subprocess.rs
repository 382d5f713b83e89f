//! subprocess.run: run commands with captured output, check, a timeout that kills, and communicate
//!
//! Python's `subprocess` module runs other programs. `run` starts one, waits for it and returns a
//! `CompletedProcess`; `check=True` turns a failure into `CalledProcessError`; `timeout=` kills a
//! child that takes too long; `Popen.communicate` feeds a child's stdin while reading its output.
//! In Python (3.12):
//!
//! ```python
//! done = subprocess.run(["echo", "hello"], capture_output=True)
//! print(done.returncode, done.stdout)              # 0 b'hello\n'
//!
//! try:
//!     subprocess.run(["ls", "/nonexistent"], capture_output=True, check=True)
//! except subprocess.CalledProcessError as e:
//!     print(e.returncode, e.stderr)
//!
//! try:
//!     subprocess.run(["sleep", "30"], timeout=0.2)  # killed after 0.2 s
//! except subprocess.TimeoutExpired as e:
//!     print("timed out after", e.timeout)
//!
//! p = subprocess.Popen(["sort"], stdin=PIPE, stdout=PIPE)
//! out, err = p.communicate(b"pear\napple\nfig\n")
//!
//! p = subprocess.Popen(["sleep", "30"])
//! threading.Timer(0.2, p.kill).start()             # a watchdog thread
//! print(p.wait())                                  # -9
//! ```
//!
//! In weft the keyword arguments are builder methods and the exceptions are the variants of one
//! error enum, `SubprocessError`, that carry the child's output. No shell is involved unless asked
//! for, so arguments need no quoting.

use std::time::{Duration, Instant};

use weft::process::subprocess::{run, Redirect, SubprocessError};
use weft::thread::Timer;

fn main() -> Result<(), SubprocessError> {
    // 1. Run a command and capture what it prints (capture_output=True).
    let done = run(["echo", "hello from a child"]).capture().output()?;
    println!(
        "run(echo): returncode {}, stdout {:?}",
        done.returncode,
        done.stdout_str()
    );

    // 2. check(): a non-zero exit becomes CalledProcessError, with the captured output inside.
    let failing = run(["ls", "/nonexistent-weft-dir"])
        .capture()
        .check()
        .output();
    match failing {
        Err(SubprocessError::CalledProcessError {
            returncode, stderr, ..
        }) => println!(
            "check(): CalledProcessError, returncode {returncode}, stderr {:?}",
            String::from_utf8_lossy(&stderr).trim_end()
        ),
        other => panic!("expected CalledProcessError, got {other:?}"),
    }

    // 3. timeout(): the child is killed (SIGKILL) and reaped once the time is up; what it had
    //    written by then is in the error.
    let start = Instant::now();
    let slow = run(["sh", "-c", "echo working; exec sleep 30"])
        .capture()
        .timeout(Duration::from_millis(200))
        .output();
    match slow {
        Err(SubprocessError::TimeoutExpired {
            timeout, stdout, ..
        }) => println!(
            "timeout(): TimeoutExpired after {timeout:?} (returned in {:.0?}), output so far {:?}",
            start.elapsed(),
            String::from_utf8_lossy(&stdout)
        ),
        other => panic!("expected TimeoutExpired, got {other:?}"),
    }

    // 4. Popen + communicate: write stdin and read stdout at the same time, so any amount of
    //    data flows without the two pipes deadlocking.
    let mut sort = run(["sort"])
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .spawn()?;
    let (out, _err) = sort.communicate(b"pear\napple\nfig\n")?;
    println!(
        "communicate(sort): {:?}, returncode {:?}",
        String::from_utf8_lossy(&out),
        sort.returncode()
    );

    // 5. A watchdog Timer (Python's Timer(0.2, p.kill)): Popen's kill takes `&mut self`, which
    //    wait holds, so the timer gets a Killer, a handle that signals this child from any thread
    //    (and never a pid that was reaped and reused).
    let mut sleeper = run(["sleep", "30"]).spawn()?;
    let killer = sleeper.killer();
    let watchdog = Timer::new(Duration::from_millis(200), move || {
        let _ = killer.kill();
    })
    .start()
    .expect("a timer thread");
    let started = Instant::now();
    let code = sleeper.wait().map_err(SubprocessError::Io)?;
    watchdog.cancel(); // harmless after it fired; spares the child if it had ended first
    let _ = watchdog.join();
    println!(
        "watchdog Killer: sleep 30 stopped after {:.0?}, returncode {code}",
        started.elapsed()
    );
    assert_eq!(code, -9);

    // A signal death reads as a negative return code, as in Python.
    let killed = run(["sh", "-c", "kill -9 $$"]).output()?;
    println!("sh killed by SIGKILL: returncode {}", killed.returncode);
    assert_eq!(killed.returncode, -9);
    Ok(())
}

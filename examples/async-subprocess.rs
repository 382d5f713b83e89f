//! asyncio.create_subprocess_exec: one thread runs several children at once, fastest first
//!
//! In asyncio a child process is awaited like any other I/O: the loop runs other tasks while
//! children run, so one thread can start several and take each result as it comes, with
//! `as_completed`. `communicate` feeds stdin and reads the output; `wait_for` gives up on a
//! child that takes too long:
//!
//! ```python
//! async def ping(host, secs):
//!     p = await asyncio.create_subprocess_exec(
//!         "sh", "-c", f"sleep {secs}; echo {host} answered", stdout=PIPE)
//!     out, _ = await p.communicate()
//!     return out.decode().strip()
//!
//! for fut in asyncio.as_completed([ping("a", .5), ping("b", .1), ping("c", .3)]):
//!     print(await fut)                         # b, c, a: about 0.5 s in all, not 0.9
//!
//! p = await asyncio.create_subprocess_exec("sort", stdin=PIPE, stdout=PIPE)
//! out, _ = await p.communicate(b"pear\napple\nfig\n")
//!
//! p = await asyncio.create_subprocess_exec("sleep", "30")
//! try:
//!     await asyncio.wait_for(p.wait(), 0.2)
//! except TimeoutError:
//!     p.kill(); await p.wait()                 # -9
//! ```
//!
//! weft's `subprocess::run(args)` builder has async twins: `output_async()` (start, feed, read,
//! wait: `subprocess.run` for async code) and `spawn_async()`, an `AsyncPopen` with
//! `communicate_async`, `wait_timeout_async` and `kill`. The children are awaited on
//! `weft::aio::run`'s single thread, and `weft::aio::as_completed` takes them fastest first.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use weft::aio::{as_completed, run};
use weft::process::subprocess::{self, Redirect, SubprocessError};

/// `sh -c "sleep SECS; echo HOST answered"`, awaited: its trimmed output.
async fn ping(host: &str, secs: f64) -> Result<String, SubprocessError> {
    let script = format!("sleep {secs}; echo {host} answered");
    let done = subprocess::run(["sh", "-c", &script])
        .capture()
        .output_async()
        .await?;
    Ok(done.stdout_str().trim().to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(async {
        let start = Instant::now();
        let pings = [ping("a", 0.5), ping("b", 0.1), ping("c", 0.3)];
        let mut answers = as_completed(pings);
        let mut order = Vec::new();
        while let Some(answer) = answers.next().await {
            let answer = answer?;
            println!("  {answer} after {:?}", start.elapsed());
            order.push(answer);
        }
        let took = start.elapsed();
        println!("3 children of 0.5 + 0.1 + 0.3 s on one thread took {took:?}: they overlapped");
        assert_eq!(order, ["b answered", "c answered", "a answered"]);
        assert!(
            took < Duration::from_millis(900),
            "they ran one after another"
        );

        // communicate: feed stdin and read stdout, without a thread per pipe.
        let mut sort = subprocess::run(["sort"])
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .spawn_async()?;
        let (out, _) = sort.communicate_async(b"pear\napple\nfig\n").await?;
        let sorted = String::from_utf8_lossy(&out).into_owned();
        println!(
            "sort <<< pear apple fig -> {:?}",
            sorted.lines().collect::<Vec<_>>()
        );
        assert_eq!(sorted, "apple\nfig\npear\n");

        // A timed wait gives up without touching the child; kill it, then reap it.
        let mut sleeper = subprocess::run(["sleep", "30"]).spawn_async()?;
        let waited = sleeper
            .wait_timeout_async(Duration::from_millis(200))
            .await?;
        println!("wait(timeout=0.2) on `sleep 30` -> {waited:?} (still running)");
        assert_eq!(waited, None);
        sleeper.kill()?;
        let code = sleeper.wait_async().await?;
        println!("kill(), then wait() -> {code} (killed by signal 9)");
        assert_eq!(code, -9);

        // output_async with a timeout kills the child itself and keeps what it had printed.
        let late = subprocess::run(["sh", "-c", "echo started; exec sleep 30"])
            .capture()
            .timeout(Duration::from_millis(300))
            .output_async()
            .await;
        match late {
            Err(SubprocessError::TimeoutExpired {
                timeout, stdout, ..
            }) => {
                println!(
                    "run(timeout={timeout:?}) -> TimeoutExpired, child killed, its output so \
                     far: {:?}",
                    String::from_utf8_lossy(&stdout)
                );
                assert_eq!(stdout, b"started\n");
            }
            other => panic!("expected TimeoutExpired, got {other:?}"),
        }
        Ok(())
    })
    .expect("no runtime is running on this thread")
}

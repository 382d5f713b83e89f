//! async with: a connection opened and closed with awaits, committed or rolled back; AsyncExitStack
//!
//! A resource whose teardown must await (closing a connection politely, committing a
//! transaction) cannot rely on `Drop`, which cannot await. Python gives such a resource an
//! async context manager: the teardown runs however the body ends, and sees how it ended. In
//! Python:
//!
//! ```python
//! @asynccontextmanager
//! async def connect(host):
//!     conn = await open_connection(host)       # setup
//!     try:
//!         yield conn
//!         await conn.commit()                  # the body succeeded
//!     except Exception:
//!         await conn.rollback()                # the body raised
//!         raise
//!     finally:
//!         await conn.close()
//!
//! async with connect("db") as conn:
//!     await conn.execute("INSERT ...")
//!
//! async with AsyncExitStack() as stack:       # a number of resources known at run time
//!     conns = [await stack.enter_async_context(connect(h)) for h in hosts]
//!     ...                                      # closed last in, first out
//! ```
//!
//! weft's `context_manager(setup, teardown)` is the decorated generator: the setup is the code
//! before the `yield`, the teardown the code after it, and it gets the body's `Outcome`.
//! `async_with(cm, async |conn| { .. })` is the `async with` statement: the body borrows the
//! connection, and the teardown gets it back to close it. A task still inside `async with`
//! when `run`'s main future returns is cancelled and its teardown awaited before `run`
//! returns, as `asyncio.run` does.

use std::fmt;
use std::time::Duration;

use weft::aio::{
    async_with, context_manager, create_task, run, AsyncContextManager, AsyncExitStack,
};

/// A database error (the body's and the connection's).
#[derive(Debug)]
struct DbError(&'static str);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A pretend connection: each step takes a couple of milliseconds, as I/O would.
struct Conn {
    host: &'static str,
    pending: Vec<String>,
}

impl Conn {
    async fn open(host: &'static str) -> Result<Conn, DbError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        println!("  [{host}] connected");
        Ok(Conn {
            host,
            pending: Vec::new(),
        })
    }

    async fn execute(&mut self, sql: &str) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        println!("  [{}] {sql}", self.host);
        self.pending.push(sql.to_owned());
    }

    /// Commits or rolls back, then closes: the async teardown.
    async fn finish(self, commit: bool) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let verb = if commit { "COMMIT" } else { "ROLLBACK" };
        let n = self.pending.len();
        let s = if n == 1 { "" } else { "s" };
        println!("  [{}] {verb} ({n} statement{s}), closed", self.host);
    }
}

/// `@asynccontextmanager async def connect(host)`.
fn connect(
    host: &'static str,
) -> impl AsyncContextManager<Resource = Conn, Error = DbError, Exit = ()> + Send + 'static {
    context_manager(
        move || Conn::open(host),
        |conn: Conn, outcome| {
            // Read the outcome now; the teardown's future cannot borrow it.
            let commit = outcome.is_success();
            async move {
                conn.finish(commit).await;
                Ok(())
            }
        },
    )
}

fn main() {
    run(async {
        println!("async with connect(\"db\"): the body succeeds");
        let rows = async_with(connect("db"), async |conn| {
            conn.execute("INSERT INTO users VALUES ('ada')").await;
            conn.execute("INSERT INTO users VALUES ('grace')").await;
            Ok::<_, DbError>(conn.pending.len())
        })
        .await;
        println!("-> Ok({} rows)\n", rows.expect("the body succeeded"));

        println!("async with connect(\"db\"): the body fails");
        let failed = async_with(connect("db"), async |conn| {
            conn.execute("INSERT INTO users VALUES ('ada')").await;
            Err::<usize, _>(DbError("UNIQUE constraint failed: users.name"))
        })
        .await;
        println!("-> Err({})\n", failed.expect_err("the body failed"));

        println!("AsyncExitStack: three connections, closed last in, first out");
        let mut stack = AsyncExitStack::new();
        let mut conns = Vec::new();
        for host in ["primary", "replica-1", "replica-2"] {
            let conn = stack.enter_async_context(connect(host)).await;
            conns.push(conn.expect("a pretend connection always opens"));
        }
        for conn in &conns {
            let conn = stack.get_mut(*conn).expect("the stack holds it");
            conn.execute("SELECT 1").await;
        }
        stack.aclose().await.expect("no teardown fails");
        println!("-> all closed\n");

        // asyncio.run cancels the tasks still running when main returns and lets them clean up:
        // weft's run does too, awaiting the teardown of a task still inside `async with`.
        println!("a background task is still inside `async with` when main returns");
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let mut started_tx = Some(started_tx);
        create_task(async_with(connect("worker"), async move |conn| {
            conn.execute("UPDATE jobs SET state = 'running'").await;
            if let Some(started) = started_tx.take() {
                let _ = started.send(());
            }
            std::future::pending::<()>().await; // never finishes on its own
            Ok::<(), DbError>(())
        }))
        .detach();
        started_rx.await.expect("the worker started");
        println!("-> main returns; run cancels the worker and awaits its teardown");
    })
    .expect("main is not inside another tokio runtime");
    println!("-> run returned: the worker's update was rolled back first");
}

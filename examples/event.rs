//! threading.Event: clients wait for a "server ready" flag that the server thread sets
//!
//! ```python
//! ready = threading.Event()
//!
//! def server():
//!     start_up()
//!     ready.set()          # wakes every waiting client
//!
//! def client(n):
//!     ready.wait()
//!     connect()
//!
//! ready.wait(timeout=0.01)  # -> False before set(), True after
//! ready.clear()
//! ```

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft::sync::Event;

fn main() {
    let ready = Arc::new(Event::new());
    let short = Duration::from_millis(10);

    // Nobody can set the flag yet: the server thread does not exist.
    println!("main: is_set() = {}", ready.is_set());
    let before = ready.wait_timeout(short);
    println!("main: wait_timeout(10 ms) -> {before} (not set yet)");
    assert!(!before);

    let clients: Vec<_> = (1..=3)
        .map(|n| {
            let ready = Arc::clone(&ready);
            thread::spawn(move || {
                println!("client {n}: waiting for the server");
                ready.wait();
                println!("client {n}: server is ready, connecting");
            })
        })
        .collect();

    let server = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            println!("server: starting up");
            thread::sleep(Duration::from_millis(20)); // simulated start-up work
            println!("server: ready, set()");
            ready.set();
        })
    };
    server.join().expect("server panicked");
    for c in clients {
        c.join().expect("client panicked");
    }

    let after_set = ready.wait_timeout(short);
    println!("main: wait_timeout(10 ms) -> {after_set} (set)");
    assert!(after_set);

    ready.clear();
    println!("main: clear(); is_set() = {}", ready.is_set());
    let after_clear = ready.wait_timeout(short);
    println!("main: wait_timeout(10 ms) -> {after_clear} (cleared: waits block again)");
    assert!(!after_clear);
}

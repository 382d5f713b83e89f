//! multiprocessing.Pipe: two connected ends that pass messages between processes
//!
//! `Pipe()` returns two connection objects; whatever one end sends the other receives. In
//! Python:
//!
//! ```python
//! def pinger(conn):
//!     while (msg := conn.recv()) != "bye":
//!         conn.send(msg.upper())
//!
//! if __name__ == "__main__":
//!     parent, child = multiprocessing.Pipe()
//!     p = multiprocessing.Process(target=pinger, args=(child,))
//!     p.start()
//!     parent.send("hello"); print(parent.recv())   # HELLO
//!     parent.send("bye"); p.join()
//! ```
//!
//! weft's `Connection<T>` is typed: any serde type travels, encoded compactly, and one end can be
//! handed to a child inside its argument. `recv_timeout` and `poll` never block for ever, and a
//! closed peer reads as `ConnectionError::Closed` (Python's `EOFError`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft::process::{Connection, ConnectionError, Pipe, Process};

#[derive(Serialize, Deserialize, Debug)]
enum Msg {
    Shout(String),
    Sum(Vec<i64>),
    Bye,
}

/// The child: answers each request on the same connection until Bye.
fn server(conn: Connection<Msg>) -> usize {
    let mut served = 0;
    while let Ok(msg) = conn.recv() {
        let reply = match msg {
            Msg::Shout(s) => Msg::Shout(s.to_uppercase()),
            Msg::Sum(v) => Msg::Sum(vec![v.iter().sum()]),
            Msg::Bye => break,
        };
        if conn.send(&reply).is_err() {
            break;
        }
        served += 1;
    }
    served
}

fn main() {
    weft::main(|| {
        let (ours, theirs) = Pipe::<Msg>::new().expect("pipe");
        let child = Process::new(server, theirs).start().expect("start");

        for msg in [Msg::Shout("hello".into()), Msg::Sum(vec![1, 2, 3, 4])] {
            println!("send {msg:?}");
            ours.send(&msg).expect("send");
            println!(
                "recv {:?}",
                ours.recv_timeout(Duration::from_secs(10)).expect("reply")
            );
        }
        println!(
            "poll with nothing sent: {}",
            ours.poll(Duration::from_millis(10)).expect("poll")
        );
        ours.send(&Msg::Bye).expect("send");
        println!("the child served {} requests", child.join().expect("join"));
        match ours.recv() {
            Err(ConnectionError::Closed) => {
                println!("recv after the child exited: Closed (EOFError)")
            }
            other => println!("unexpected: {other:?}"),
        }

        // One-way pipe: Pipe(duplex=False).
        let (rx, tx) = Pipe::<u32>::one_way().expect("pipe");
        tx.send(&42).expect("send");
        println!(
            "one-way pipe delivered {}; sending on its receiving end: {}",
            rx.recv().expect("recv"),
            rx.send(&1).unwrap_err()
        );
    })
}

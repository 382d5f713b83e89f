//! The errors' cause chains: an error whose message shows its cause's text does not also return
//! that cause from `source()`, so a chain printer (anyhow's `{:#}`, or the walk below) shows each
//! text once, as for `std::io::Error`.

use std::error::Error;
use std::fmt;
use std::io;

use weft_process::{Call, ConnectionError, ProcessError, SendCallError};

/// The messages of `e` and of each error under it, outermost first.
fn chain(e: &(dyn Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(e), |e| (*e).source())
        .map(ToString::to_string)
        .collect()
}

/// How many of the chain's messages contain `text`.
fn shown(chain: &[String], text: &str) -> usize {
    chain.iter().filter(|m| m.contains(text)).count()
}

#[derive(Debug)]
struct Outer(Inner);
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer cause")
    }
}
impl Error for Outer {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[derive(Debug)]
struct Inner;
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inner cause")
    }
}
impl Error for Inner {}

/// An I/O error with two layers of cause under it.
fn layered() -> io::Error {
    io::Error::other(Outer(Inner))
}

#[test]
fn wrapped_causes_are_shown_once_in_the_chain() {
    let errors: Vec<Box<dyn Error>> = vec![
        Box::new(ConnectionError::from(layered())),
        Box::new(ProcessError::Spawn(layered())),
        Box::new(ProcessError::Connection(ConnectionError::from(layered()))),
        Box::new(SendCallError::Disconnected {
            call: Call::new(|x: u8| x, &1).unwrap(),
            error: ConnectionError::from(layered()),
        }),
    ];
    for e in &errors {
        let chain = chain(&**e);
        assert_eq!(shown(&chain, "outer cause"), 1, "{chain:?}");
        // The layer under the shown cause is still reachable.
        assert_eq!(shown(&chain, "inner cause"), 1, "{chain:?}");
    }
}

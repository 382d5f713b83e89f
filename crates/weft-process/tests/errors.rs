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

/// Every message follows Rust's convention for error messages (the API guidelines' C-GOOD-ERR):
/// it starts with a lower-case word and has no trailing period, so it reads well after a
/// `context: ` prefix or inside another error's message. An identifier (`Worker::wait_any`,
/// `Redirect::Stdout`) keeps its case, so a message does not start with one.
#[test]
fn messages_start_lower_case_and_end_without_a_period() {
    use weft_process::{run, CallError, QueueError, Redirect, SubprocessError, Worker};

    let stdin = run(["true"]).stdin(Redirect::Stdout).output().unwrap_err();
    let stdout = run(["true"]).stdout(Redirect::Stdout).output().unwrap_err();
    for e in [&stdin, &stdout] {
        assert!(matches!(e, SubprocessError::InvalidArgument(_)), "{e:?}");
    }
    let waited = Worker::wait_any(&[], None).unwrap_err();
    assert_eq!(waited.kind(), io::ErrorKind::InvalidInput);
    let errors: Vec<Box<dyn Error>> = vec![
        Box::new(ProcessError::NoGuard),
        Box::new(ProcessError::FunctionNotInExecutable),
        Box::new(ProcessError::Timeout),
        Box::new(ProcessError::Exited { code: 3 }),
        Box::new(ProcessError::Signaled { signal: 9 }),
        Box::new(ConnectionError::Closed),
        Box::new(ConnectionError::InTransit),
        Box::new(ConnectionError::WrongDirection),
        Box::new(CallError::ResultDecode("bad".into())),
        Box::new(QueueError::<u8>::Empty),
        Box::new(QueueError::Disconnected(Some(1u8))),
        Box::new(SubprocessError::EmptyArgs),
        Box::new(stdin),
        Box::new(stdout),
        Box::new(waited),
    ];
    for e in &errors {
        let message = e.to_string();
        assert!(
            message.starts_with(|c: char| !c.is_uppercase()),
            "starts upper-case: {message:?}"
        );
        assert!(!message.ends_with('.'), "ends with a period: {message:?}");
    }
}

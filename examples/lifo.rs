//! queue.LifoQueue: last in, first out next to Queue's first in, first out; Empty and Full
//!
//! A `LifoQueue` is a stack: `get` takes the item put most recently, which is what an undo
//! history needs. The non-blocking calls report an empty or full queue with an error instead of
//! waiting. In Python:
//!
//! ```python
//! fifo, undo = queue.Queue(), queue.LifoQueue()
//! for action in actions:            # an editor thread records them
//!     fifo.put(action); undo.put(action)
//! fifo.get()                        # the first action
//! undo.get()                        # the last one: what Ctrl+Z undoes
//!
//! try:
//!     undo.get_nowait()
//! except queue.Empty: ...
//!
//! clipboard = queue.LifoQueue(maxsize=2)
//! try:
//!     clipboard.put_nowait("third")
//! except queue.Full: ...            # "third" is not in the exception: keep your own copy
//! ```
//!
//! weft's errors are values: `try_get` gives `Err(TryGetError::Empty)`, and `try_put` gives
//! `Err(TryPutError::Full(item))` with the item handed back, so nothing needs copying.

use std::time::Duration;

use weft::channel::{LifoQueue, Queue, TryGetError, TryPutError};
use weft::thread::Thread;

/// What the user did, in order.
const ACTIONS: [&str; 5] = [
    "type \"Hello\"",
    "make it bold",
    "insert image",
    "type \" world\"",
    "delete line 3",
];

fn main() {
    weft::main(|| {
        let fifo = Queue::unbounded();
        let undo = LifoQueue::unbounded();

        // An editor thread records every action in both queues.
        let editor = {
            let (fifo, undo) = (fifo.clone(), undo.clone());
            Thread::new(move || {
                for action in ACTIONS {
                    fifo.put(action).expect("the queue is open");
                    undo.put(action).expect("the queue is open");
                }
            })
            .name("editor")
            .start()
            .expect("the OS refused a thread")
        };
        editor.join().expect("editor panicked");
        println!("the editor recorded {} actions", undo.qsize());

        println!("  {:<18} | LifoQueue (undo)", "Queue (replay)");
        while let (Ok(first), Ok(last)) = (fifo.try_get(), undo.try_get()) {
            println!("  {first:<18} | undo {last}");
        }

        // `get_nowait` on an empty queue: `queue.Empty`, as a value.
        match undo.try_get() {
            Err(TryGetError::Empty) => println!("undo again: try_get() -> Empty, nothing to undo"),
            other => unreachable!("the stack was emptied: {other:?}"),
        }
        // `get(timeout=...)` waits a little before giving up the same way.
        let waited = undo.get_timeout(Duration::from_millis(20));
        println!("get_timeout(20 ms) -> {waited:?}");

        // A bounded stack: `put_nowait` on a full one is `queue.Full`, with the item given back.
        let clipboard = LifoQueue::bounded(2).expect("capacity is not zero");
        for text in ["first", "second", "third"] {
            match clipboard.try_put(text.to_owned()) {
                Ok(()) => println!("clipboard: put {text:?} ({} of 2)", clipboard.qsize()),
                Err(TryPutError::Full(back)) => {
                    println!("clipboard: full, try_put gave {back:?} back");
                    // The item is ours again: here it replaces the newest entry.
                    let newest = clipboard.get().expect("the queue is open");
                    println!("clipboard: replaced {newest:?} with {back:?}");
                    clipboard.put(back).expect("there is room now");
                }
                Err(TryPutError::ShutDown(_)) => unreachable!("never shut down"),
            }
        }
        let left: Vec<_> = std::iter::from_fn(|| clipboard.try_get().ok()).collect();
        println!("clipboard, newest first: {left:?}");
    })
}

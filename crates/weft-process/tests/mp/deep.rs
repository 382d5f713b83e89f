//! A value nested deeper than a thread's stack holds when serde recurses through it, for the
//! cases that send one between processes: a linked list built, measured and dropped with loops.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use serde::{Deserialize, Serialize};

/// The stack of the threads the cases encode and decode on: 256 KiB, which plain postcard
/// overflowed (aborting the program) at a few thousand levels.
pub(crate) const SMALL_STACK: usize = 256 << 10;

/// How deep a result must be for plain postcard to overflow, encoding it, the 8 MiB main thread
/// of the child that returns it, with room to spare: a link of [`List`] took 320 bytes of stack
/// in a debug build and 80 in a release one (`benches/decode.rs`'s `frames` mode, `Before`), so
/// 26 000 and 105 000 links fill 8 MiB.
pub(crate) const DEEP_RESULT: u32 = if cfg!(debug_assertions) {
    60_000
} else {
    300_000
};

/// A linked list, two levels of nesting per link (a tuple variant, then its `Box`). The number
/// comes after the `Box`, so that serde's recursion cannot end in a tail call (a release build
/// then encodes a list whose `Box` comes last with no stack at all).
#[derive(Serialize, Deserialize)]
pub(crate) enum List {
    Nil,
    Cons(Box<List>, u32),
}

impl Drop for List {
    fn drop(&mut self) {
        let List::Cons(rest, _) = self else { return };
        let mut next = std::mem::replace(&mut **rest, List::Nil);
        while let List::Cons(rest, _) = &mut next {
            next = std::mem::replace(&mut **rest, List::Nil);
        }
    }
}

/// A list of `depth` links, numbered from the end.
pub(crate) fn list_of(depth: u32) -> List {
    (0..depth).fold(List::Nil, |rest, i| List::Cons(Box::new(rest), i))
}

/// The number of links of `list`, or `None` if they are not numbered as [`list_of`] numbers
/// them (down to 0).
pub(crate) fn links(list: &List) -> Option<u32> {
    let (mut depth, mut next) = (0, None);
    let mut link = list;
    while let List::Cons(rest, i) = link {
        if next.is_some_and(|n| n != *i) {
            return None;
        }
        (depth, next, link) = (depth + 1, i.checked_sub(1), rest);
    }
    (next.is_none()).then_some(depth)
}

/// Runs `f` on a new thread with a [`SMALL_STACK`].
pub(crate) fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn a thread")
        .join()
        .expect("the thread panicked")
}

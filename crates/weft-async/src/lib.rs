//! weft-async: Python's `asyncio` for Rust, on tokio.
//!
//! (Crate documentation is written once the crate is complete.)
#![cfg_attr(docsrs, feature(doc_cfg))]

mod blocking;
mod context;
mod error;
mod gather;
mod generator;
mod group;
mod locks;
mod loom;
mod runtime;
mod task;
mod timeout;

pub use crate::blocking::*;
pub use crate::context::*;
pub use crate::error::*;
pub use crate::gather::*;
pub use crate::generator::*;
pub use crate::group::*;
pub use crate::locks::*;
pub use crate::runtime::*;
pub use crate::task::*;
pub use crate::timeout::*;

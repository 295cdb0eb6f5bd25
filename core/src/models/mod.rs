//! Model implementations.

pub mod distilbert;
pub(crate) mod fast;

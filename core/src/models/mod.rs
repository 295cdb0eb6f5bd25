//! Model implementations.

pub mod distilbert;

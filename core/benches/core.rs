//! Criterion benches of the pure layer.
#![allow(missing_docs)]
fn main() {}

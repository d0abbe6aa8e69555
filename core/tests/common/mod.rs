//! Helpers shared by integration tests (`mod common;`).

#![allow(dead_code, unreachable_pub)]

pub mod store_contract;

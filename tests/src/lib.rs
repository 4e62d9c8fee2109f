//! The end-to-end harness: starts the real `twostepd` binary as a child process with a fresh
//! database, captures its standard error (where the console SMS sink writes), and hands out
//! gRPC clients. Services come from `scripts/test`, which exports their addresses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test support: failing loudly is the point.

pub mod env;
pub mod redis;
pub mod server;

pub use redis::RedisServer;
pub use server::{Backend, SharedStores, TestServer};

//! The domain of twostep: value types that parse once, the flows that implement the
//! product, and the ports (traits) through which the flows reach storage, the short-lived
//! store and SMS providers.
//!
//! **Architecture invariant:** this crate knows nothing about gRPC, SQL, Redis or HTTP.
//! Adapters depend on it; it depends on none of them (`scripts/test` checks with `cargo tree`).

pub mod api_client;
pub mod audit;
pub mod audit_buffer;
pub mod challenge;
pub mod clock;
pub mod email;
pub mod error;
pub mod flows;
mod hash_scheduling;
pub mod ids;
pub mod otp;
pub mod password;
pub mod password_policy;
pub mod phone;
pub mod ports;
pub mod session;
pub mod session_cache;
pub mod templates;
pub mod tenant;
pub mod token;
pub mod user;

pub use error::CoreError;

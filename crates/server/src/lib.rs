//! twostepd: configuration, wiring, gRPC services, error mapping, health and reflection.
//!
//! **Architecture invariant:** this is the only crate that knows tonic and the generated
//! proto types; everything it calls speaks domain types from `twostep-core`.

pub mod authn;
pub mod caller;
pub mod config;
pub mod convert;
pub mod error;
pub mod health;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenant_sms;
pub mod tenant_verify;
pub mod tls;

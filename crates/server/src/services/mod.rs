//! The gRPC services: each method parses its request, calls one flow and converts the answer.

pub mod account;
pub mod account_convert;
pub mod admin;
pub mod admin_convert;
pub mod auth;

//! The gRPC services: each method parses its request, calls one flow and converts the answer.

pub mod account;
pub mod account_convert;
pub mod admin;
pub mod admin_api_clients;
pub mod admin_convert;
pub mod admin_sms;
pub mod auth;

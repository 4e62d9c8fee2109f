//! End-to-end tests: the real `twostepd`, real SQLite/PostgreSQL and Redis, real gRPC.
//! One binary (`mod`s below), so it links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly.

mod account;
mod admin;
mod api_keys;
mod backup_codes;
mod bad_input;
mod fake_provider;
mod fake_twilio_verify;
mod helpers;
mod hygiene;
mod limit_keys;
mod limits;
mod metrics;
mod operations;
mod outbox;
mod password_login;
mod phone_login;
mod provider_codes;
mod receipts;
mod redis_faults;
mod redis_sentinel;
mod registration;
mod requirements;
mod revocation;
mod sessions;
mod sms_admin;
mod store_dump;

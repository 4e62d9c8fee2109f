//! The sms-gateway test suite: every adapter against a fake provider built from the fact
//! sheet (`reference/sms-providers.md`), the generic template provider in the shapes of the
//! seed's WSO2 configurations, and the router's failover, retries and circuit breakers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed unwrap is a failed test with its location"
)]

mod fakes;
mod support;

mod bulksms;
mod bulksms_eapi;
mod clickatell;
mod clickatell_legacy;
mod generic_http;
mod messagebird;
mod plivo;
mod routing;
mod twilio;
mod twilio_verify;
mod vonage;

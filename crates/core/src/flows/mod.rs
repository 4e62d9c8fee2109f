//! The product's flows, written against the ports only. Each function takes [`Deps`] and
//! values that were already parsed at the edge, and returns domain results or a
//! [`CoreError`](crate::CoreError).

pub mod admin;
pub mod codes;
pub mod login;
pub mod sessions;
pub mod tenants;
pub mod texts;
pub mod verify;

use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::otp::CodeKey;
use crate::password::PasswordHasher;
use crate::ports::{SessionRepo, ShortLivedStore, SmsOutbox, TenantRepo, UserRepo};

/// Everything a flow may reach. Built once at start-up and shared.
pub struct Deps {
    pub tenants: Arc<dyn TenantRepo>,
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub store: Arc<dyn ShortLivedStore>,
    pub outbox: Arc<dyn SmsOutbox>,
    pub clock: Arc<dyn Clock>,
    pub code_key: CodeKey,
    pub passwords: PasswordHasher,
    pub tenant_cache: tenants::TenantCache,
}

/// What the calling service tells us about the end user's client. Rate limits, audit events
/// and message language use it; none of it is trusted for authentication.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
    pub locale: String,
    pub device_id: String,
}

//! Users of a tenant.

use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::ids::{TenantId, UserId};
use crate::phone::PhoneNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub tenant: TenantId,
    pub email: Option<Email>,
    pub display_name: String,
    /// Argon2id PHC string; `None` for users who only ever log in by phone.
    pub password_hash: Option<String>,
    pub phone: Option<PhoneNumber>,
    /// Set only while `phone` is the exact number that was verified (R29).
    pub phone_verified_at: Option<DateTime<Utc>>,
    pub two_step_enabled: bool,
    pub role: Role,
    pub must_change_password: bool,
    pub locked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// The phone number, if and only if it is verified.
    pub fn verified_phone(&self) -> Option<&PhoneNumber> {
        self.phone
            .as_ref()
            .filter(|_| self.phone_verified_at.is_some())
    }

    pub fn is_locked(&self) -> bool {
        self.locked_at.is_some()
    }
}

/// A user about to be created.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub tenant: TenantId,
    pub email: Option<Email>,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub phone: Option<PhoneNumber>,
    pub phone_verified_at: Option<DateTime<Utc>>,
    pub two_step_enabled: bool,
    pub role: Role,
    /// The first login must change the password (an admin created the account with one).
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

//! Sessions: an access token and a refresh token, both stored only as hashes.

use chrono::{DateTime, Utc};

use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::token::TokenHash;
use crate::user::Role;

/// How the user proved who they are when the session family was born.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    PasswordAndSms,
    Sms,
    PasswordAndBackupCode,
    Registration,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::PasswordAndSms => "password_and_sms",
            AuthMethod::Sms => "sms",
            AuthMethod::PasswordAndBackupCode => "password_and_backup_code",
            AuthMethod::Registration => "registration",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "password" => AuthMethod::Password,
            "password_and_sms" => AuthMethod::PasswordAndSms,
            "sms" => AuthMethod::Sms,
            "password_and_backup_code" => AuthMethod::PasswordAndBackupCode,
            "registration" => AuthMethod::Registration,
            _ => return None,
        })
    }
}

/// A stored session. `refresh_expires_at` slides with use (idle timeout) but never past
/// `absolute_expires_at`, which is fixed at the family's birth (R33). `created_at` is when
/// this row was issued (the login, or the refresh that rotated into it);
/// `family_created_at` is the login's time, kept across rotations.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub family: FamilyId,
    pub tenant: TenantId,
    pub user: UserId,
    pub role: Role,
    pub auth_method: AuthMethod,
    pub access_hash: TokenHash,
    pub refresh_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub family_created_at: DateTime<Utc>,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: String,
    pub ip_address: String,
    /// The client's device id at login (`ClientContext.device_id`), kept across rotations.
    pub device_id: String,
}

impl Session {
    pub fn access_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.access_expires_at && now < self.absolute_expires_at
    }
}

//! Code challenges: what a code was sent for, to whom, and how many tries are left.
//!
//! A challenge lives only in the short-lived store (Redis, or memory on the embedded default).
//! Its id is the public handle the caller passes back with the code.

use chrono::{DateTime, Utc};

use crate::ids::{ChallengeId, TenantId, UserId};
use crate::otp::CodeMac;
use crate::phone::PhoneNumber;

/// What a verified code unlocks. `VerifyCode` answers according to it (R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Password was right; the code completes a login.
    SecondFactor,
    /// Passwordless login by phone number.
    PhoneLogin,
    /// Registration by phone number; the code yields a registration ticket.
    Registration,
    /// Adding or changing the user's number; the code marks it verified.
    PhoneVerification,
    /// Re-authentication of a logged-in user before a sensitive change.
    StepUp,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "second_factor",
            Purpose::PhoneLogin => "phone_login",
            Purpose::Registration => "registration",
            Purpose::PhoneVerification => "phone_verification",
            Purpose::StepUp => "step_up",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "second_factor" => Purpose::SecondFactor,
            "phone_login" => Purpose::PhoneLogin,
            "registration" => Purpose::Registration,
            "phone_verification" => Purpose::PhoneVerification,
            "step_up" => Purpose::StepUp,
            _ => return None,
        })
    }
}

/// A challenge as stored. `phone` is where the code goes; `user` is who it is for, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: ChallengeId,
    pub tenant: TenantId,
    pub purpose: Purpose,
    pub user: Option<UserId>,
    pub phone: Option<PhoneNumber>,
    /// A decoy stands in for a challenge that would reveal that an account does not exist:
    /// it is stored, counted and answered exactly like a real one, but no SMS is ever sent
    /// for it and no code matches it (R18).
    pub decoy: bool,
    /// Opaque data of the flow that created the challenge (for example the client's device
    /// id, or a pending registration). A few KiB at most.
    pub context: String,
    pub code_mac: CodeMac,
    pub attempts_left: u32,
    /// Sends so far, the first one included.
    pub sends: u32,
    pub max_sends: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The earliest time a resend is allowed.
    pub resend_at: DateTime<Utc>,
    pub resend_cooldown: std::time::Duration,
}

impl Challenge {
    /// Whether its code was made by the tenant's provider (Twilio Verify), which also checks
    /// it; see [`CodeMac::provider_managed`].
    pub fn provider_managed(&self) -> bool {
        self.code_mac.is_provider_managed()
    }
}

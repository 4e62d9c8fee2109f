//! One-time codes: generation from the OS CSPRNG, parsing of what a user typed, and the keyed
//! hash (MAC) that is the only form in which a code is ever stored.
//!
//! A code never has a `Display` impl and its `Debug` is redacted, so it cannot reach a log line
//! by accident. The only way out is [`OtpCode::expose_for_sms`], used when the SMS text is built.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ids::{ChallengeId, TenantId};

/// Number of digits in a code; tenant policy picks it, within 4 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeLength(u8);

impl CodeLength {
    pub const MIN: u8 = 4;
    pub const MAX: u8 = 10;
    pub const DEFAULT: CodeLength = CodeLength(6);

    pub fn new(digits: u8) -> Result<Self, OtpError> {
        if (Self::MIN..=Self::MAX).contains(&digits) {
            Ok(Self(digits))
        } else {
            Err(OtpError::BadLength)
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A code, either freshly generated or as typed by the user.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// Draws a code uniformly from `0..10^len` with the OS CSPRNG (no modulo bias) and
    /// zero-pads it, so every code has exactly `len` characters and about 10 % start with "0".
    pub fn generate(len: CodeLength) -> Self {
        let upper = 10u64.pow(u32::from(len.get()));
        // Rejection sampling, written out because rand's `random_range` is only nearly
        // unbiased: a draw at or above the largest multiple of `upper` that fits in a u64 would
        // favour the low codes, so it is drawn again (rare: fewer than 1 in 10^9 draws).
        let accept_below = u64::MAX - u64::MAX % upper;
        let mut rng = OsRng.unwrap_err();
        let n = loop {
            let draw = rng.next_u64();
            if draw < accept_below {
                break draw % upper;
            }
        };
        Self(format!("{n:0width$}", width = usize::from(len.get())))
    }

    /// Parses user input: ASCII digits only, 4 to 10 of them, surrounding whitespace ignored.
    /// A length that differs from the challenge's is not an error here: it simply never matches.
    pub fn parse(input: &str) -> Result<Self, OtpError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(OtpError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OtpError::NotDigits);
        }
        CodeLength::new(u8::try_from(s.len()).unwrap_or(u8::MAX))?;
        Ok(Self(s.to_owned()))
    }

    /// The code's characters, for the SMS text and nothing else.
    pub fn expose_for_sms(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

/// Why a typed code was refused before any comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    #[error("must not be empty")]
    Empty,
    #[error("must contain digits only")]
    NotDigits,
    #[error("must have 4 to 10 digits")]
    BadLength,
}

/// HMAC-SHA-256 of a code bound to its challenge and tenant. This is what the short-lived
/// store keeps and compares; the code itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CodeMac([u8; 32]);

impl CodeMac {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Constant-time comparison of two MACs of equal (fixed) length.
    pub fn ct_eq(&self, other: &CodeMac) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// A MAC nobody knows the code for; decoy challenges store one so that they behave like
    /// real challenges in every respect except that no code ever matches.
    pub fn unmatchable() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.unwrap_err().fill(&mut bytes);
        Self(bytes)
    }

    /// The MAC a challenge stores when its code is made and checked by a provider (Twilio
    /// Verify): twostep never knows that code. No code's MAC is all zeros (an HMAC-SHA256
    /// output, 2^-256), so the store's comparison always fails and only spends an attempt;
    /// the flow then asks the provider (`flows::codes::verify`). Being fixed, it also tells
    /// the flow which challenges those are, without another stored field.
    pub fn provider_managed() -> Self {
        Self([0u8; 32])
    }

    pub fn is_provider_managed(&self) -> bool {
        self.ct_eq(&Self::provider_managed())
    }
}

impl fmt::Debug for CodeMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeMac(<redacted>)")
    }
}

/// The server-wide secret key for code MACs, from configuration.
#[derive(Clone)]
pub struct CodeKey(SecretSlice<u8>);

impl CodeKey {
    /// At least 32 bytes, so the MAC key is as strong as the hash.
    pub fn new(bytes: Vec<u8>) -> Result<Self, OtpError> {
        if bytes.len() < 32 {
            return Err(OtpError::BadLength);
        }
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// A random key for the embedded default and tests; codes do not survive a restart with it.
    pub fn random() -> Self {
        let mut bytes = vec![0u8; 32];
        OsRng.unwrap_err().fill(bytes.as_mut_slice());
        Self(SecretSlice::from(bytes))
    }

    /// MAC over a domain tag, the challenge id, the tenant id and the code, each of fixed
    /// length except the code, which comes last; so no two inputs share an encoding.
    pub fn mac(&self, challenge: ChallengeId, tenant: TenantId, code: &OtpCode) -> CodeMac {
        // Hmac accepts keys of any length, so this cannot fail; fall back defensively anyway.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) else {
            return CodeMac::unmatchable();
        };
        mac.update(b"twostep.otp.v1\0");
        mac.update(challenge.as_uuid().as_bytes());
        mac.update(tenant.as_uuid().as_bytes());
        mac.update(code.0.as_bytes());
        CodeMac(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests;

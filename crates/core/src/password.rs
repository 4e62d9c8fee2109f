//! Passwords: length rules, and argon2id hashing off the async runtime behind a semaphore.
//!
//! Hashing is the one expensive thing twostep does. It runs in `spawn_blocking` with a permit
//! moved into the closure, so at most `permits` hashes run at once and code traffic on the
//! async workers never waits behind them. A caller that cannot get a permit within the bounded
//! wait gets `RateLimited` (RESOURCE_EXHAUSTED) rather than queueing without limit.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::error::CoreError;

/// Input longer than this is refused before hashing, so nobody can make us hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as typed. Redacted in `Debug`, zeroed on drop.
#[derive(Clone)]
pub struct Password(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("TOO_SHORT: must have at least {0} characters")]
    TooShort(u32),
    #[error("TOO_LONG: must be at most 1024 bytes")]
    TooLong,
}

impl Password {
    /// Accepts input to check against a stored hash: only the size bound applies. The text is
    /// NFKC-normalised, so the same password typed on different keyboards hashes the same.
    pub fn for_login(input: &str) -> Result<Self, PasswordError> {
        if input.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(SecretString::from(input.nfkc().collect::<String>())))
    }

    /// Accepts a new password under the length policy. Length counts Unicode code points, and
    /// nothing is ever truncated.
    pub fn new_checked(input: &str, min_chars: u32) -> Result<Self, PasswordError> {
        let pw = Self::for_login(input)?;
        let chars = u32::try_from(pw.0.expose_secret().chars().count()).unwrap_or(u32::MAX);
        if chars < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        Ok(pw)
    }

    /// The normalised text, for the policy checks in `password_policy`.
    pub(crate) fn normalised(&self) -> &str {
        self.0.expose_secret()
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2id cost parameters; the defaults are the OWASP minimum (m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    pub matches: bool,
    /// The stored hash used weaker parameters than the current policy: store a new one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Arc<Semaphore>,
    cost: HashCost,
    max_wait: Duration,
    /// A real hash of a random password, verified when the user does not exist so that an
    /// unknown login costs the same as a known one (R19).
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(cost: HashCost, permits: usize, max_wait: Duration) -> Result<Self, CoreError> {
        let mut random = [0u8; 24];
        OsRng.unwrap_err().try_fill_bytes(&mut random).unwrap_or(());
        let dummy = Password(SecretString::from(hex::encode(random)));
        let dummy_hash = hash_blocking(cost, &dummy)?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(permits.max(1))),
                cost,
                max_wait,
                dummy_hash,
            }),
        })
    }

    /// One hash at the configured cost, off the async runtime.
    pub async fn hash(&self, password: &Password) -> Result<String, CoreError> {
        let cost = self.inner.cost;
        let password = password.clone();
        self.run(move || hash_blocking(cost, &password)).await?
    }

    /// Verifies against `stored`, or against the dummy hash when there is no stored hash, so
    /// both cases take the same time; the dummy never matches.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<PasswordCheck, CoreError> {
        let real = stored.is_some();
        let stored = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let password = password.clone();
        let cost = self.inner.cost;
        let check = self
            .run(move || verify_blocking(cost, &password, &stored))
            .await?;
        Ok(PasswordCheck {
            matches: check.matches && real,
            needs_rehash: check.needs_rehash && real,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let permits = Arc::clone(&self.inner.permits);
        let permit = tokio::time::timeout(self.inner.max_wait, permits.acquire_owned())
            .await
            .map_err(|_| CoreError::RateLimited {
                retry_after: Duration::from_secs(1),
            })?
            .map_err(|e| CoreError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            // The permit lives in the closure: it is released when the hash is done, even if
            // the RPC that asked for it was cancelled meanwhile.
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| CoreError::Internal(e.into()))
    }
}

fn argon2(cost: HashCost) -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(cost.m_kib, cost.t, cost.p, Some(32))
        .map_err(|e| CoreError::Internal(e.to_string().into()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(cost: HashCost, password: &Password) -> Result<String, CoreError> {
    let mut salt = [0u8; 16];
    OsRng.unwrap_err().try_fill_bytes(&mut salt).unwrap_or(());
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| CoreError::Internal(e.to_string().into()))?;
    argon2(cost)?
        .hash_password(password.bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(e.to_string().into()))
}

fn verify_blocking(cost: HashCost, password: &Password, stored: &str) -> PasswordCheck {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return PasswordCheck {
            matches: false,
            needs_rehash: false,
        };
    };
    // Verification uses the parameters recorded in the hash itself.
    let matches = Argon2::default()
        .verify_password(password.bytes(), &parsed)
        .is_ok();
    let weaker = match Params::try_from(&parsed) {
        Ok(p) => {
            parsed.algorithm.as_str() != "argon2id"
                || p.m_cost() < cost.m_kib
                || p.t_cost() < cost.t
        }
        Err(_) => true,
    };
    PasswordCheck {
        matches,
        needs_rehash: matches && weaker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashCost {
        HashCost {
            m_kib: 1024,
            t: 1,
            p: 1,
        }
    }

    #[tokio::test]
    async fn r21_hashes_are_argon2id_phc_with_random_salt() {
        let hasher = PasswordHasher::new(HashCost::default(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::new_checked("correct horse battery staple", 12).unwrap();
        let a = hasher.hash(&pw).await.unwrap();
        let b = hasher.hash(&pw).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        let check = hasher.verify(&pw, Some(&a)).await.unwrap();
        assert_eq!(
            check,
            PasswordCheck {
                matches: true,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn weaker_hashes_are_flagged_for_rehash() {
        let weak = PasswordHasher::new(cheap(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("whatever it is").unwrap();
        let old = weak.hash(&pw).await.unwrap();
        let strong = PasswordHasher::new(
            HashCost {
                m_kib: 2048,
                t: 1,
                p: 1,
            },
            1,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            strong.verify(&pw, Some(&old)).await.unwrap(),
            PasswordCheck {
                matches: true,
                needs_rehash: true
            }
        );
        let wrong = Password::for_login("something else").unwrap();
        assert_eq!(
            strong.verify(&wrong, Some(&old)).await.unwrap(),
            PasswordCheck {
                matches: false,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn an_unknown_user_is_checked_against_the_dummy_and_never_matches() {
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("anything at all").unwrap();
        assert!(!hasher.verify(&pw, None).await.unwrap().matches);
    }

    #[test]
    fn length_rules_count_code_points_and_bound_bytes() {
        assert_eq!(
            Password::new_checked("short", 12).unwrap_err(),
            PasswordError::TooShort(12)
        );
        assert!(Password::new_checked(&"😀".repeat(12), 12).is_ok());
        assert!(Password::new_checked(&"a".repeat(128), 12).is_ok());
        assert_eq!(
            Password::new_checked(&"a".repeat(1025), 12).unwrap_err(),
            PasswordError::TooLong
        );
    }
}

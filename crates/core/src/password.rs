//! Passwords: length rules, and argon2id hashing off the async runtime behind a semaphore.
//!
//! Hashing is the one expensive thing twostep does. It runs in `spawn_blocking` with a permit
//! moved into the closure, so at most `permits` hashes run at once and code traffic on the
//! async workers never waits behind them. A caller that cannot get a permit within the bounded
//! wait gets `RateLimited` (RESOURCE_EXHAUSTED) rather than queueing without limit.
//!
//! Each permit has its own argon2 memory (19 MiB at the default cost), allocated on first use
//! and reused: argon2's own `hash_password` allocates and frees a block that size per call,
//! and glibc, after the first such free, raises its mmap threshold and keeps the later blocks
//! in its arenas, so RSS grew to hundreds of MiB after a burst of logins (BENCHMARKS.md).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// One argon2 memory per permit in use so far; a permit holder takes one and gives it back.
    memory: Arc<MemoryPool>,
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
        let dummy_hash = hash_blocking(cost, &dummy, &mut Vec::new())?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(permits.max(1))),
                memory: Arc::new(MemoryPool::default()),
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
        self.run(move |memory| hash_blocking(cost, &password, memory))
            .await?
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
            .run(move |memory| verify_blocking(cost, &password, &stored, memory))
            .await?;
        Ok(PasswordCheck {
            matches: check.matches && real,
            needs_rehash: check.needs_rehash && real,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let permits = Arc::clone(&self.inner.permits);
        let pool = Arc::clone(&self.inner.memory);
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
            let mut memory = pool.take();
            let answer = work(&mut memory);
            pool.give(memory);
            answer
        })
        .await
        .map_err(|e| CoreError::Internal(e.into()))
    }
}

/// The argon2 memories of the permits. It never holds more than one per permit: a memory is
/// taken by a permit holder and given back when its hash is done.
#[derive(Default)]
struct MemoryPool(Mutex<Vec<Vec<Block>>>);

impl MemoryPool {
    fn take(&self) -> Vec<Block> {
        self.lock().pop().unwrap_or_default()
    }

    fn give(&self, memory: Vec<Block>) {
        self.lock().push(memory);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        // A plain list, consistent after every push and pop.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn hash_blocking(
    cost: HashCost,
    password: &Password,
    memory: &mut Vec<Block>,
) -> Result<String, CoreError> {
    let internal = |e: &dyn fmt::Display| CoreError::Internal(e.to_string().into());
    let mut salt = [0u8; 16];
    OsRng.unwrap_err().try_fill_bytes(&mut salt).unwrap_or(());
    let salt = SaltString::encode_b64(&salt).map_err(|e| internal(&e))?;
    let params = Params::new(cost.m_kib, cost.t, cost.p, Some(32)).map_err(|e| internal(&e))?;
    let hash = hash_in(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        password.bytes(),
        salt.as_salt(),
        memory,
    )
    .map_err(|e| internal(&e))?;
    Ok(hash.to_string())
}

/// What argon2's `PasswordHasher::hash_password_customized` computes, in `memory` (grown to
/// the parameters' size when it is smaller) instead of a fresh allocation.
fn hash_in<'a>(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut Vec<Block>,
) -> Result<PasswordHash<'a>, argon2::password_hash::Error> {
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let output = Output::init_with(output_len, |out| {
        Ok(argon2.hash_password_into_with_memory(
            password,
            salt_bytes,
            out,
            &mut memory[..blocks],
        )?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

fn verify_blocking(
    cost: HashCost,
    password: &Password,
    stored: &str,
    memory: &mut Vec<Block>,
) -> PasswordCheck {
    let no = PasswordCheck {
        matches: false,
        needs_rehash: false,
    };
    let Ok(parsed) = PasswordHash::new(stored) else {
        return no;
    };
    // Verification uses the algorithm and parameters recorded in the hash itself.
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return no;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let weaker = algorithm != Algorithm::Argon2id
        || params.m_cost() < cost.m_kib
        || params.t_cost() < cost.t;
    // Output's equality is constant-time.
    let matches = hash_in(algorithm, version, params, password.bytes(), salt, memory)
        .is_ok_and(|computed| computed.hash == Some(expected));
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

    /// The hashes made in the pooled memory are argon2's own, both ways.
    #[tokio::test]
    async fn pooled_hashes_match_argon2s_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("correct horse battery staple").unwrap();
        let ours = hasher.hash(&pw).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(pw.bytes(), &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let params = Params::new(1024, 1, 1, Some(32)).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(pw.bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify(&pw, Some(&theirs)).await.unwrap().matches);
        let wrong = Password::for_login("correct horse battery stapler").unwrap();
        assert!(!hasher.verify(&wrong, Some(&theirs)).await.unwrap().matches);
        // An argon2i hash with more memory than the pool's still verifies, and wants a rehash.
        let heavier = Params::new(2048, 1, 1, Some(32)).unwrap();
        let old = Argon2::new(Algorithm::Argon2i, Version::V0x13, heavier)
            .hash_password(pw.bytes(), &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            hasher.verify(&pw, Some(&old)).await.unwrap(),
            PasswordCheck {
                matches: true,
                needs_rehash: true
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

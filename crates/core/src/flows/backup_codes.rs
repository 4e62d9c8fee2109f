//! Backup codes: 10 single-use codes of 10 Crockford base32 characters (~50 bits), shown once,
//! stored as low-cost argon2id hashes; a new batch invalidates every old code (R26).

use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::error::CoreError;
use crate::flows::Deps;
use crate::ids::{TenantId, UserId};
use crate::password::Password;

pub const BATCH_SIZE: usize = 10;
const CODE_CHARS: usize = 10;
/// Crockford's alphabet: no I, L, O or U, so codes survive being read aloud or retyped.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh batch in clear, formatted `XXXXX-XXXXX` for reading; returned to the user once.
pub async fn regenerate(
    deps: &Deps,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<String>, CoreError> {
    let mut rng = OsRng.unwrap_err();
    let codes: Vec<String> = (0..BATCH_SIZE)
        .map(|_| {
            (0..CODE_CHARS)
                .map(|_| char::from(ALPHABET[rng.random_range(0..32)]))
                .collect()
        })
        .collect();
    let mut hashes = Vec::with_capacity(codes.len());
    for code in &codes {
        let pw =
            Password::for_login(code).map_err(|e| CoreError::Internal(e.to_string().into()))?;
        hashes.push(deps.backup_code_hasher.hash(&pw).await?);
    }
    deps.backup_codes
        .replace_batch(tenant, user, &hashes, deps.clock.now())
        .await?;
    Ok(codes
        .iter()
        .map(|c| format!("{}-{}", &c[..5], &c[5..]))
        .collect())
}

/// Normalises what a user typed: case, dashes and spaces do not matter, and the letters
/// Crockford maps (O→0, I/L→1) are accepted. `None` when it cannot be a backup code.
pub fn normalise(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Consumes the matching unused code, if any; exactly one of concurrent uses of one code wins.
/// Returns the number of unused codes left on success.
pub async fn consume(
    deps: &Deps,
    tenant: TenantId,
    user: UserId,
    input: &str,
) -> Result<Option<usize>, CoreError> {
    let Some(code) = normalise(input) else {
        return Ok(None);
    };
    let pw = Password::for_login(&code).map_err(|e| CoreError::Internal(e.to_string().into()))?;
    let unused = deps.backup_codes.unused(tenant, user).await?;
    for stored in &unused {
        if deps
            .backup_code_hasher
            .verify(&pw, Some(&stored.hash))
            .await?
            .matches
        {
            if deps
                .backup_codes
                .consume(stored.id, deps.clock.now())
                .await?
            {
                return Ok(Some(unused.len() - 1));
            }
            return Ok(None);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalise("abcde-fghjk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalise("O1IL0 22222").as_deref(), Some("0111022222"));
        assert_eq!(normalise("ABCDE-FGHJ"), None);
        assert_eq!(normalise("ABCDE-FGHJU"), None);
    }
}

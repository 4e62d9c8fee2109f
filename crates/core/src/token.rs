//! Bearer secrets (access tokens, refresh tokens, restricted tickets): 256 random bits from the
//! OS CSPRNG, handed out once, and stored only as their SHA-256.
//!
//! A prefix names the kind (`tsa_` access, `tsr_` refresh, `tst_` ticket) so that secret
//! scanners can spot a leaked token and so that a refresh token is never accepted as an access
//! token.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    Ticket,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Access => "tsa_",
            TokenKind::Refresh => "tsr_",
            TokenKind::Ticket => "tst_",
        }
    }
}

/// A token in clear, on its way out to the caller exactly once.
pub struct SecretToken {
    value: SecretString,
    hash: TokenHash,
}

impl SecretToken {
    pub fn generate(kind: TokenKind) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.unwrap_err().try_fill_bytes(&mut bytes).unwrap_or(());
        let value = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
        let hash = TokenHash::of(&value);
        Self {
            value: SecretString::from(value),
            hash,
        }
    }

    /// The token text for the response; nowhere else.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    pub fn hash(&self) -> TokenHash {
        self.hash
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// SHA-256 of a token's full text. A plain hash suffices: the token has 256 bits of entropy,
/// so there is nothing to brute-force.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// Hashes a token presented by a caller, after checking its shape. A malformed token is
    /// `None`, which callers answer exactly like an unknown token.
    pub fn of_presented(kind: TokenKind, presented: &str) -> Option<Self> {
        let rest = presented.strip_prefix(kind.prefix())?;
        // 32 bytes in unpadded base64url are 43 characters.
        if rest.len() != 43
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        Some(Self::of(presented))
    }

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
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash of a 256-bit secret reveals nothing, but a prefix is enough to correlate logs.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_round_trip_through_their_hash() {
        let t = SecretToken::generate(TokenKind::Access);
        assert!(t.expose().starts_with("tsa_"));
        assert_eq!(
            TokenHash::of_presented(TokenKind::Access, t.expose()),
            Some(t.hash())
        );
    }

    #[test]
    fn a_token_of_another_kind_is_refused() {
        let t = SecretToken::generate(TokenKind::Refresh);
        assert_eq!(TokenHash::of_presented(TokenKind::Access, t.expose()), None);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "tsa_",
            "tsa_short",
            "tsa_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(
                TokenHash::of_presented(TokenKind::Access, bad),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_are_distinct_and_redacted() {
        let (a, b) = (
            SecretToken::generate(TokenKind::Access),
            SecretToken::generate(TokenKind::Access),
        );
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }
}

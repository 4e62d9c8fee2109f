//! API clients: the calling services' credentials. A key is bound to one tenant and to scopes,
//! shown once, and stored only as its SHA-256.
//!
//! Keys look like `tsk_<client id, 32 hex>_<43 base64url characters>`: the prefix lets secret
//! scanners spot a leaked key, the id lets the server fetch the one stored digest to compare,
//! and the 256 random bits after it make a fast hash the right one (there is nothing to
//! brute-force, and a slow hash would cost every RPC).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{ApiClientId, TenantId};

const KEY_PREFIX: &str = "tsk_";
/// 32 bytes in unpadded base64url.
const SECRET_CHARS: usize = 43;
const ID_CHARS: usize = 32;

/// What an API client may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// AuthService.
    Auth,
    /// AccountService.
    Account,
    /// AdminService on the key's own tenant.
    Admin,
    /// AdminService on every tenant, CreateTenant and ListTenants.
    Operator,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Auth, Scope::Account, Scope::Admin, Scope::Operator];

    /// The stored and configured name; never rename one.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Auth => "auth",
            Scope::Account => "account",
            Scope::Admin => "admin",
            Scope::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);

    /// Every scope: what a development caller without a key may do.
    pub fn all() -> Self {
        Self::ALL_SCOPES
    }

    const ALL_SCOPES: Scopes = Scopes(0b1111);

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// `auth,admin`: how scopes are stored and typed on the command line.
    pub fn to_list(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }

    /// Parses `auth, admin`; an unknown scope is an error naming it.
    pub fn parse_list(s: &str) -> Result<Self, String> {
        let mut scopes = Scopes::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::parse(part)
                .ok_or_else(|| format!("{part:?} is not one of auth, account, admin, operator"))?;
            scopes = scopes.with(scope);
        }
        Ok(scopes)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Scopes::NONE, Scopes::with)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({})", self.to_list())
    }
}

/// SHA-256 of a key's full text: what is stored and compared.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison, so that timing tells nothing about the stored digest.
    pub fn matches(&self, other: &ApiKeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyHash(<redacted>)")
    }
}

/// A new key in clear, on its way to the operator exactly once.
pub struct ApiKey {
    value: SecretString,
    hash: ApiKeyHash,
}

impl ApiKey {
    /// A fresh key for `id`: 256 bits from the OS CSPRNG.
    pub fn generate(id: ApiClientId) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.unwrap_err().try_fill_bytes(&mut bytes).unwrap_or(());
        let value = format!("{}_{}", key_prefix(id), URL_SAFE_NO_PAD.encode(bytes));
        let hash = ApiKeyHash::of(&value);
        Self {
            value: SecretString::from(value),
            hash,
        }
    }

    /// The key text, for the one answer that hands it out; nowhere else.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    pub fn hash(&self) -> ApiKeyHash {
        self.hash
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The public start of a client's keys (`tsk_<id>`): shown in lists, not a secret.
pub fn key_prefix(id: ApiClientId) -> String {
    format!("{KEY_PREFIX}{}", id.as_uuid().simple())
}

/// A key as a caller presented it, checked for shape: the client id it names and the digest
/// to compare with the stored one. A malformed key is `None`, answered like an unknown one.
#[derive(Clone, Copy)]
pub struct PresentedKey {
    pub id: ApiClientId,
    pub hash: ApiKeyHash,
}

impl PresentedKey {
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(KEY_PREFIX)?;
        if rest.len() != ID_CHARS + 1 + SECRET_CHARS || !rest.is_char_boundary(ID_CHARS) {
            return None;
        }
        let (id, secret) = rest.split_at(ID_CHARS);
        let secret = secret.strip_prefix('_')?;
        if !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let id = id.parse::<ApiClientId>().ok()?;
        Some(Self {
            id,
            hash: ApiKeyHash::of(text),
        })
    }
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresentedKey({})", self.id)
    }
}

/// A stored API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: ApiClientId,
    pub tenant: TenantId,
    /// For operators (`shop-backend`).
    pub name: String,
    pub scopes: Scopes,
    pub key_hash: ApiKeyHash,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Updated lazily (at most about once a minute per instance), so approximate.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiClient {
    pub fn key_prefix(&self) -> String {
        key_prefix(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_its_id_and_hash() {
        let id = ApiClientId::random();
        let key = ApiKey::generate(id);
        assert!(key.expose().starts_with(&key_prefix(id)));
        let presented = PresentedKey::parse(key.expose()).unwrap_or_else(|| {
            unreachable!("a generated key must parse");
        });
        assert_eq!(presented.id, id);
        assert!(presented.hash.matches(&key.hash()));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let id = ApiClientId::random();
        let key = ApiKey::generate(id);
        let text = key.expose();
        for bad in [
            "",
            "tsk_",
            &text[..text.len() - 1],
            &format!("{text}x"),
            &text.replacen("tsk_", "tsa_", 1),
            &text.to_uppercase(),
            &format!("{}é", &text[..text.len() - 2]),
        ] {
            assert!(
                PresentedKey::parse(bad).is_none(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn a_changed_secret_does_not_match() {
        let key = ApiKey::generate(ApiClientId::random());
        let text = key.expose();
        let last = if text.ends_with('A') { "B" } else { "A" };
        let other = format!("{}{last}", &text[..text.len() - 1]);
        let presented = PresentedKey::parse(&other).map(|p| p.hash);
        assert!(presented.is_some_and(|h| !h.matches(&key.hash())));
    }

    #[test]
    fn scope_lists_round_trip() {
        let scopes = Scopes::parse_list("admin, auth").unwrap_or_default();
        assert_eq!(scopes.to_list(), "auth,admin");
        assert!(Scopes::parse_list("root").is_err());
        assert!(Scopes::all().contains(Scope::Operator));
    }
}

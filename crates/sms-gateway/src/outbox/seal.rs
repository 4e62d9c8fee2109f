//! Sealing outbox bodies: the number and the text of a message, encrypted with the outbox key
//! (XChaCha20-Poly1305, a random 192-bit nonce per message), bound to the row's id and tenant
//! as associated data so a sealed body copied into another row does not open.
//!
//! Layout: `version (1) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`. Version 1's plaintext is the
//! E.164 number, a newline, and the text. Version 2's starts with a kind marker and a newline
//! (`text` or `provider_code`: a provider-managed code to start, whose text is empty), then
//! as version 1. Text messages are still sealed as version 1, so a binary that opens only
//! version 1 keeps sending them during a rolling upgrade.

use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use twostep_core::ids::TenantId;
use twostep_core::ports::{SealedBody, SmsText};

const VERSION: u8 = 1;
/// Version 2: a kind marker before the number.
const VERSION_KIND: u8 = 2;
const KIND_TEXT: &str = "text";
const KIND_PROVIDER_CODE: &str = "provider_code";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The 32-byte key that seals outbox bodies (`security.outbox_key`). Redacted in `Debug`.
#[derive(Clone)]
pub struct OutboxKey {
    key: std::sync::Arc<SecretBox<[u8; 32]>>,
    id: String,
}

/// Why a key or a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("must be 64 hex characters (32 bytes; openssl rand -hex 32)")]
    KeyFormat,
    #[error("the operating system's random generator failed")]
    Random,
    #[error("the sealed body does not open with this key (wrong key, other row, or damaged)")]
    Open,
}

impl OutboxKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        let id = key_id(&bytes);
        Self {
            key: std::sync::Arc::new(SecretBox::new(Box::new(bytes))),
            id,
        }
    }

    /// Reads `openssl rand -hex 32` output (surrounding whitespace allowed).
    pub fn from_hex(hex_key: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::KeyFormat)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SealError::KeyFormat)?;
        Ok(Self::new(bytes))
    }

    /// A fresh key from the OS CSPRNG, for development without a configured key: rows it
    /// sealed cannot be sent by another process.
    pub fn random() -> Result<Self, SealError> {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| SealError::Random)?;
        Ok(Self::new(bytes))
    }

    /// A public fingerprint of the key (16 hex characters), stored with each row so that a
    /// worker claims only rows it can open.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.key.expose_secret()).into())
    }

    /// Seals `to` (E.164) and `text` for the row `row` of `tenant` (version 1).
    pub fn seal(
        &self,
        row: uuid::Uuid,
        tenant: TenantId,
        to: &str,
        text: &str,
    ) -> Result<SealedBody, SealError> {
        self.seal_version(row, tenant, VERSION, format!("{to}\n{text}"))
    }

    /// Seals the start of a provider-managed code to `to` (E.164): no text, the kind marker
    /// `provider_code` (version 2). It opens with [`Opened::provider_code`] set.
    pub fn seal_provider_code(
        &self,
        row: uuid::Uuid,
        tenant: TenantId,
        to: &str,
    ) -> Result<SealedBody, SealError> {
        self.seal_version(
            row,
            tenant,
            VERSION_KIND,
            format!("{KIND_PROVIDER_CODE}\n{to}\n"),
        )
    }

    fn seal_version(
        &self,
        row: uuid::Uuid,
        tenant: TenantId,
        version: u8,
        plaintext: String,
    ) -> Result<SealedBody, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let plaintext = secrecy::SecretString::from(plaintext);
        let aad = aad(version, row, tenant);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(SealedBody(out))
    }

    /// Opens what [`OutboxKey::seal`] or [`OutboxKey::seal_provider_code`] sealed for the
    /// same row and tenant. A version 1 body is a text message.
    pub fn open(
        &self,
        row: uuid::Uuid,
        tenant: TenantId,
        body: &SealedBody,
    ) -> Result<Opened, SealError> {
        let bytes = &body.0;
        let version = *bytes.first().ok_or(SealError::Open)?;
        if bytes.len() < 1 + NONCE_LEN + TAG_LEN || !matches!(version, VERSION | VERSION_KIND) {
            return Err(SealError::Open);
        }
        let nonce = XNonce::try_from(&bytes[1..=NONCE_LEN]).map_err(|_| SealError::Open)?;
        let aad = aad(version, row, tenant);
        let plain = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &bytes[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Open)?;
        let plain =
            secrecy::SecretString::from(String::from_utf8(plain).map_err(|_| SealError::Open)?);
        let (provider_code, rest) = match version {
            VERSION => (false, plain.expose_secret()),
            _ => match plain.expose_secret().split_once('\n') {
                Some((KIND_TEXT, rest)) => (false, rest),
                Some((KIND_PROVIDER_CODE, rest)) => (true, rest),
                _ => return Err(SealError::Open),
            },
        };
        let (to, text) = rest.split_once('\n').ok_or(SealError::Open)?;
        Ok(Opened {
            to: to.to_owned(),
            text: SmsText::new(text.to_owned()),
            provider_code,
        })
    }
}

impl fmt::Debug for OutboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutboxKey(id {})", self.id)
    }
}

/// An opened body.
pub struct Opened {
    /// The number in E.164.
    pub to: String,
    pub text: SmsText,
    /// A provider-managed code to start (version 2, kind `provider_code`); `text` is empty.
    pub provider_code: bool,
}

/// The associated data: the body's version, the row and the tenant, so neither a body copied
/// into another row nor a version byte changed in place opens.
fn aad(version: u8, row: uuid::Uuid, tenant: TenantId) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = version;
    aad[1..17].copy_from_slice(row.as_bytes());
    aad[17..].copy_from_slice(tenant.as_uuid().as_bytes());
    aad
}

fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"twostep outbox key id v1\0");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const TO: &str = "+31612345678";
    const TEXT: &str = "Your Acme code: 482913. Do not share it.";

    fn parts() -> (OutboxKey, uuid::Uuid, TenantId) {
        (
            OutboxKey::new([7; 32]),
            uuid::Uuid::new_v4(),
            TenantId::random(),
        )
    }

    #[test]
    fn a_sealed_body_opens_with_the_same_key_row_and_tenant() {
        let (key, row, tenant) = parts();
        let body = key.seal(row, tenant, TO, TEXT).unwrap();
        let opened = key.open(row, tenant, &body).unwrap();
        assert_eq!(opened.to, TO);
        assert_eq!(opened.text.expose(), TEXT);
    }

    #[test]
    fn the_sealed_body_holds_neither_the_code_nor_the_number() {
        let (key, row, tenant) = parts();
        let body = key.seal(row, tenant, TO, TEXT).unwrap();
        let lossy = String::from_utf8_lossy(&body.0);
        for secret in ["482913", "31612345678", "Acme"] {
            assert!(!lossy.contains(secret), "{secret} in the sealed body");
        }
        // A fresh nonce each time: the same message never seals the same way twice.
        assert_ne!(key.seal(row, tenant, TO, TEXT).unwrap(), body);
    }

    #[test]
    fn another_key_row_or_tenant_or_a_flipped_bit_does_not_open() {
        let (key, row, tenant) = parts();
        let body = key.seal(row, tenant, TO, TEXT).unwrap();
        let other = OutboxKey::new([8; 32]);
        assert_eq!(other.open(row, tenant, &body).err(), Some(SealError::Open));
        assert!(key.open(uuid::Uuid::new_v4(), tenant, &body).is_err());
        assert!(key.open(row, TenantId::random(), &body).is_err());
        let mut damaged = body.clone();
        let last = damaged.0.len() - 1;
        damaged.0[last] ^= 1;
        assert!(key.open(row, tenant, &damaged).is_err());
        assert!(key.open(row, tenant, &SealedBody(vec![1, 2, 3])).is_err());
    }

    #[test]
    fn a_provider_code_start_opens_as_one_and_a_version_1_body_as_text() {
        let (key, row, tenant) = parts();
        let start = key.seal_provider_code(row, tenant, TO).unwrap();
        assert_eq!(start.0[0], VERSION_KIND);
        let opened = key.open(row, tenant, &start).unwrap();
        assert!(opened.provider_code);
        assert_eq!(opened.to, TO);
        assert_eq!(opened.text.expose(), "");
        assert!(key.open(uuid::Uuid::new_v4(), tenant, &start).is_err());

        let text = key.seal(row, tenant, TO, TEXT).unwrap();
        assert_eq!(text.0[0], VERSION);
        let opened = key.open(row, tenant, &text).unwrap();
        assert!(!opened.provider_code);
        assert_eq!(opened.text.expose(), TEXT);

        // The version is bound as associated data: relabelling a body does not open it.
        for (body, other) in [(start, VERSION), (text, VERSION_KIND)] {
            let mut relabelled = body.clone();
            relabelled.0[0] = other;
            assert_eq!(
                key.open(row, tenant, &relabelled).err(),
                Some(SealError::Open)
            );
        }
    }

    #[test]
    fn a_version_2_body_with_an_unknown_kind_does_not_open() {
        let (key, row, tenant) = parts();
        let body = key
            .seal_version(row, tenant, VERSION_KIND, format!("fax\n{TO}\n"))
            .unwrap();
        assert_eq!(key.open(row, tenant, &body).err(), Some(SealError::Open));
        let text = key
            .seal_version(
                row,
                tenant,
                VERSION_KIND,
                format!("{KIND_TEXT}\n{TO}\n{TEXT}"),
            )
            .unwrap();
        let opened = key.open(row, tenant, &text).unwrap();
        assert!(!opened.provider_code);
        assert_eq!(opened.text.expose(), TEXT);
    }

    #[test]
    fn keys_parse_from_hex_and_have_stable_public_ids() {
        let key = OutboxKey::from_hex(&format!(" {} ", "ab".repeat(32))).unwrap();
        assert_eq!(key.id(), OutboxKey::new([0xab; 32]).id());
        assert_eq!(key.id().len(), 16);
        assert_ne!(key.id(), OutboxKey::new([0xac; 32]).id());
        assert!(!format!("{key:?}").contains(&"ab".repeat(4)));
        assert_eq!(
            OutboxKey::from_hex(&"ab".repeat(31)).err(),
            Some(SealError::KeyFormat)
        );
        assert_eq!(OutboxKey::from_hex("zz").err(), Some(SealError::KeyFormat));
        assert_ne!(
            OutboxKey::random().unwrap().id(),
            OutboxKey::random().unwrap().id()
        );
    }
}

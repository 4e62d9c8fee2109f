//! The Redis key layout (documented in the crate docs). Every key carries a hash tag, so
//! the keys of one decision always land on one Redis Cluster slot.

use std::borrow::Cow;

use twostep_core::ids::ChallengeId;
use twostep_core::token::TokenHash;

pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` has been checked to contain no braces.
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn challenge(&self, id: ChallengeId) -> String {
        format!("{}{{c:{id}}}", self.prefix)
    }

    /// Every limit of one scope shares the tag `{l:<scope>}`.
    pub(super) fn limit(&self, scope: &str, key: &str) -> String {
        format!("{}{{l:{}}}:{key}", self.prefix, escape(scope))
    }

    pub(super) fn failures(&self, account: &str) -> String {
        format!("{}{{f:{}}}", self.prefix, escape(account))
    }

    pub(super) fn ticket(&self, hash: &TokenHash) -> String {
        format!("{}{{t:{}}}", self.prefix, hash.to_hex())
    }
}

/// Percent-escapes `%`, `{` and `}`, so that the text can sit inside a hash tag whole (the tag
/// ends at the first `}`) and distinct texts stay distinct.
fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '{', '}']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's rule: the slot hashes the text between the first `{` and the next `}`, when
    /// that text is not empty; otherwise the whole key.
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{')
            && let Some(len) = key[open + 1..].find('}')
            && len > 0
        {
            return &key[open + 1..open + 1 + len];
        }
        key
    }

    #[test]
    fn the_limits_of_one_scope_share_a_tag_whatever_their_text() {
        let keys = Keys::new("ts:");
        for scope in ["ip:10.0.0.1", "we}ird{", "%7D", ""] {
            let tags: Vec<_> = ["num:+14155550100:send", "x}", "{y"]
                .iter()
                .map(|k| hash_tag(&keys.limit(scope, k)).to_owned())
                .collect();
            assert!(
                tags.iter().all(|t| *t == format!("l:{}", escape(scope))),
                "{tags:?}"
            );
        }
    }

    #[test]
    fn escaping_keeps_distinct_texts_distinct() {
        let keys = Keys::new("ts:");
        assert_ne!(keys.limit("a}:x", "y"), keys.limit("a", "x}:y"));
        assert_ne!(keys.failures("%7D"), keys.failures("}"));
        assert_eq!(keys.failures("}"), "ts:{f:%7D}");
        assert_eq!(escape("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn layout_is_as_documented() {
        let keys = Keys::new("ts:");
        let id = ChallengeId::random();
        assert_eq!(keys.challenge(id), format!("ts:{{c:{id}}}"));
        assert_eq!(keys.limit("s", "k"), "ts:{l:s}:k");
        assert_eq!(
            keys.ticket(&TokenHash::from_bytes([0xab; 32])),
            format!("ts:{{t:{}}}", "ab".repeat(32))
        );
    }
}

//! Email addresses as login identifiers: parsed once, stored in a canonical form.

use std::fmt;

/// A syntactically plausible address, with its domain lower-cased. Deliverability is not
/// checked: twostep never sends email.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 254 characters")]
    TooLong,
    #[error("must look like name@example.com")]
    Malformed,
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        if !domain_ok || !local_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the domain: an address identifies a person and has no place in logs.
        match self.0.rsplit_once('@') {
            Some((_, domain)) => write!(f, "Email(…@{domain})"),
            None => f.write_str("Email(…)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<&str, EmailError>) {
        assert_eq!(
            Email::parse(input).map(|e| e.as_str().to_owned()),
            expected.map(str::to_owned)
        );
    }

    #[test]
    fn parses_and_canonicalises() {
        check(" Ada@Example.COM ", Ok("Ada@example.com"));
        check("a.b+tag@sub.example.org", Ok("a.b+tag@sub.example.org"));
        check("", Err(EmailError::Empty));
        check("no-at-sign", Err(EmailError::Malformed));
        check("@example.com", Err(EmailError::Malformed));
        check("a@localhost", Err(EmailError::Malformed));
        check("a b@example.com", Err(EmailError::Malformed));
        check(
            &format!("{}@example.com", "a".repeat(250)),
            Err(EmailError::TooLong),
        );
    }
}

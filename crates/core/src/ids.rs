//! Identifiers as newtypes, so a user id can never be passed where a tenant id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random identifier (UUID v4, 122 random bits from the OS CSPRNG).
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

uuid_id!(
    /// A tenant: the seeds' "group", "store" or "site".
    TenantId
);
uuid_id!(
    /// A user inside one tenant.
    UserId
);
uuid_id!(
    /// A short-lived code challenge; doubles as the public handle the caller passes back.
    ChallengeId
);
uuid_id!(
    /// A session (one access/refresh token pair at a time).
    SessionId
);
uuid_id!(
    /// A refresh-token family: every session rotated from one login shares it.
    FamilyId
);
uuid_id!(
    /// An API client: a calling service's key, bound to one tenant and to scopes.
    ApiClientId
);

/// The text was not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct InvalidId;

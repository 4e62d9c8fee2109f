//! Proto conversions only AdminService needs: audit events and their filters, and update
//! masks.

use chrono::{DateTime, Utc};
use tonic::Status;
use twostep_core::audit::{Actor, AuditEvent, AuditKind};
use twostep_proto::v1 as pb;

use crate::convert;
use crate::error::invalid_argument;

/// Update-mask paths are bounded in number and length; the policy has far fewer fields.
const MAX_MASK_PATHS: usize = 64;
const MAX_MASK_PATH_BYTES: usize = 100;

pub fn audit_type(kind: AuditKind) -> pb::AuditEventType {
    use pb::AuditEventType as T;
    match kind {
        AuditKind::LoginSucceeded => T::LoginSucceeded,
        AuditKind::LoginFailed => T::LoginFailed,
        AuditKind::CodeSent => T::CodeSent,
        AuditKind::CodeVerified => T::CodeVerified,
        AuditKind::CodeFailed => T::CodeFailed,
        AuditKind::UserLocked => T::UserLocked,
        AuditKind::UserUnlocked => T::UserUnlocked,
        AuditKind::PhoneChanged => T::PhoneChanged,
        AuditKind::PhoneVerified => T::PhoneVerified,
        AuditKind::TwoStepEnabled => T::TwoStepEnabled,
        AuditKind::TwoStepDisabled => T::TwoStepDisabled,
        AuditKind::BackupCodeUsed => T::BackupCodeUsed,
        AuditKind::BackupCodesRegenerated => T::BackupCodesRegenerated,
        AuditKind::PasswordChanged => T::PasswordChanged,
        AuditKind::PasswordChangeForced => T::PasswordChangeForced,
        AuditKind::UserCreated => T::UserCreated,
        AuditKind::ProfileUpdated => T::ProfileUpdated,
        AuditKind::SessionRevoked => T::SessionRevoked,
        AuditKind::RefreshTokenReused => T::RefreshTokenReused,
        AuditKind::RateLimited => T::RateLimited,
        AuditKind::TenantCreated => T::TenantCreated,
        AuditKind::TenantUpdated => T::TenantUpdated,
        AuditKind::ApiClientCreated => T::ApiClientCreated,
        AuditKind::ApiClientRevoked => T::ApiClientRevoked,
        AuditKind::SmsProvidersUpdated => T::SmsProvidersUpdated,
        AuditKind::TestSmsSent => T::TestSmsSent,
        AuditKind::RegistrationOfExistingNumber => T::RegistrationOfExistingNumber,
        AuditKind::SuspiciousLogin => T::SuspiciousLogin,
    }
}

/// The kinds a filter asks for; `AUDIT_EVENT_TYPE_UNSPECIFIED` is ignored, an unknown
/// number is INVALID_ARGUMENT naming `types`.
pub fn audit_kinds(values: &[i32]) -> Result<Vec<AuditKind>, Status> {
    let mut kinds = Vec::new();
    for &value in values {
        let wanted = pb::AuditEventType::try_from(value)
            .map_err(|_| invalid_argument("types", "holds an unknown event type"))?;
        if wanted == pb::AuditEventType::Unspecified {
            continue;
        }
        let kind = AuditKind::ALL
            .iter()
            .copied()
            .find(|k| audit_type(*k) == wanted)
            .ok_or_else(|| invalid_argument("types", "holds an unknown event type"))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

pub fn actor(actor: &Actor) -> pb::Actor {
    match actor {
        Actor::User(id) => pb::Actor {
            kind: pb::ActorKind::User.into(),
            actor_id: id.to_string(),
            api_client_id: String::new(),
        },
        Actor::ApiClient(id) => pb::Actor {
            kind: pb::ActorKind::ApiClient.into(),
            actor_id: id.clone(),
            api_client_id: id.clone(),
        },
        Actor::System => pb::Actor {
            kind: pb::ActorKind::System.into(),
            actor_id: String::new(),
            api_client_id: String::new(),
        },
    }
}

pub fn audit_event(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        event_id: e.id.to_string(),
        time: Some(convert::timestamp(e.at)),
        tenant_id: e.tenant.to_string(),
        actor: Some(actor(&e.actor)),
        user_id: e.user.map(|u| u.to_string()).unwrap_or_default(),
        r#type: audit_type(e.kind).into(),
        masked_phone: e.masked_phone.clone().unwrap_or_default(),
        client_ip: e.client_ip.clone().unwrap_or_default(),
        details: e
            .details
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        user_agent: e.user_agent.clone(),
    }
}

/// An optional time bound of a request.
pub fn optional_time(
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    let Some(t) = t else { return Ok(None) };
    let nanos = u32::try_from(t.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| invalid_argument(field, "is not a valid timestamp"))?;
    DateTime::from_timestamp(t.seconds, nanos)
        .map(Some)
        .ok_or_else(|| invalid_argument(field, "is not a valid timestamp"))
}

/// The paths of an update mask, trimmed; empty when the mask is unset or has no paths.
pub fn mask_paths(mask: Option<&prost_types::FieldMask>) -> Result<Vec<String>, Status> {
    let Some(mask) = mask else {
        return Ok(Vec::new());
    };
    if mask.paths.len() > MAX_MASK_PATHS {
        return Err(invalid_argument("update_mask", "has too many paths"));
    }
    mask.paths
        .iter()
        .map(|p| {
            if p.len() > MAX_MASK_PATH_BYTES {
                Err(invalid_argument("update_mask", "has an overlong path"))
            } else {
                Ok(p.trim().to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_kind_maps_to_a_distinct_api_type_and_back() {
        let mut seen = std::collections::HashSet::new();
        for kind in AuditKind::ALL {
            let t = audit_type(*kind);
            assert_ne!(t, pb::AuditEventType::Unspecified);
            assert!(seen.insert(t), "{kind:?}");
            assert_eq!(audit_kinds(&[t.into()]).unwrap(), vec![*kind]);
        }
    }

    #[test]
    fn unspecified_types_are_ignored_and_unknown_ones_refused() {
        assert!(audit_kinds(&[0]).unwrap().is_empty());
        assert!(audit_kinds(&[9999]).is_err());
    }

    #[test]
    fn bad_timestamps_are_refused() {
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(optional_time("since", Some(&bad)).is_err());
        assert_eq!(optional_time("since", None).unwrap(), None);
    }
}

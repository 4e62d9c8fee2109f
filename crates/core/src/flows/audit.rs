//! Writing audit events from flows. A failure to record is logged, not returned: the state
//! change it describes has already happened, and failing the RPC afterwards would only make
//! the caller retry a change that succeeded.

use std::collections::BTreeMap;

use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::flows::{ClientInfo, Deps};
use crate::ids::{TenantId, UserId};
use crate::phone::PhoneNumber;

/// An event under construction: `Event::new(kind).user(id).phone(&p).client(&c)`.
pub struct Event {
    kind: AuditKind,
    actor: Option<Actor>,
    user: Option<UserId>,
    masked_phone: Option<String>,
    client_ip: Option<String>,
    user_agent: String,
    details: BTreeMap<String, String>,
}

impl Event {
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            actor: None,
            user: None,
            masked_phone: None,
            client_ip: None,
            user_agent: String::new(),
            details: BTreeMap::new(),
        }
    }

    /// The user the event is about; also the actor unless another is set.
    pub fn user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn phone(mut self, phone: &PhoneNumber) -> Self {
        self.masked_phone = Some(phone.masked());
        self
    }

    pub fn client(mut self, client: &ClientInfo) -> Self {
        self.client_ip = client.ip.map(|ip| ip.to_string());
        self.user_agent = client.user_agent.chars().take(256).collect();
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

pub async fn record(deps: &Deps, tenant: TenantId, event: Event) {
    let actor = event
        .actor
        .or(event.user.map(Actor::User))
        .unwrap_or(Actor::System);
    let record = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: deps.clock.now(),
        tenant,
        actor,
        user: event.user,
        kind: event.kind,
        masked_phone: event.masked_phone,
        client_ip: event.client_ip,
        user_agent: event.user_agent,
        details: event.details,
    };
    if let Err(e) = deps.audit.record(&record).await {
        tracing::error!(kind = record.kind.as_str(), error = %e, "audit event not recorded");
    }
}

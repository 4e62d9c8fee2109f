//! SMS delivery for twostep: provider adapters behind core's `SmsSender` port, routing with
//! failover between them, the texts, and the durable outbox that takes messages off the RPC
//! path.
//!
//! **Architecture invariant:** flows never call a provider. They enqueue; a worker sends. So a
//! slow or failing provider never shows in an RPC's latency or answer.
//!
//! - [`providers`]: one module per provider, each following a section of the fact sheet.
//! - [`routing`]: the [`Router`], an `SmsSender` that retries, fails over and trips circuit
//!   breakers across providers.
//! - [`factory`]: builds the [`Router`] from configured providers and routes.
//! - [`outbox`]: [`SqlOutbox`], the flows' `SmsOutbox` over durable rows with sealed bodies,
//!   and the [`OutboxWorker`] that sends them.
//! - [`receipts`]: delivery receipts: each provider's callbacks checked and read.
//! - [`templates`]: segment counting (the texts are rendered in core).
//! - [`settings`]: [`SealedSmsSettings`], tenants' own SMS settings with sealed secrets.
//! - [`tenant_routing`]: [`TenantRouting`], the tenant's providers or else the global ones.
//! - [`transport`]: the shared HTTP client and error classification.

pub mod console;
pub mod factory;
pub mod none;
pub mod outbox;
pub mod providers;
pub mod receipts;
pub mod routing;
pub mod settings;
pub mod templates;
pub mod tenant_routing;
pub mod transport;
pub mod verify_services;

pub use console::ConsoleSink;
pub use none::NoProvider;
pub use outbox::{OutboxKey, OutboxSettings, OutboxWorker, SqlOutbox};
pub use routing::{Router, RouterPolicy};
pub use settings::SealedSmsSettings;
pub use tenant_routing::{Route, TenantRouting};
pub use verify_services::VerifyServices;

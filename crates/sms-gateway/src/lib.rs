//! SMS delivery for twostep: provider adapters behind core's `SmsSender` port, and the
//! outbox that takes messages off the RPC path.
//!
//! **Architecture invariant:** flows never call a provider. They enqueue; a worker sends. So a
//! slow or failing provider never shows in an RPC's latency or answer.

pub mod console;
pub mod none;
pub mod queue;

pub use console::ConsoleSink;
pub use none::NoProvider;
pub use queue::InProcessOutbox;

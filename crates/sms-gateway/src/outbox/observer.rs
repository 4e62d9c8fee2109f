//! What the worker reports about each message it is done with for now, for the server's
//! metrics. The gateway knows no metrics library: the server implements [`OutboxObserver`].

/// How a message ended its turn in the worker, as the row records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendOutcome {
    /// A provider accepted it.
    Sent,
    /// Not sent this time; queued again for a later attempt.
    Retry,
    /// A permanent error: it will not be sent.
    Failed,
    /// It ran out of time before a provider accepted it: after a failed attempt, or in the
    /// sweep, unsent.
    Expired,
}

impl SendOutcome {
    /// The lower-case word for it, as a metric label or a log field.
    pub fn as_str(self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::Retry => "retry",
            SendOutcome::Failed => "failed",
            SendOutcome::Expired => "expired",
        }
    }
}

/// Told of every outcome the worker has recorded on its row (an outcome whose row was lost
/// to another worker is that worker's to report), and of the messages a sweep expired
/// unsent. Called on the worker's tasks: keep it quick and never block.
pub trait OutboxObserver: Send + Sync + 'static {
    /// `count` messages ended with `outcome`. `provider` is the name of the provider that
    /// accepted them (`Sent`: a configured provider's name, a tenant's provider id, or
    /// `console`); `None` otherwise, since a failed send may have tried several providers and
    /// belongs to none of them.
    fn outcomes(&self, provider: Option<&str>, outcome: SendOutcome, count: u64);
}

/// Reports to no one: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl OutboxObserver for NoObserver {
    fn outcomes(&self, _: Option<&str>, _: SendOutcome, _: u64) {}
}

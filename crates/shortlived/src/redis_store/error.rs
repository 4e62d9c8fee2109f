//! What can go wrong on the way to Redis, and which `StoreError` it becomes.
//!
//! Unavailable (callers answer UNAVAILABLE, health turns NOT_SERVING): no connection, a
//! connection that broke or timed out, a command that timed out, and the transient states of
//! a server or cluster that cannot take writes right now (LOADING, TRYAGAIN, CLUSTERDOWN,
//! MASTERDOWN, READONLY), and a cluster redirect (MOVED, ASK) still not settled after the
//! store's own resends. Internal: anything else, such as a script error or a reply this
//! code does not understand.

use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};
use twostep_core::ports::StoreError;

/// Why one call failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// No usable connection could be had (connecting failed or is still under way).
    Connect(RedisError),
    /// The command was sent and failed.
    Command(RedisError),
    /// The whole call, connecting included, took longer than the command timeout.
    TimedOut(Duration),
    /// The reply did not have the shape the script promises.
    Decode(&'static str),
}

#[derive(Debug, thiserror::Error)]
#[error("redis did not answer within {0:?}")]
struct TimedOut(Duration);

#[derive(Debug, thiserror::Error)]
#[error("could not connect to redis")]
struct ConnectFailed(#[source] RedisError);

#[derive(Debug, thiserror::Error)]
#[error("unexpected reply from redis: {0}")]
struct BadReply(&'static str);

impl Failure {
    /// Whether this says the store is out of reach (as opposed to a bug or bad data).
    pub(super) fn is_unavailable(&self) -> bool {
        match self {
            Failure::Connect(_) | Failure::TimedOut(_) => true,
            Failure::Command(e) => is_unavailable(e),
            Failure::Decode(_) => false,
        }
    }

    pub(super) fn into_store_error(self) -> StoreError {
        let unavailable = self.is_unavailable();
        let source: twostep_core::ports::BoxError = match self {
            Failure::Connect(e) => Box::new(ConnectFailed(e)),
            Failure::Command(e) => Box::new(e),
            Failure::TimedOut(d) => Box::new(TimedOut(d)),
            Failure::Decode(what) => Box::new(BadReply(what)),
        };
        if unavailable {
            StoreError::Unavailable(source)
        } else {
            StoreError::Internal(source)
        }
    }
}

/// Whether `e` says Redis is out of reach or cannot take the command right now.
pub(super) fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || not_run(e)
}

/// Whether Redis certainly did not run the command, so sending it again cannot apply it
/// twice: the connection was refused, no node serves the slot yet, or the server refused
/// it (loading, a cluster redirect, a failover under way, a demoted primary).
pub(super) fn not_run(e: &RedisError) -> bool {
    e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
        )
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn classifies_as_documented() {
        let io = |kind| Failure::Command(RedisError::from(io::Error::from(kind)));
        assert!(io(io::ErrorKind::ConnectionRefused).is_unavailable());
        assert!(io(io::ErrorKind::TimedOut).is_unavailable());
        assert!(io(io::ErrorKind::BrokenPipe).is_unavailable());
        assert!(Failure::TimedOut(Duration::from_millis(500)).is_unavailable());
        let moved = RedisError::from((
            ErrorKind::Server(ServerErrorKind::Moved),
            "MOVED",
            "3999 127.0.0.1:6381".to_owned(),
        ));
        assert!(not_run(&moved));
        assert!(Failure::Command(moved).is_unavailable());
        let dropped = RedisError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(
            !not_run(&dropped),
            "a broken pipe may follow a command that ran"
        );
        let script = RedisError::from((ErrorKind::Parse, "bad"));
        assert!(!Failure::Command(script).is_unavailable());
        assert!(!Failure::Decode("x").is_unavailable());
        assert!(matches!(
            Failure::Decode("x").into_store_error(),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            Failure::TimedOut(Duration::ZERO).into_store_error(),
            StoreError::Unavailable(_)
        ));
    }
}

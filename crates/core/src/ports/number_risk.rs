//! The SIM-swap and porting hook (R30): before a second-factor SMS is sent, a risk source says
//! whether the number recently changed hands. An SMS to a swapped SIM goes to the attacker, so
//! on a signal no SMS is sent and only a backup code can finish the login.
//!
//! Contract for every implementation:
//!
//! - `check` answers for the exact E.164 number it is given and sends nothing to the number.
//! - `Err` means "no answer" (the source is down or timed out), never "risky"; the flow
//!   decides what an unanswered check means (`flows::sim_swap`).
//! - It is fast enough to run on the request path (a timeout of its own, well under a
//!   second), because the login waits for it.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::phone::PhoneNumber;
use crate::ports::BoxError;

/// What a risk source knows about a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberRisk {
    NoSignal,
    /// The SIM card behind the number changed recently.
    RecentSimSwap,
    /// The number moved to another operator recently.
    RecentPorting,
}

impl NumberRisk {
    pub fn is_signal(self) -> bool {
        self != NumberRisk::NoSignal
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NumberRisk::NoSignal => "no_signal",
            NumberRisk::RecentSimSwap => "recent_sim_swap",
            NumberRisk::RecentPorting => "recent_porting",
        }
    }
}

#[async_trait]
pub trait NumberRiskCheck: Send + Sync {
    async fn check(&self, number: &PhoneNumber) -> Result<NumberRisk, BoxError>;
}

/// No risk source configured: every number is `NoSignal` (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRiskSource;

#[async_trait]
impl NumberRiskCheck for NoRiskSource {
    async fn check(&self, _number: &PhoneNumber) -> Result<NumberRisk, BoxError> {
        Ok(NumberRisk::NoSignal)
    }
}

/// A fixed list of numbers that report a recent SIM swap (`[risk] sim_swap_numbers`), for
/// tests and drills: a stand-in for an operator's SIM-swap API.
#[derive(Debug, Clone, Default)]
pub struct StaticSimSwapList(HashSet<PhoneNumber>);

impl StaticSimSwapList {
    pub fn new(numbers: impl IntoIterator<Item = PhoneNumber>) -> Self {
        Self(numbers.into_iter().collect())
    }
}

#[async_trait]
impl NumberRiskCheck for StaticSimSwapList {
    async fn check(&self, number: &PhoneNumber) -> Result<NumberRisk, BoxError> {
        Ok(if self.0.contains(number) {
            NumberRisk::RecentSimSwap
        } else {
            NumberRisk::NoSignal
        })
    }
}

//! `twostep_sms_receipts_total` by `outcome`: what the delivery-receipt endpoints did with
//! each receipt. No provider label: the tenant a provider id belongs to is no label, and
//! without it the id is ambiguous.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What became of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptOutcome {
    /// It moved its message's row.
    Recorded,
    /// A repeat, or older news than the row has.
    Unchanged,
    /// For a message this service does not know.
    UnknownMessage,
    /// Bad signature or token, or none configured.
    Refused,
    /// Signed, but not a receipt.
    Malformed,
    /// A status word the parser does not know.
    UnknownStatus,
    /// Not checked or not recorded: the database or the tenant's settings did not answer.
    Unavailable,
}

impl ReceiptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptOutcome::Recorded => "recorded",
            ReceiptOutcome::Unchanged => "unchanged",
            ReceiptOutcome::UnknownMessage => "unknown_message",
            ReceiptOutcome::Refused => "refused",
            ReceiptOutcome::Malformed => "malformed",
            ReceiptOutcome::UnknownStatus => "unknown_status",
            ReceiptOutcome::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReceiptLabels {
    outcome: &'static str,
}

/// Running totals of receipts by outcome, also quoted in the receipt log lines; cheap to
/// clone (clones count together).
#[derive(Debug, Clone, Default)]
pub struct ReceiptCounts {
    receipts: Family<ReceiptLabels, Counter>,
}

impl ReceiptCounts {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "twostep_sms_receipts",
            "Delivery receipts by outcome: recorded, unchanged, unknown_message, refused, \
             malformed, unknown_status, unavailable",
            self.receipts.clone(),
        );
    }

    /// Counts one receipt; the new total of its outcome.
    pub fn bump(&self, outcome: ReceiptOutcome) -> u64 {
        self.receipts
            .get_or_create(&ReceiptLabels {
                outcome: outcome.as_str(),
            })
            .inc()
            .saturating_add(1)
    }

    /// The total of `outcome` so far.
    pub fn get(&self, outcome: ReceiptOutcome) -> u64 {
        self.receipts
            .get_or_create(&ReceiptLabels {
                outcome: outcome.as_str(),
            })
            .get()
    }
}

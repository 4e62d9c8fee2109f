//! The sender used when no provider is configured: every send fails permanently, loudly.

use async_trait::async_trait;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

#[derive(Debug, Default)]
pub struct NoProvider;

#[async_trait]
impl SmsSender for NoProvider {
    fn name(&self) -> &str {
        "none"
    }

    async fn send(&self, _: &OutgoingSms) -> Result<SentSms, SendError> {
        Err(SendError::Permanent {
            kind: PermanentKind::Other,
            reason: "no SMS provider is configured".to_owned(),
        })
    }
}

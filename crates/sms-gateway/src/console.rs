//! The development sink: writes each message to standard error instead of sending it, so a
//! newcomer can read the code without a provider account. Refused in production at start-up.

use std::io::Write;

use async_trait::async_trait;
use twostep_core::ports::{OutgoingSms, SendError, SentSms, SmsSender};

/// Prints `SMS to +1******0100: <text>` on standard error. The number is masked like in logs;
/// the text is printed in full because delivering it is this sink's whole job, on one line
/// (line breaks, as before a WebOTP line, shown as `\n`).
#[derive(Debug, Default)]
pub struct ConsoleSink;

#[async_trait]
impl SmsSender for ConsoleSink {
    fn name(&self) -> &str {
        "console"
    }

    async fn send(&self, message: &OutgoingSms) -> Result<SentSms, SendError> {
        let line = format!(
            "SMS to {}: {}\n",
            message.to.masked(),
            message.text.expose().replace('\n', "\\n")
        );
        // One write call per message, so lines of concurrent sends never interleave.
        std::io::stderr()
            .lock()
            .write_all(line.as_bytes())
            .map_err(|e| SendError::Retryable {
                retry_after: None,
                reason: e.kind().to_string(),
            })?;
        Ok(SentSms {
            provider: "console".to_owned(),
            provider_message_id: message.idempotency_key.clone(),
        })
    }
}

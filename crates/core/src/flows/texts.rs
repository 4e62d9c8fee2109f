//! SMS texts. One segment, no links, a do-not-share line (security requirements §3.10).

use std::time::Duration;

use crate::otp::OtpCode;
use crate::ports::SmsText;

pub fn code_message(app_name: &str, code: &OtpCode, lifetime: Duration) -> SmsText {
    let minutes = lifetime.as_secs().div_ceil(60).max(1);
    SmsText::new(format!(
        "{} is your {app_name} code. It expires in {minutes} min. Do not share it with anyone.",
        code.expose_for_sms()
    ))
}

/// To the owner of a number someone tried to register again (R20). No code, no link.
pub fn registration_attempt_notice(app_name: &str) -> SmsText {
    SmsText::new(format!(
        "Someone tried to create a {app_name} account with this number. If it was you, log in instead; otherwise ignore this message."
    ))
}

/// To the user after a backup code was used to log in (R27). No code, no link.
pub fn backup_code_used_notice(app_name: &str, remaining: usize) -> SmsText {
    SmsText::new(format!(
        "A backup code was used to log in to your {app_name} account; {remaining} left. If this was not you, contact support."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_message_fits_one_gsm_segment() {
        let code = OtpCode::parse("123456").unwrap();
        let text = code_message("Acme Shop", &code, Duration::from_secs(300));
        assert_eq!(
            text.expose(),
            "123456 is your Acme Shop code. It expires in 5 min. Do not share it with anyone."
        );
        assert!(text.expose().len() <= 160);
    }
}

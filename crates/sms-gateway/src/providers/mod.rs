//! One adapter per SMS provider, each built from the wire formats in the fact sheet
//! (`reference/sms-providers.md`, cited per adapter), and each classifying every documented
//! error into the port's retryable and permanent kinds.
//!
//! All adapters take a `reqwest::Client` (share one: see [`crate::transport::shared_client`])
//! and a config struct whose `base_url` defaults to the provider's and can point at a fake.

pub mod bulksms;
pub mod bulksms_eapi;
pub mod clickatell;
pub mod clickatell_legacy;
pub mod generic_http;
pub mod messagebird;
pub mod plivo;
pub mod twilio;
pub mod twilio_verify;
pub mod vonage;

pub use bulksms::{BulkSms, BulkSmsConfig};
pub use bulksms_eapi::{BulkSmsEapi, BulkSmsEapiConfig};
pub use clickatell::{ClickatellConfig, ClickatellSms};
pub use clickatell_legacy::{ClickatellLegacyConfig, ClickatellLegacySms};
pub use generic_http::{GenericHttpConfig, GenericHttpSms};
pub use messagebird::{MessageBirdConfig, MessageBirdSms};
pub use plivo::{PlivoConfig, PlivoSms};
pub use twilio::{TwilioConfig, TwilioSender, TwilioSms};
pub use twilio_verify::{TwilioVerify, TwilioVerifyConfig, VerifyError};
pub use vonage::{VonageConfig, VonageSms};

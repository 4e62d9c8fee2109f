//! sea-orm entities: one file per table, mirroring the columns the migrations create.
//!
//! They carry no relations and no behaviour: the repositories in `repo` convert rows to the
//! core types and back, so nothing outside this crate ever sees a row.

pub(crate) mod account_lockout;
pub(crate) mod api_client;
pub(crate) mod audit_event;
pub(crate) mod backup_code;
pub(crate) mod consumed_challenge;
pub(crate) mod session;
pub(crate) mod sms_outbox;
pub(crate) mod tenant;
pub(crate) mod tenant_sms_settings;
pub(crate) mod user;

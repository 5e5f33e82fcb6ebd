//! `[transfer]`: warm transfers to the tenant's on-call person (ringing,
//! screening, the way back to the receptionist), with the defaults beside the
//! struct.

use serde::{Deserialize, Serialize};

/// Shortest ring allowed, seconds (Twilio `<Dial timeout>` accepts 5–600).
pub const RING_SECS_MIN: u32 = 5;
/// Longest ring allowed, seconds: a caller waiting longer on ringback hangs up.
pub const RING_SECS_MAX: u32 = 120;

/// `[transfer]`: how a transfer to the on-call person rings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    /// Seconds the on-call number rings before the transfer counts as
    /// unanswered and the caller goes back to the receptionist (Twilio
    /// `<Dial timeout>`, "TwiML Voice: `<Dial>`"; jambonz `dial.timeout`).
    /// 5–120, default 20.
    pub ring_secs: u32,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig { ring_secs: 20 }
    }
}

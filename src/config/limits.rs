//! `[limits]`: per-source-address rate limits, with the defaults beside the struct.

use serde::{Deserialize, Serialize};

/// `[limits]`: per-source-address rate limits (the key is the TCP peer address,
/// so behind a reverse proxy every caller shares the proxy's budget). Exceeding
/// one answers 429 with `Retry-After` (seconds). 0 turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Webhook requests (`/twiml` and every `/twiml/…` webhook, `/sms/inbound`, POST or GET;
    /// `/email/inbound`) per source address per minute, as a burst that refills evenly.
    pub webhook_per_minute: u32,
    /// Failed authentications (401/403: admin token, Node client token, browser
    /// token, Twilio signature, email secret) per source address per minute; past
    /// it the address gets 429 on every route but `/health` until the window refills.
    pub failed_auth_per_minute: u32,
    /// Dashboard sign-in attempts (`POST /api/login`) per source address per
    /// minute, and as many per account (email) per minute, as a burst that
    /// refills evenly; past either the attempt is answered 429 unchecked.
    pub sign_in_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            webhook_per_minute: 1200,
            failed_auth_per_minute: 120,
            sign_in_per_minute: 10,
        }
    }
}

//! `[twilio]`: the Twilio account, with the defaults beside the struct.

use serde::{Deserialize, Serialize};

/// `[twilio]`: account credentials for signature checks and the REST API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    /// Account SID (`AC…`) for the REST API (transfers, outbound calls,
    /// recordings). Empty: no account.
    pub account_sid: String,
    /// REST API base URL (tests point it at a local server).
    pub api_base: String,
    /// Auth token (env `SWITCHBOARD_TWILIO__AUTH_TOKEN`); when set, every webhook and
    /// media-stream upgrade must carry a valid `X-Twilio-Signature`.
    #[serde(skip_serializing)]
    pub auth_token: Option<String>,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            account_sid: String::new(),
            api_base: "https://api.twilio.com".into(),
            auth_token: None,
        }
    }
}

//! `[openai]`: calls OpenAI answers itself over SIP (docs/openai-sip.md) —
//! where its REST and sideband endpoints are, the webhook signing secret, and
//! how long a call's goodbye may take before switchboard hangs up.

use serde::{Deserialize, Serialize};

use super::Config;

/// `[openai]`: OpenAI's SIP calls (`POST /openai/webhook`, accept, sideband).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// Base URL of OpenAI's API. The REST calls (`/v1/live/sessions/{id}/accept`,
    /// `/v1/realtime/calls/{id}/accept`, …) and the sideband WebSockets
    /// (`https` → `wss`) derive from it, so a proxy or a test can stand in.
    pub api_base: String,
    /// The webhook endpoint's signing secret, `whsec_…` (env
    /// `SWITCHBOARD_OPENAI__WEBHOOK_SECRET`, else OpenAI's own
    /// `OPENAI_WEBHOOK_SECRET`). Unset: `/openai/webhook` answers 503.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<String>,
    /// Longest wait, ms, for the receptionist's goodbye before a hang-up or
    /// transfer the model asked for is carried out (the sideband says when the
    /// goodbye has been spoken; this bounds the wait when it does not).
    pub farewell_max_ms: u64,
    /// Re-attach attempts after a sideband drops while OpenAI still carries
    /// the call (backoff from 200 ms, doubling, capped at 5 s).
    pub sideband_reattach_attempts: u32,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            api_base: "https://api.openai.com".into(),
            webhook_secret: None,
            farewell_max_ms: 8000,
            sideband_reattach_attempts: 5,
        }
    }
}

impl Config {
    /// The webhook secret: `SWITCHBOARD_OPENAI__WEBHOOK_SECRET`, else
    /// `OPENAI_WEBHOOK_SECRET` as read at load; `None` when neither is set.
    pub fn openai_webhook_secret(&self) -> Option<&str> {
        self.openai
            .webhook_secret
            .as_deref()
            .filter(|s| !s.trim().is_empty())
    }

    /// Installs `OPENAI_WEBHOOK_SECRET` when `SWITCHBOARD_OPENAI__WEBHOOK_SECRET`
    /// is unset or empty.
    pub fn take_openai_webhook_secret(&mut self, vendor: Option<String>) {
        if self.openai_webhook_secret().is_none() {
            self.openai.webhook_secret = vendor.filter(|s| !s.trim().is_empty());
        }
    }
}

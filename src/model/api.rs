//! `ModelApi`: which of OpenAI's voice protocols a call's model link speaks —
//! the Realtime API (GA events on `/v1/realtime`) or GPT-Live
//! (`/v1/live/sessions`). xAI speaks Realtime only.

use serde::{Deserialize, Serialize};

/// OpenAI's GPT-Live primary WebSocket (no query parameters: the model goes
/// in `session.start`).
pub const LIVE_URL: &str = "wss://api.openai.com/v1/live/sessions";

/// The voice protocol of a model link; config `model.api` and a tenant's `api`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelApi {
    /// OpenAI Realtime GA (and xAI Grok Voice, which speaks its dialect).
    #[default]
    Realtime,
    /// OpenAI GPT-Live: the model owns turn-taking and barge-in; tools run
    /// through a backend Responses model (delegation).
    Live,
}

impl ModelApi {
    /// The config spelling: `realtime` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelApi::Realtime => "realtime",
            ModelApi::Live => "live",
        }
    }
}

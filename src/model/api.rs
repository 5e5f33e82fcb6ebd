//! `ModelApi`: which of OpenAI's voice protocols a call's model link speaks —
//! the Realtime API (GA events on `/v1/realtime`) or GPT-Live
//! (`/v1/live/sessions`). xAI speaks Realtime only.

use serde::{Deserialize, Serialize};

/// OpenAI's GPT-Live primary WebSocket (no query parameters: the model goes
/// in `session.start`).
pub const LIVE_URL: &str = "wss://api.openai.com/v1/live/sessions";

/// Built-in voices GPT-Live has and the Realtime API does not (OpenAI
/// "Live conversations" voice list, read 2026-12-04; both APIs share alloy,
/// ash, ballad, cedar, coral, echo, marin, sage, shimmer and verse).
pub const LIVE_ONLY_VOICES: &[&str] = &[
    "quartz", "ripple", "vesper", "willow", "stone", "gleam", "meridian", "bossa", "tempo",
    "beacon", "delta", "cinder",
];

impl ModelApi {
    /// Checks that `voice` exists on this API: a GPT-Live-only voice is
    /// refused on Realtime (other names pass as custom voices).
    ///
    /// # Errors
    /// A sentence naming the voice and the API that has it.
    pub fn check_voice(self, voice: &str) -> Result<(), String> {
        let lower = voice.trim().to_ascii_lowercase();
        if self == ModelApi::Realtime && LIVE_ONLY_VOICES.contains(&lower.as_str()) {
            return Err(format!(
                "voice {voice:?} is a GPT-Live voice; the Realtime API does not have it (set api = \"live\")"
            ));
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_only_voice_is_refused_on_realtime() {
        assert!(ModelApi::Realtime.check_voice("Quartz").is_err());
        assert!(ModelApi::Live.check_voice("quartz").is_ok());
        assert!(ModelApi::Realtime.check_voice("marin").is_ok());
        assert!(ModelApi::Realtime.check_voice("my-custom-voice").is_ok());
    }
}

//! `Provider`: which realtime model provider a tenant's calls talk to, with each
//! provider's config spelling, default model and voice, and built-in voices.
//! Pure data, read by the configuration, the session builder and jambonz.

use serde::{Deserialize, Serialize};

/// Which realtime provider a session talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// OpenAI Realtime GA (`wss://api.openai.com/v1/realtime`); config `openai`.
    #[serde(rename = "openai")]
    OpenAi,
    /// xAI Grok Voice Agent (`wss://api.x.ai/v1/realtime`); config `xai`.
    #[serde(rename = "xai")]
    Xai,
    /// Ultravox, reached only through jambonz's `llm` verb (vendor `ultravox`);
    /// config `ultravox`. The direct link does not speak it: Twilio and browser
    /// calls for such a tenant are refused before any link opens.
    #[serde(rename = "ultravox")]
    Ultravox,
}

impl Provider {
    /// The config spelling: `openai`, `xai` or `ultravox`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Xai => "xai",
            Provider::Ultravox => "ultravox",
        }
    }

    /// The voice used when neither `model.voice` nor the tenant names one:
    /// OpenAI `marin` (its recommended GA voice), xAI `eve` (xAI's default,
    /// docs.x.ai "Voice Agent API").
    pub fn default_voice(self) -> &'static str {
        match self {
            Provider::OpenAi => "marin",
            Provider::Xai => "eve",
            // Ultravox picks its own when jambonz sends none.
            Provider::Ultravox => "",
        }
    }

    /// The model used when `model.model` is empty: `gpt-realtime-2.1` (OpenAI's
    /// current Realtime model; `gpt-realtime` shuts down 2027-01-20, see
    /// [`crate::model::retirement`]),
    /// `grok-voice-think-fast-1.0` (xAI's current voice model) or
    /// `fixie-ai/ultravox` (feature-server's Ultravox default).
    pub fn default_model(self) -> &'static str {
        match self {
            Provider::OpenAi => "gpt-realtime-2.1",
            Provider::Xai => "grok-voice-think-fast-1.0",
            Provider::Ultravox => "fixie-ai/ultravox",
        }
    }

    /// Built-in voices of this provider. A voice of the *other* provider's list
    /// is refused at start-up; names in neither list pass (custom voices).
    /// OpenAI: platform.openai.com "Realtime" voice list; xAI: docs.x.ai
    /// "Voice Agent API" (eve, ara, rex, sal, leo).
    pub fn builtin_voices(self) -> &'static [&'static str] {
        match self {
            Provider::OpenAi => &[
                "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin",
                "cedar",
            ],
            Provider::Xai => &["eve", "ara", "rex", "sal", "leo"],
            Provider::Ultravox => &[],
        }
    }

    /// Checks that `voice` is not another provider's built-in voice.
    ///
    /// # Errors
    /// A sentence naming the voice, the provider and this provider's voices.
    pub fn check_voice(self, voice: &str) -> Result<(), String> {
        let lower = voice.to_ascii_lowercase();
        if self.builtin_voices().contains(&lower.as_str()) {
            return Ok(());
        }
        for other in [Provider::OpenAi, Provider::Xai] {
            if other != self && other.builtin_voices().contains(&lower.as_str()) {
                return Err(format!(
                    "voice {voice:?} is an {} voice, not an {} one{}",
                    other.as_str(),
                    self.as_str(),
                    if self.builtin_voices().is_empty() {
                        String::new()
                    } else {
                        format!(" (use one of {})", self.builtin_voices().join(", "))
                    }
                ));
            }
        }
        Ok(())
    }

    /// Whether switchboard's own realtime link can carry this provider (OpenAI
    /// Realtime GA or xAI); Ultravox is carried by jambonz only.
    pub fn has_direct_link(self) -> bool {
        !matches!(self, Provider::Ultravox)
    }
}

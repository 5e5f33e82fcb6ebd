//! `[model]` and `[model.live]`: which realtime voice model calls are linked
//! to and how, with the defaults beside each struct. Model API keys read from
//! the vendors' own variables ([`VendorKeys`]) ride along, never serialized.
//! Per-tenant overrides live in `[[tenants]]` ([`crate::tenant::TenantConfig`]);
//! choices that join the two are on [`crate::config::Config`].

use serde::{Deserialize, Serialize};

use crate::model::api::ModelApi;
use crate::model::provider::Provider;

/// `[model]`: the realtime voice model every call is linked to (per-tenant overrides
/// live in `[[tenants]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `openai`, `xai`, or `ultravox` (jambonz only: its `llm` verb runs Ultravox).
    pub provider: Provider,
    /// Which OpenAI voice protocol calls speak: `realtime` (Realtime GA, also
    /// xAI's) or `live` (GPT-Live, OpenAI only). Tenants may override.
    pub api: ModelApi,
    /// `[model.live]`: GPT-Live settings.
    pub live: LiveModelConfig,
    /// `ws://`/`wss://` URL of the realtime endpoint. Empty: the built-in simulator.
    pub url: String,
    /// Model id sent as `?model=` (and in the OpenAI session): `gpt-realtime`,
    /// `grok-voice-think-fast-1.0`. Empty: the provider's default
    /// ([`Provider::default_model`]).
    pub model: String,
    /// Default voice. Empty: the provider's default (`marin` for OpenAI, `eve`
    /// for xAI; [`Provider::default_voice`]).
    pub voice: String,
    /// Input transcription model (OpenAI GA `audio.input.transcription.model`).
    pub transcription_model: String,
    /// Server VAD threshold 0.0–1.0.
    pub vad_threshold: f32,
    /// Server VAD silence before end of turn, ms.
    pub vad_silence_ms: u32,
    /// Server VAD prefix padding, ms.
    pub vad_prefix_padding_ms: u32,
    /// Seconds allowed for the WebSocket connect.
    pub connect_timeout_secs: u64,
    /// Seconds between pings; a link silent for 3 intervals counts as dropped.
    pub heartbeat_secs: u64,
    /// Restarts of a dropped link per call before the caller hears the apology.
    pub restart_attempts: u32,
    /// First restart delay, ms; doubles per attempt.
    pub restart_backoff_ms: u64,
    /// Seconds a tool call may run before the model gets a timeout error.
    pub tool_timeout_secs: u64,
    /// Seconds after which a call rolls over to a fresh model session (conversation
    /// replayed) at the next quiet moment, before the provider's cap (OpenAI and
    /// xAI: about 60 min).
    pub session_max_secs: u64,
    /// Bearer key (env `SWITCHBOARD_MODEL__API_KEY`) for `provider`; when unset,
    /// [`crate::config::Config::load`] takes the provider's own variable
    /// (`OPENAI_API_KEY`, …).
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// Keys by vendor variable name, for tenants whose `provider` differs from
    /// `model.provider` (see [`crate::config::Config::model_key`]).
    #[serde(skip)]
    pub vendor_keys: VendorKeys,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            provider: Provider::OpenAi,
            api: ModelApi::Realtime,
            live: LiveModelConfig::default(),
            url: String::new(),
            model: String::new(),
            voice: String::new(),
            transcription_model: "gpt-live-transcribe".into(),
            vad_threshold: 0.5,
            vad_silence_ms: 500,
            vad_prefix_padding_ms: 300,
            connect_timeout_secs: 5,
            heartbeat_secs: 10,
            restart_attempts: 3,
            restart_backoff_ms: 200,
            tool_timeout_secs: 10,
            session_max_secs: 3300,
            api_key: None,
            vendor_keys: VendorKeys::default(),
        }
    }
}

impl ModelConfig {
    /// The model id calls on `provider` use: `model` when `provider` is the
    /// configured `provider` and `model` is set, else the provider's default
    /// (an OpenAI model is never asked of xAI, nor the other way round).
    pub fn model_for(&self, provider: Provider) -> String {
        if provider == self.provider && !self.model.trim().is_empty() {
            self.model.clone()
        } else {
            provider.default_model().to_string()
        }
    }

    /// The voice calls on `provider` use unless their tenant names one: `voice`
    /// when `provider` is the configured `provider` and `voice` is set, else the
    /// provider's default.
    pub fn voice_for(&self, provider: Provider) -> String {
        if provider == self.provider && !self.voice.trim().is_empty() {
            self.voice.clone()
        } else {
            provider.default_voice().to_string()
        }
    }
}

/// `[model.live]`: calls on OpenAI's GPT-Live API (`model.api = "live"` or a
/// tenant's `api = "live"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveModelConfig {
    /// GPT-Live model id (`gpt-live-1.1`, `gpt-live-1`), sent in `session.start`.
    pub model: String,
    /// The Responses model GPT-Live delegates tool work to
    /// (`delegation.responses.model`; billed per token, apart from the voice).
    pub backend_model: String,
    /// `ws://`/`wss://` endpoint. Empty: `model.url` when `model.api = "live"`,
    /// else OpenAI's `wss://api.openai.com/v1/live/sessions`.
    pub url: String,
}

impl Default for LiveModelConfig {
    fn default() -> Self {
        LiveModelConfig {
            model: "gpt-live-1.1".into(),
            backend_model: "gpt-5.6-luna".into(),
            url: String::new(),
        }
    }
}

/// Model API keys read from the variables each vendor's own SDKs use
/// (`OPENAI_API_KEY`, `XAI_API_KEY`, `ULTRAVOX_API_KEY`), the fallback when
/// `SWITCHBOARD_MODEL__API_KEY` does not apply. Filled by
/// [`crate::config::Config::load`]; never serialized, and `Debug` shows only
/// which keys are present.
#[derive(Clone, Default, PartialEq)]
pub struct VendorKeys {
    /// `OPENAI_API_KEY`.
    pub openai: Option<String>,
    /// `XAI_API_KEY`.
    pub xai: Option<String>,
    /// `ULTRAVOX_API_KEY`.
    pub ultravox: Option<String>,
}

impl std::fmt::Debug for VendorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorKeys")
            .field("openai", &self.openai.is_some())
            .field("xai", &self.xai.is_some())
            .field("ultravox", &self.ultravox.is_some())
            .finish()
    }
}

impl VendorKeys {
    /// The environment variable holding `provider`'s key.
    pub fn env_name(provider: Provider) -> &'static str {
        match provider {
            Provider::OpenAi => "OPENAI_API_KEY",
            Provider::Xai => "XAI_API_KEY",
            Provider::Ultravox => "ULTRAVOX_API_KEY",
        }
    }

    /// Reads the three variables through `var` (empty values count as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> VendorKeys {
        let read = |p: Provider| var(Self::env_name(p)).filter(|k| !k.trim().is_empty());
        VendorKeys {
            openai: read(Provider::OpenAi),
            xai: read(Provider::Xai),
            ultravox: read(Provider::Ultravox),
        }
    }

    /// The key for `provider`, if its variable was set.
    pub fn get(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::OpenAi => self.openai.as_deref(),
            Provider::Xai => self.xai.as_deref(),
            Provider::Ultravox => self.ultravox.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_keys_ignore_empty_variables_and_hide_values() {
        let keys = VendorKeys::from_vars(|name| match name {
            "OPENAI_API_KEY" => Some("sk-openai".into()),
            "XAI_API_KEY" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(keys.get(Provider::OpenAi), Some("sk-openai"));
        assert_eq!(keys.xai, None, "an empty variable counts as unset");
        assert!(
            !format!("{keys:?}").contains("sk-openai"),
            "Debug hides keys"
        );
    }
}

//! Provider-neutral description of a voice-model session ([`SessionSpec`]) and
//! the functions that turn it into wire events: the `session.update` in the
//! OpenAI GA shape or the xAI Grok Voice shape (models.md §1.3, §1.4, §3), and
//! the `conversation.item.create` events that replay a conversation into a
//! fresh session after a reconnect or a session roll-over.

use serde::{Deserialize, Serialize};

use crate::audio::format::AudioFormat;
use crate::config::ModelConfig;
pub use crate::model::realtime::Role;
use crate::model::realtime::{
    AudioFormatSpec, ClientEvent, ContentPart, FunctionKind, GaAudio, GaAudioInput, GaAudioOutput,
    GaSession, Item, Modality, SessionKind, SessionPayload, Tool, ToolChoice, ToolChoiceMode,
    Transcription, TurnDetectionConfig, XaiAudio, XaiAudioInput, XaiAudioOutput, XaiSession,
};

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

/// A function the model may call, in provider-neutral form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// Function name, e.g. `takeMessage`.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// Server VAD tuning shared by both providers (models.md §1.4, §3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TurnDetection {
    /// Activation threshold 0.0–1.0 (higher = needs louder speech). OpenAI
    /// default 0.5; xAI accepts 0.1–0.9.
    pub threshold: f32,
    /// Audio kept before detected speech, in ms.
    pub prefix_padding_ms: u32,
    /// Silence that ends a user turn, in ms.
    pub silence_duration_ms: u32,
    /// When set (OpenAI only), the model decides end of turn (`semantic_vad`) with
    /// this eagerness instead of the energy thresholds above.
    pub eagerness: Option<Eagerness>,
}

/// How eagerly a `semantic_vad` model takes its turn (OpenAI GA
/// `audio.input.turn_detection.eagerness`): `low` waits longer, `high` answers sooner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eagerness {
    Low,
    Medium,
    High,
    Auto,
}

impl Eagerness {
    /// The wire spelling (`low`, `medium`, `high`, `auto`).
    pub fn as_str(self) -> &'static str {
        match self {
            Eagerness::Low => "low",
            Eagerness::Medium => "medium",
            Eagerness::High => "high",
            Eagerness::Auto => "auto",
        }
    }
}

impl Default for TurnDetection {
    /// OpenAI's documented defaults: 0.5 / 300 ms / 500 ms.
    fn default() -> Self {
        TurnDetection {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            eagerness: None,
        }
    }
}

/// Everything needed to configure one model session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSpec {
    /// Target provider (selects the session shape).
    pub provider: Provider,
    /// Model id (`gpt-realtime`, `grok-voice-think-fast-1.0`, …); `None` =
    /// the one given in the connect URL / provider default.
    pub model: Option<String>,
    /// System prompt.
    pub instructions: String,
    /// Voice name (`marin`, `eve`, …).
    pub voice: String,
    /// Function tools.
    pub tools: Vec<FunctionTool>,
    /// Audio format of both directions, e.g. [`AudioFormatSpec::PCMU`] for a
    /// µ-law telephony leg.
    pub audio_format: AudioFormatSpec,
    /// ASR model for input transcripts (OpenAI only, e.g.
    /// `gpt-4o-mini-transcribe`); `None` = no user transcripts.
    pub transcription_model: Option<String>,
    /// Server VAD settings.
    pub turn_detection: TurnDetection,
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

    /// Whether switchboard's own realtime link can carry this provider (OpenAI
    /// Realtime GA or xAI); Ultravox is carried by jambonz only.
    pub fn has_direct_link(self) -> bool {
        !matches!(self, Provider::Ultravox)
    }
}

impl SessionSpec {
    /// The session for one call: model settings from `[model]`, the tenant's
    /// instructions, voice and tools, and the carrier leg's audio format (µ-law
    /// carriers get `audio/pcmu` both ways so payloads pass through untouched).
    pub fn for_call(
        provider: Provider,
        model: &ModelConfig,
        instructions: String,
        voice: String,
        tools: Vec<FunctionTool>,
        format: AudioFormat,
    ) -> SessionSpec {
        let audio_format = match format {
            AudioFormat::Pcmu => AudioFormatSpec::PCMU,
            AudioFormat::Pcma => AudioFormatSpec::PCMA,
            AudioFormat::Pcm24k => AudioFormatSpec::PCM24K,
        };
        SessionSpec {
            provider,
            model: Some(model.model.clone()).filter(|m| !m.is_empty()),
            instructions,
            voice,
            tools,
            audio_format,
            transcription_model: Some(model.transcription_model.clone()).filter(|m| !m.is_empty()),
            turn_detection: TurnDetection {
                threshold: model.vad_threshold,
                prefix_padding_ms: model.vad_prefix_padding_ms,
                silence_duration_ms: model.vad_silence_ms,
                eagerness: None,
            },
        }
    }
}

fn wire_tools(tools: &[FunctionTool]) -> Option<Vec<Tool>> {
    if tools.is_empty() {
        return None;
    }
    Some(
        tools
            .iter()
            .map(|t| Tool {
                kind: FunctionKind::Function,
                name: t.name.clone(),
                description: Some(t.description.clone()),
                parameters: t.parameters.clone(),
            })
            .collect(),
    )
}

fn server_vad(td: &TurnDetection) -> TurnDetectionConfig {
    if let Some(eagerness) = td.eagerness {
        return TurnDetectionConfig::SemanticVad {
            eagerness: Some(eagerness.as_str().to_string()),
            create_response: Some(true),
            interrupt_response: Some(true),
        };
    }
    TurnDetectionConfig::ServerVad {
        threshold: Some(td.threshold),
        prefix_padding_ms: Some(td.prefix_padding_ms),
        silence_duration_ms: Some(td.silence_duration_ms),
        create_response: Some(true),
        interrupt_response: Some(true),
        idle_timeout_ms: None,
    }
}

/// Builds the `session.update` for `spec`.
///
/// - OpenAI: GA shape — `type:"realtime"`, `output_modalities:["audio"]`,
///   `audio.input.{format, transcription?, turn_detection: server_vad with
///   create_response and interrupt_response true}`, `audio.output.{format,
///   voice}`, `tools` + `tool_choice:"auto"` when there are tools.
/// - xAI: no `type`; top-level `voice` and `turn_detection`; formats under
///   `audio.input/.output.format`; no transcription block (xAI transcribes
///   input on its own, models.md §3).
pub fn session_update(spec: &SessionSpec) -> ClientEvent {
    let tools = wire_tools(&spec.tools);
    let session = match spec.provider {
        // Ultravox never reaches the direct link (see `Provider::has_direct_link`).
        Provider::OpenAi | Provider::Ultravox => SessionPayload::Ga(GaSession {
            kind: SessionKind::Realtime,
            model: spec.model.clone(),
            instructions: Some(spec.instructions.clone()),
            output_modalities: Some(vec![Modality::Audio]),
            audio: Some(GaAudio {
                input: Some(GaAudioInput {
                    format: Some(spec.audio_format),
                    transcription: spec.transcription_model.as_ref().map(|m| Transcription {
                        model: Some(m.clone()),
                        language: None,
                        prompt: None,
                    }),
                    turn_detection: Some(server_vad(&spec.turn_detection)),
                    noise_reduction: None,
                }),
                output: Some(GaAudioOutput {
                    format: Some(spec.audio_format),
                    voice: Some(spec.voice.clone()),
                    speed: None,
                }),
            }),
            tool_choice: tools
                .as_ref()
                .map(|_| ToolChoice::Mode(ToolChoiceMode::Auto)),
            tools,
            max_output_tokens: None,
        }),
        Provider::Xai => SessionPayload::Xai(XaiSession {
            instructions: Some(spec.instructions.clone()),
            voice: Some(spec.voice.clone()),
            // xAI has no semantic VAD: eagerness is OpenAI-only.
            turn_detection: Some(server_vad(&TurnDetection {
                eagerness: None,
                ..spec.turn_detection
            })),
            audio: Some(XaiAudio {
                input: Some(XaiAudioInput {
                    format: Some(spec.audio_format),
                }),
                output: Some(XaiAudioOutput {
                    format: Some(spec.audio_format),
                    speed: None,
                }),
            }),
            tools,
        }),
    };
    ClientEvent::SessionUpdate {
        event_id: None,
        session,
    }
}

/// Whether the provider implements `conversation.item.truncate` (xAI does not,
/// models.md §3: barge-in there only stops local playback).
pub fn supports_truncate(provider: Provider) -> bool {
    match provider {
        Provider::OpenAi => true,
        Provider::Xai | Provider::Ultravox => false,
    }
}

/// Builds `conversation.item.create` events replaying a conversation, in
/// order: user and system lines become `input_text` parts, assistant lines
/// `output_text` parts (GA accepts assistant text items; assistant *audio*
/// cannot be created by clients, models.md §1.5). Empty lines are skipped.
pub fn history_items(entries: &[(Role, String)]) -> Vec<ClientEvent> {
    entries
        .iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|(role, text)| {
            let part = match role {
                Role::Assistant => ContentPart::OutputText { text: text.clone() },
                Role::User | Role::System => ContentPart::InputText { text: text.clone() },
            };
            ClientEvent::ConversationItemCreate {
                event_id: None,
                previous_item_id: None,
                item: Item::Message {
                    id: None,
                    role: *role,
                    content: vec![part],
                    status: None,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: Provider) -> SessionSpec {
        SessionSpec {
            provider,
            model: Some("gpt-realtime".into()),
            instructions: "You answer calls for Acme Dental.".into(),
            voice: "marin".into(),
            tools: vec![FunctionTool {
                name: "takeMessage".into(),
                description: "Take a message for staff.".into(),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
            }],
            audio_format: AudioFormatSpec::PCMU,
            transcription_model: Some("gpt-4o-mini-transcribe".into()),
            turn_detection: TurnDetection::default(),
        }
    }

    #[test]
    fn openai_session_is_ga_shaped() {
        let v = serde_json::to_value(session_update(&spec(Provider::OpenAi))).unwrap();
        let s = &v["session"];
        assert_eq!(s["type"], "realtime");
        assert_eq!(s["audio"]["input"]["format"]["type"], "audio/pcmu");
        assert_eq!(
            s["audio"]["input"]["turn_detection"]["create_response"],
            true
        );
        assert_eq!(s["audio"]["output"]["voice"], "marin");
        assert_eq!(s["tool_choice"], "auto");
        assert!(s.get("voice").is_none() && s.get("modalities").is_none());
    }

    #[test]
    fn xai_session_has_top_level_voice_and_vad() {
        let v = serde_json::to_value(session_update(&spec(Provider::Xai))).unwrap();
        let s = &v["session"];
        assert!(s.get("type").is_none());
        assert_eq!(s["voice"], "marin");
        assert_eq!(s["turn_detection"]["type"], "server_vad");
        assert_eq!(s["audio"]["output"]["format"]["type"], "audio/pcmu");
        assert!(!supports_truncate(Provider::Xai));
    }

    #[test]
    fn history_uses_output_text_for_assistant() {
        let ev = history_items(&[
            (Role::User, "Hi".into()),
            (Role::Assistant, "Hello!".into()),
            (Role::User, "  ".into()),
        ]);
        assert_eq!(ev.len(), 2);
        let v = serde_json::to_value(&ev[1]).unwrap();
        assert_eq!(v["item"]["content"][0]["type"], "output_text");
        assert_eq!(v["item"]["role"], "assistant");
    }
}

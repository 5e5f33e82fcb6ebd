//! Provider-neutral description of a voice-model session ([`SessionSpec`]) and
//! the functions that turn it into wire events: the `session.update` in the
//! OpenAI GA shape or the xAI Grok Voice shape (docs/openai-realtime.md §Session,
//! §Turn detection; docs/xai.md §Session), and
//! the `conversation.item.create` events that replay a conversation into a
//! fresh session after a reconnect or a session roll-over.

use serde::{Deserialize, Serialize};

use crate::audio::format::AudioFormat;
use crate::model::api::ModelApi;
use crate::model::provider::Provider;
pub use crate::model::realtime::Role;
use crate::model::realtime::{
    AudioFormatSpec, ClientEvent, ContentPart, FunctionKind, GaAudio, GaAudioInput, GaAudioOutput,
    GaSession, Item, Modality, SessionKind, SessionPayload, Tool, ToolChoice, ToolChoiceMode,
    Transcription, TurnDetectionConfig, XaiAudio, XaiAudioInput, XaiAudioOutput, XaiSession,
    XaiTranscription,
};
use crate::model::settings::ModelConfig;

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

/// Server VAD tuning shared by both providers (docs/openai-realtime.md §Turn detection, docs/xai.md §Session).
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
    /// Words the caller is likely to say that a transcriber would miss (the
    /// business name, its services); sent as xAI `keyterms` (≤ 100 terms of
    /// ≤ 50 characters).
    pub keyterms: Vec<String>,
}

impl SessionSpec {
    /// The session for one call: model settings from `[model]`, the tenant's
    /// instructions, voice and tools, and the carrier leg's audio format (µ-law
    /// carriers get `audio/pcmu` both ways so payloads pass through untouched).
    /// An empty `voice` means `[model]`'s voice for this provider
    /// ([`ModelConfig::voice_for`]); the model is [`ModelConfig::model_for`]
    /// on Realtime, `model.live.model` on GPT-Live.
    pub fn for_call(
        provider: Provider,
        api: ModelApi,
        model: &ModelConfig,
        instructions: String,
        voice: String,
        tools: Vec<FunctionTool>,
        format: AudioFormat,
    ) -> SessionSpec {
        let voice = if voice.trim().is_empty() {
            model.voice_for(provider)
        } else {
            voice
        };
        let model_id = match api {
            ModelApi::Live => model.live.model.clone(),
            ModelApi::Realtime => model.model_for(provider),
        };
        let audio_format = match format {
            AudioFormat::Pcmu => AudioFormatSpec::PCMU,
            AudioFormat::Pcma => AudioFormatSpec::PCMA,
            AudioFormat::Pcm24k => AudioFormatSpec::PCM24K,
        };
        SessionSpec {
            provider,
            model: Some(model_id),
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
            keyterms: Vec::new(),
        }
    }
}

/// Most `keyterms` xAI accepts, and the longest term (characters).
const MAX_KEYTERMS: usize = 100;
const MAX_KEYTERM_CHARS: usize = 50;

/// The realtime URL a link dials: `base` with `?model=` added when it names
/// no model — how xAI selects the model (`wss://api.x.ai/v1/realtime?model=…`;
/// it has no `model` session field), and what OpenAI's URL carries too.
pub fn connect_url(base: &str, spec: &SessionSpec) -> String {
    let Some(model) = spec.model.as_deref().filter(|m| !m.is_empty()) else {
        return base.to_string();
    };
    match url::Url::parse(base) {
        Ok(mut url) => {
            if url
                .query_pairs()
                .any(|(k, _)| k == "model" || k == "agent_id")
            {
                return base.to_string();
            }
            url.query_pairs_mut().append_pair("model", model);
            url.to_string()
        }
        Err(_) => base.to_string(),
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

/// xAI's documented `turn_detection`: `type`, `threshold` (0.1–0.9),
/// `prefix_padding_ms`, `silence_duration_ms` — no `create_response` /
/// `interrupt_response` (docs.x.ai "Voice Agent API", session parameters).
fn xai_vad(td: &TurnDetection) -> TurnDetectionConfig {
    TurnDetectionConfig::ServerVad {
        threshold: Some(td.threshold.clamp(0.1, 0.9)),
        prefix_padding_ms: Some(td.prefix_padding_ms),
        silence_duration_ms: Some(td.silence_duration_ms),
        create_response: None,
        interrupt_response: None,
        idle_timeout_ms: None,
    }
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
/// - xAI: no `type` and no `model` (the model is in the URL, [`connect_url`]);
///   top-level `voice` and `turn_detection` (documented fields only); formats
///   under `audio.input/.output.format`; input transcription biased with the
///   spec's `keyterms` (`audio.input.transcription.keyterms`; no transcription
///   `model`, which would switch xAI to another event stream).
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
            turn_detection: Some(xai_vad(&spec.turn_detection)),
            audio: Some(XaiAudio {
                input: Some(XaiAudioInput {
                    format: Some(spec.audio_format),
                    transcription: Some(XaiTranscription {
                        language_hint: None,
                        keyterms: xai_keyterms(&spec.keyterms),
                    }),
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

/// `terms` trimmed, de-duplicated and cut to xAI's limits; `None` when empty.
fn xai_keyterms(terms: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for term in terms {
        let term = term.trim();
        if term.is_empty() || term.chars().count() > MAX_KEYTERM_CHARS {
            continue;
        }
        if !out.iter().any(|t| t.eq_ignore_ascii_case(term)) {
            out.push(term.to_string());
        }
        if out.len() == MAX_KEYTERMS {
            break;
        }
    }
    Some(out).filter(|o| !o.is_empty())
}

/// Whether the provider implements `conversation.item.truncate`. xAI lists no
/// truncate among its client events (docs.x.ai "Voice Agent API"; its own
/// client models, xai-org/xai-cookbook `VoiceClientEvent.kt`, have none): a
/// barge-in there stops local playback and cancels the response in progress.
pub fn supports_truncate(provider: Provider) -> bool {
    match provider {
        Provider::OpenAi => true,
        Provider::Xai | Provider::Ultravox => false,
    }
}

/// One entry of a conversation as it is replayed into a fresh session after
/// a restart or roll-over, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryItem {
    /// A line said by the caller (`user`), the receptionist (`assistant`, cut
    /// to what the caller heard) or injected as `system`.
    Message { role: Role, text: String },
    /// A tool call the model made.
    FunctionCall {
        call_id: String,
        name: String,
        /// JSON-encoded arguments as the model sent them.
        arguments: String,
    },
    /// The answer to [`HistoryItem::FunctionCall`] with the same `call_id`.
    FunctionOutput { call_id: String, output: String },
}

/// Builds `conversation.item.create` events replaying a conversation, in
/// order: user and system lines become `input_text` parts, assistant lines
/// `output_text` parts (clients cannot create assistant *audio*; GA accepts
/// assistant text items, `RealtimeConversationItemAssistantMessage`), tool
/// calls `function_call` items and their results `function_call_output`
/// items. Empty lines are skipped. OpenAI and xAI take the same item shapes.
pub fn history_items(entries: &[HistoryItem]) -> Vec<ClientEvent> {
    entries
        .iter()
        .filter_map(|entry| {
            let item = match entry {
                HistoryItem::Message { text, .. } if text.trim().is_empty() => return None,
                HistoryItem::Message { role, text } => {
                    let part = match role {
                        Role::Assistant => ContentPart::OutputText { text: text.clone() },
                        Role::User | Role::System => ContentPart::InputText { text: text.clone() },
                    };
                    Item::Message {
                        id: None,
                        role: *role,
                        content: vec![part],
                        status: None,
                    }
                }
                HistoryItem::FunctionCall {
                    call_id,
                    name,
                    arguments,
                } => Item::FunctionCall {
                    id: None,
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                    status: None,
                },
                HistoryItem::FunctionOutput { call_id, output } => Item::FunctionCallOutput {
                    id: None,
                    call_id: call_id.clone(),
                    output: output.clone(),
                },
            };
            Some(ClientEvent::ConversationItemCreate {
                event_id: None,
                previous_item_id: None,
                item,
            })
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
            keyterms: vec!["Acme Dental".into(), "cleaning".into()],
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
    fn xai_session_has_top_level_voice_and_documented_vad_only() {
        let mut spec = spec(Provider::Xai);
        spec.voice = "eve".into();
        spec.model = Some("grok-voice-think-fast-1.0".into());
        let v = serde_json::to_value(session_update(&spec)).unwrap();
        let s = &v["session"];
        assert!(s.get("type").is_none() && s.get("model").is_none());
        assert_eq!(s["voice"], "eve");
        let td = s["turn_detection"].as_object().unwrap();
        let mut keys: Vec<&str> = td.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "prefix_padding_ms",
                "silence_duration_ms",
                "threshold",
                "type"
            ]
        );
        assert_eq!(s["audio"]["output"]["format"]["type"], "audio/pcmu");
        assert_eq!(
            s["audio"]["input"]["transcription"]["keyterms"],
            serde_json::json!(["Acme Dental", "cleaning"])
        );
        assert!(!supports_truncate(Provider::Xai));
    }

    #[test]
    fn provider_defaults_and_voice_checks() {
        let model = ModelConfig {
            model: String::new(),
            ..ModelConfig::default()
        };
        let xai = SessionSpec::for_call(
            Provider::Xai,
            ModelApi::Realtime,
            &model,
            "hi".into(),
            String::new(),
            Vec::new(),
            AudioFormat::Pcmu,
        );
        assert_eq!(xai.voice, "eve");
        assert_eq!(xai.model.as_deref(), Some("grok-voice-think-fast-1.0"));
        assert!(Provider::Xai.check_voice("marin").is_err());
        assert!(Provider::OpenAi.check_voice("Eve").is_err());
        assert!(Provider::Xai.check_voice("my-custom-voice").is_ok());
        assert!(Provider::OpenAi.check_voice("cedar").is_ok());
    }

    #[test]
    fn connect_url_names_the_model_once() {
        let mut s = spec(Provider::Xai);
        s.model = Some("grok-voice-think-fast-1.0".into());
        assert_eq!(
            connect_url("wss://api.x.ai/v1/realtime", &s),
            "wss://api.x.ai/v1/realtime?model=grok-voice-think-fast-1.0"
        );
        let given = "wss://api.openai.com/v1/realtime?model=gpt-realtime";
        assert_eq!(connect_url(given, &s), given);
    }

    #[test]
    fn history_replays_lines_tool_calls_and_outputs_in_order() {
        let ev = history_items(&[
            HistoryItem::Message {
                role: Role::User,
                text: "Book me in".into(),
            },
            HistoryItem::FunctionCall {
                call_id: "c1".into(),
                name: "createBooking".into(),
                arguments: "{}".into(),
            },
            HistoryItem::FunctionOutput {
                call_id: "c1".into(),
                output: "{\"ok\":true}".into(),
            },
            HistoryItem::Message {
                role: Role::Assistant,
                text: "Done!".into(),
            },
            HistoryItem::Message {
                role: Role::User,
                text: "  ".into(),
            },
        ]);
        let types: Vec<String> = ev
            .iter()
            .map(|e| {
                serde_json::to_value(e).unwrap()["item"]["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            types,
            [
                "message",
                "function_call",
                "function_call_output",
                "message"
            ]
        );
        let v = serde_json::to_value(&ev[3]).unwrap();
        assert_eq!(v["item"]["content"][0]["type"], "output_text");
    }
}

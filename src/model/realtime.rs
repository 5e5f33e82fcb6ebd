//! Serde types for the OpenAI Realtime API, GA interface (model `gpt-realtime`,
//! 2025-08-28 onward), in both directions: [`ClientEvent`] is what a client
//! sends and [`ServerEvent`] what a server answers. The model link serializes
//! client events and parses server events; the built-in simulator does the
//! reverse, so every type derives both `Serialize` and `Deserialize`. Event and
//! field names follow openai/openai-openapi `openapi.yaml` (components
//! `RealtimeClientEvent*` / `RealtimeServerEvent*`, restated in
//! docs/openai-realtime.md); the xAI Grok Voice dialect differs
//! only in its session object ([`XaiSession`]), in `response.text.*` event
//! names and in its `ping` keep-alive (docs/xai.md). Only the GA shape is
//! spoken: there are no beta fields (`modalities`, `input_audio_format`, …).
//! Optional client fields are skipped when `None`, never sent as `null`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Errors raised while encoding or decoding realtime events.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// A frame was not JSON, or not a known/valid event of the expected
    /// direction (for server frames an unknown `type` is *not* an error, see
    /// [`ServerEvent::Unknown`]).
    #[error("malformed realtime event: {0}")]
    Parse(#[source] serde_json::Error),
    /// An event could not be serialized (e.g. [`Item::Other`], which only
    /// exists for parsing).
    #[error("cannot encode realtime event: {0}")]
    Encode(#[source] serde_json::Error),
}

// ---------------------------------------------------------------------------
// Shared value types
// ---------------------------------------------------------------------------

/// Audio encoding named by `format.type` (docs/openai-realtime.md §Audio formats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AudioEncoding {
    /// `audio/pcm`: 16-bit signed little-endian mono PCM (OpenAI: 24 000 Hz only).
    #[serde(rename = "audio/pcm")]
    Pcm,
    /// `audio/pcmu`: G.711 µ-law at 8 000 Hz.
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    /// `audio/pcma`: G.711 A-law at 8 000 Hz.
    #[serde(rename = "audio/pcma")]
    Pcma,
}

impl AudioEncoding {
    /// The wire string, e.g. `"audio/pcmu"`.
    pub fn wire_name(self) -> &'static str {
        match self {
            AudioEncoding::Pcm => "audio/pcm",
            AudioEncoding::Pcmu => "audio/pcmu",
            AudioEncoding::Pcma => "audio/pcma",
        }
    }
}

/// An audio format object `{type, rate?}` as used in `audio.input.format` and
/// `audio.output.format`. `rate` (Hz) is only meaningful for `audio/pcm`
/// (OpenAI accepts 24 000 only; xAI also 8 000–48 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFormatSpec {
    /// The encoding (`type` on the wire).
    #[serde(rename = "type")]
    pub encoding: AudioEncoding,
    /// Sample rate in Hz; only for `audio/pcm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
}

impl AudioFormatSpec {
    /// `{"type":"audio/pcmu"}` — G.711 µ-law, 8 kHz (telephony pass-through).
    pub const PCMU: AudioFormatSpec = AudioFormatSpec {
        encoding: AudioEncoding::Pcmu,
        rate: None,
    };
    /// `{"type":"audio/pcma"}` — G.711 A-law, 8 kHz.
    pub const PCMA: AudioFormatSpec = AudioFormatSpec {
        encoding: AudioEncoding::Pcma,
        rate: None,
    };
    /// `{"type":"audio/pcm","rate":24000}` — PCM16 LE mono at 24 kHz.
    pub const PCM24K: AudioFormatSpec = AudioFormatSpec {
        encoding: AudioEncoding::Pcm,
        rate: Some(24_000),
    };

    /// Sample rate in Hz: 8 000 for G.711, `rate` (default 24 000) for PCM.
    pub fn sample_rate(&self) -> u32 {
        match self.encoding {
            AudioEncoding::Pcmu | AudioEncoding::Pcma => 8_000,
            AudioEncoding::Pcm => self.rate.unwrap_or(24_000),
        }
    }

    /// Encoded bytes per millisecond of mono audio (8 for G.711, 48 for
    /// 24 kHz PCM16).
    pub fn bytes_per_ms(&self) -> u32 {
        match self.encoding {
            AudioEncoding::Pcmu | AudioEncoding::Pcma => 8,
            AudioEncoding::Pcm => self.sample_rate() * 2 / 1000,
        }
    }
}

/// Response modality (`output_modalities` entries). GA allows exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// `"audio"` (always accompanied by a transcript).
    Audio,
    /// `"text"`.
    Text,
}

/// Conversation role of a message item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `"system"`: instructions injected as an item.
    System,
    /// `"user"`: the caller.
    User,
    /// `"assistant"`: the model.
    Assistant,
}

impl Role {
    /// The wire spelling, also stored in `transcript_entries.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// Item lifecycle status set by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// `"in_progress"`.
    InProgress,
    /// `"completed"`.
    Completed,
    /// `"incomplete"` (e.g. interrupted).
    Incomplete,
}

/// Discriminator for function tools (`"type":"function"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    /// `"function"`.
    Function,
}

/// A function tool in the flat Realtime shape `{type:"function", name,
/// description, parameters}` (not nested under `function`, docs/openai-realtime.md §Session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: FunctionKind,
    /// Function name the model calls.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A `tool_choice` mode string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// `"auto"`: the model decides.
    Auto,
    /// `"none"`: no tool calls.
    None,
    /// `"required"`: some tool must be called.
    Required,
}

/// `tool_choice`: a mode or `{type:"function", name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `"auto"` / `"none"` / `"required"`.
    Mode(ToolChoiceMode),
    /// Force one function.
    Function {
        /// Always `"function"`.
        #[serde(rename = "type")]
        kind: FunctionKind,
        /// The function to call.
        name: String,
    },
}

/// The literal `"inf"` of `max_output_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Infinite {
    /// `"inf"`.
    #[serde(rename = "inf")]
    Inf,
}

/// `max_output_tokens`: an integer 1–4096 or `"inf"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxOutputTokens {
    /// A token limit per response (tool calls included).
    Tokens(u32),
    /// No limit (`"inf"`, the default).
    Unlimited(Infinite),
}

// ---------------------------------------------------------------------------
// Session objects
// ---------------------------------------------------------------------------

/// GA session discriminator; this crate only speaks `"realtime"` sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// `"realtime"`: speech-to-speech session.
    Realtime,
}

/// Input audio transcription settings (`audio.input.transcription`): runs
/// asynchronously on a separate ASR model (e.g. `gpt-4o-mini-transcribe`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcription {
    /// ASR model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// ISO-639-1 language hint, e.g. `"en"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Free-text prompt for the transcriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// Turn detection (`audio.input.turn_detection` in GA, top-level
/// `turn_detection` on xAI), docs/openai-realtime.md §Turn detection, docs/xai.md §Session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnDetectionConfig {
    /// Energy/voice-activity detection on the server.
    ServerVad {
        /// 0.0–1.0; higher needs louder speech (OpenAI default 0.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threshold: Option<f32>,
        /// Audio kept before detected speech, in ms (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix_padding_ms: Option<u32>,
        /// Silence that ends a turn, in ms (default 500 per SDK docs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        silence_duration_ms: Option<u32>,
        /// Start a response automatically at end of speech (default true).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        create_response: Option<bool>,
        /// Cancel an in-flight response when speech starts (default true).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interrupt_response: Option<bool>,
        /// Post-playback silence (5 000–30 000 ms) that triggers a response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idle_timeout_ms: Option<u32>,
    },
    /// Model-based end-of-turn detection (OpenAI only).
    SemanticVad {
        /// `low` / `medium` / `high` / `auto`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eagerness: Option<String>,
        /// As for server VAD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        create_response: Option<bool>,
        /// As for server VAD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interrupt_response: Option<bool>,
    },
}

impl TurnDetectionConfig {
    /// Whether end of speech starts a response (default true).
    pub fn create_response(&self) -> bool {
        match self {
            TurnDetectionConfig::ServerVad {
                create_response, ..
            }
            | TurnDetectionConfig::SemanticVad {
                create_response, ..
            } => create_response.unwrap_or(true),
        }
    }

    /// Whether speech start cancels an in-flight response (default true).
    pub fn interrupt_response(&self) -> bool {
        match self {
            TurnDetectionConfig::ServerVad {
                interrupt_response, ..
            }
            | TurnDetectionConfig::SemanticVad {
                interrupt_response, ..
            } => interrupt_response.unwrap_or(true),
        }
    }
}

/// Noise reduction profile (`audio.input.noise_reduction.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseReductionType {
    /// Headsets, close microphones.
    NearField,
    /// Speakerphones, laptops, far microphones.
    FarField,
}

/// `audio.input.noise_reduction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseReduction {
    /// The profile.
    #[serde(rename = "type")]
    pub kind: NoiseReductionType,
}

/// GA `session.audio.input`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GaAudioInput {
    /// Format of `input_audio_buffer.append` payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormatSpec>,
    /// Input transcription; `None` = off/unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<Transcription>,
    /// Turn detection; `None` = unchanged (a server's `null` also parses as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_detection: Option<TurnDetectionConfig>,
    /// Noise reduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_reduction: Option<NoiseReduction>,
}

/// GA `session.audio.output`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GaAudioOutput {
    /// Format of `response.output_audio.delta` payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormatSpec>,
    /// Voice name (`marin`, `cedar`, `alloy`, …); fixed once audio was produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// Playback speed 0.25–1.5 (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

/// GA `session.audio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GaAudio {
    /// Caller → model audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<GaAudioInput>,
    /// Model → caller audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<GaAudioOutput>,
}

/// The GA realtime session object (`RealtimeSessionCreateRequestGA`,
/// docs/openai-realtime.md §Session). Only present fields change the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaSession {
    /// Always `"realtime"`; required in GA (its absence marks an xAI session).
    #[serde(rename = "type")]
    pub kind: SessionKind,
    /// Model id; cannot change after connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `["audio"]` or `["text"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<Modality>>,
    /// Audio formats, transcription, VAD, voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<GaAudio>,
    /// Function tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Output token cap per response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<MaxOutputTokens>,
}

/// xAI `session.audio.input.transcription` (docs.x.ai "Voice Agent API";
/// pipecat `services/xai/realtime/events.py` `InputAudioTranscription`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XaiTranscription {
    /// BCP-47 language to bias recognition towards (`en`, `es-MX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_hint: Option<String>,
    /// Proper nouns and product names to bias towards (≤ 100 terms, ≤ 50 chars each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyterms: Option<Vec<String>>,
}

/// xAI `session.audio.input`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XaiAudioInput {
    /// Input format; PCM at 8–48 kHz, or G.711 at 8 kHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormatSpec>,
    /// Input transcription settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<XaiTranscription>,
}

/// xAI `session.audio.output`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XaiAudioOutput {
    /// Output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormatSpec>,
    /// Playback speed 0.7–1.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

/// xAI `session.audio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XaiAudio {
    /// Caller → model audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<XaiAudioInput>,
    /// Model → caller audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<XaiAudioOutput>,
}

/// The xAI Grok Voice session object (docs/xai.md §Session): no `type`, `voice` and
/// `turn_detection` at top level, audio formats under `audio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XaiSession {
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Voice (`eve`, `ara`, `rex`, `sal`, `leo`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// Server VAD (xAI default threshold 0.85, prefix 333 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_detection: Option<TurnDetectionConfig>,
    /// Audio formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<XaiAudio>,
    /// Function tools (flat shape, as OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
}

/// The `session` of a `session.update`: GA (`type:"realtime"` present) or xAI
/// (no `type`). Parsing tries GA first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SessionPayload {
    /// OpenAI GA shape.
    Ga(GaSession),
    /// xAI Grok Voice shape.
    Xai(XaiSession),
}

// ---------------------------------------------------------------------------
// Conversation items
// ---------------------------------------------------------------------------

/// One content part of a message item (docs/openai-realtime.md §Conversation items). Assistant parts also
/// accept the SDK/beta names `text` and `audio` when parsing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// User/system text.
    InputText {
        /// The text.
        text: String,
    },
    /// User audio; the server omits `audio` in most events and may send
    /// `transcript: null` before transcription finishes.
    InputAudio {
        /// Base64 audio (only in `conversation.item.retrieved`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        /// Transcript, once known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// Assistant text (also valid in history replay, GA).
    #[serde(alias = "text")]
    OutputText {
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// Assistant audio with its transcript (server-created only).
    #[serde(alias = "audio")]
    OutputAudio {
        /// Base64 audio (only in `conversation.item.retrieved`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        /// Transcript of the audio.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// Any other part type (e.g. `input_image`); parse-only.
    #[serde(other, skip_serializing)]
    Other,
}

/// A conversation item (`RealtimeConversationItem`, docs/openai-realtime.md §Conversation items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A message from `system`, `user` or `assistant`.
    Message {
        /// Item id (`item_…`); server-assigned unless the client picks one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Speaker.
        role: Role,
        /// Content parts.
        content: Vec<ContentPart>,
        /// Lifecycle status (server-set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ItemStatus>,
    },
    /// A tool call emitted by the model.
    FunctionCall {
        /// Item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Correlates the call with its output.
        call_id: String,
        /// Tool name.
        name: String,
        /// JSON-encoded arguments (may be invalid JSON; validate).
        #[serde(default)]
        arguments: String,
        /// Lifecycle status (server-set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ItemStatus>,
    },
    /// The client's answer to a tool call.
    FunctionCallOutput {
        /// Item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The `call_id` of the [`Item::FunctionCall`].
        call_id: String,
        /// Result string (JSON-encode objects).
        output: String,
    },
    /// Any other item type (MCP items, …); parse-only.
    #[serde(other, skip_serializing)]
    Other,
}

impl Item {
    /// The item id, when present.
    pub fn id(&self) -> Option<&str> {
        match self {
            Item::Message { id, .. }
            | Item::FunctionCall { id, .. }
            | Item::FunctionCallOutput { id, .. } => id.as_deref(),
            Item::Other => None,
        }
    }
}

/// Per-response overrides of `response.create` (`RealtimeResponseCreateParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseParams {
    /// Instructions for this response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `["audio"]` or `["text"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<Modality>>,
    /// Tools for this response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Tool choice for this response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Output token cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<MaxOutputTokens>,
    /// Up to 16 string pairs echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// `"auto"` (default conversation) or `"none"` (out of band).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// Context items used instead of the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Vec<Item>>,
}

// ---------------------------------------------------------------------------
// Client events
// ---------------------------------------------------------------------------

/// A client → server event (GA; docs/openai-realtime.md §Client events). `event_id` is an optional
/// client-chosen id echoed in `error.event_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    /// Change session configuration; answered by `session.updated`.
    #[serde(rename = "session.update")]
    SessionUpdate {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// GA or xAI session object.
        session: SessionPayload,
    },
    /// Append base64 audio (≤ 15 MiB) in the session's input format; no reply.
    #[serde(rename = "input_audio_buffer.append")]
    InputAudioBufferAppend {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Base64 audio.
        audio: String,
    },
    /// Commit the input buffer as a user item (manual turns).
    #[serde(rename = "input_audio_buffer.commit")]
    InputAudioBufferCommit {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// Discard the input buffer.
    #[serde(rename = "input_audio_buffer.clear")]
    InputAudioBufferClear {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// Add an item (history replay, tool output); answered by
    /// `conversation.item.added` (+ `.done`).
    #[serde(rename = "conversation.item.create")]
    ConversationItemCreate {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Insert after this item (default: append).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_item_id: Option<String>,
        /// The item.
        item: Item,
    },
    /// Cut an assistant audio item at what the caller heard (OpenAI only).
    #[serde(rename = "conversation.item.truncate")]
    ConversationItemTruncate {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Assistant item id.
        item_id: String,
        /// Content part index (0).
        content_index: u32,
        /// Heard audio in ms; must not exceed the audio sent for the item.
        audio_end_ms: u32,
    },
    /// Delete an item.
    #[serde(rename = "conversation.item.delete")]
    ConversationItemDelete {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Item id.
        item_id: String,
    },
    /// Fetch an item including audio (OpenAI only).
    #[serde(rename = "conversation.item.retrieve")]
    ConversationItemRetrieve {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Item id.
        item_id: String,
    },
    /// Ask for a response (after tool outputs, or with VAD off).
    #[serde(rename = "response.create")]
    ResponseCreate {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Per-response overrides.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<ResponseParams>,
    },
    /// Cancel the in-flight response.
    #[serde(rename = "response.cancel")]
    ResponseCancel {
        /// Client event id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Specific response to cancel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
    },
}

impl ClientEvent {
    /// `conversation.item.truncate` of content 0 at `audio_end_ms` (integer ms,
    /// never more than the audio received for the item).
    pub fn truncate(item_id: String, audio_end_ms: u32) -> Self {
        ClientEvent::ConversationItemTruncate {
            event_id: None,
            item_id,
            content_index: 0,
            audio_end_ms,
        }
    }

    /// `response.cancel` of the active response.
    pub fn response_cancel() -> Self {
        ClientEvent::ResponseCancel {
            event_id: None,
            response_id: None,
        }
    }

    /// `response.create` with the session's settings.
    pub fn response_create() -> Self {
        ClientEvent::ResponseCreate {
            event_id: None,
            response: None,
        }
    }

    /// `conversation.item.create` of a `function_call_output` (output is JSON text).
    pub fn function_call_output(call_id: String, output: String) -> Self {
        ClientEvent::ConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item: Item::FunctionCallOutput {
                id: None,
                call_id,
                output,
            },
        }
    }

    /// The wire `type` of this event, e.g. `"session.update"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientEvent::SessionUpdate { .. } => "session.update",
            ClientEvent::InputAudioBufferAppend { .. } => "input_audio_buffer.append",
            ClientEvent::InputAudioBufferCommit { .. } => "input_audio_buffer.commit",
            ClientEvent::InputAudioBufferClear { .. } => "input_audio_buffer.clear",
            ClientEvent::ConversationItemCreate { .. } => "conversation.item.create",
            ClientEvent::ConversationItemTruncate { .. } => "conversation.item.truncate",
            ClientEvent::ConversationItemDelete { .. } => "conversation.item.delete",
            ClientEvent::ConversationItemRetrieve { .. } => "conversation.item.retrieve",
            ClientEvent::ResponseCreate { .. } => "response.create",
            ClientEvent::ResponseCancel { .. } => "response.cancel",
        }
    }

    /// The client `event_id`, if set.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            ClientEvent::SessionUpdate { event_id, .. }
            | ClientEvent::InputAudioBufferAppend { event_id, .. }
            | ClientEvent::InputAudioBufferCommit { event_id }
            | ClientEvent::InputAudioBufferClear { event_id }
            | ClientEvent::ConversationItemCreate { event_id, .. }
            | ClientEvent::ConversationItemTruncate { event_id, .. }
            | ClientEvent::ConversationItemDelete { event_id, .. }
            | ClientEvent::ConversationItemRetrieve { event_id, .. }
            | ClientEvent::ResponseCreate { event_id, .. }
            | ClientEvent::ResponseCancel { event_id, .. } => event_id.as_deref(),
        }
    }

    /// Serializes the event as one JSON text frame.
    ///
    /// # Errors
    /// [`RealtimeError::Encode`] if the event holds a parse-only variant
    /// ([`Item::Other`], [`ContentPart::Other`]).
    pub fn to_json(&self) -> Result<String, RealtimeError> {
        serde_json::to_string(self).map_err(RealtimeError::Encode)
    }
}

// ---------------------------------------------------------------------------
// Server events
// ---------------------------------------------------------------------------

/// The `error` object of an `error` event (OpenAI: `RealtimeServerEventError`,
/// `{type, code, message, param, event_id}`). Every field may be absent: xAI's
/// own client models declare none of them as required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `server_error`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Machine code, e.g. `invalid_event`, `response_cancel_not_active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Offending parameter path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// `event_id` of the client event that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// The `error` field of an `error` event: OpenAI sends an object; xAI's
/// client models (xai-org/xai-cookbook `VoiceServerEvent.kt`, `Error`) also
/// accept a plain string beside top-level `code` and `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorPayload {
    /// `{type?, code?, message, …}`.
    Detail(ErrorDetail),
    /// A bare message.
    Text(String),
}

/// Final or current state of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// Still generating (`response.created`).
    #[default]
    InProgress,
    /// Finished normally.
    Completed,
    /// Cancelled by VAD barge-in or `response.cancel`.
    Cancelled,
    /// Failed (see `status_details.error`).
    Failed,
    /// Stopped early (token limit, content filter).
    Incomplete,
    /// A status this crate does not know (parse-only).
    #[serde(other)]
    Unknown,
}

impl ResponseStatus {
    /// The wire spelling (`completed`, `cancelled`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::InProgress => "in_progress",
            ResponseStatus::Completed => "completed",
            ResponseStatus::Cancelled => "cancelled",
            ResponseStatus::Failed => "failed",
            ResponseStatus::Incomplete => "incomplete",
            ResponseStatus::Unknown => "unknown",
        }
    }
}

/// `response.status_details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// Mirrors the status (`cancelled`, `failed`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `turn_detected`, `client_cancelled`, `max_output_tokens`, `content_filter`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `{type, code}` on failure.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// The response object of `response.created` / `response.done` (OpenAI
/// `RealtimeResponse`). Nulls real servers send (`status_details`, `usage`,
/// `metadata`) parse as `None`; xAI may omit the whole object or send empty
/// usage, so every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseInfo {
    /// `resp_…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"realtime.response"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: ResponseStatus,
    /// Why it ended that way.
    #[serde(default)]
    pub status_details: Option<StatusDetails>,
    /// Output items (no audio bytes).
    #[serde(default, deserialize_with = "lenient_items")]
    pub output: Vec<Item>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<serde_json::Value>,
    /// Echoed `metadata`.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// The `part` of `response.content_part.added/.done`. The schema names the
/// type `audio`/`text`, observed GA traffic `output_audio`/`output_text`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsePart {
    /// `audio`, `text`, `output_audio` or `output_text`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Text so far (text parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Transcript so far (audio parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// One entry of `rate_limits.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// `requests` or `tokens`.
    #[serde(default)]
    pub name: String,
    /// Limit per window.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Remaining in the window.
    #[serde(default)]
    pub remaining: Option<u64>,
    /// Seconds until reset.
    #[serde(default)]
    pub reset_seconds: Option<f64>,
}

/// An item as the server reports it; a shape this crate does not model (an
/// unknown role, a missing field) becomes [`Item::Other`] instead of failing
/// the whole event.
fn lenient_item<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(Item::deserialize(value).unwrap_or(Item::Other))
}

/// [`lenient_item`] for a list (`response.output`); `null` is an empty list.
fn lenient_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Item>, D::Error> {
    let values = Option::<Vec<serde_json::Value>>::deserialize(d)?.unwrap_or_default();
    Ok(values
        .into_iter()
        .map(|v| Item::deserialize(v).unwrap_or(Item::Other))
        .collect())
}

/// A server → client event: OpenAI GA (`RealtimeServerEvent*` in
/// openai/openai-openapi) and the xAI Grok Voice dialect (`response.text.*`
/// names, `ping`, events without indices). Parsed by what a call needs: only
/// the fields switchboard acts on are required (the audio `delta`), every
/// other field may be missing, unknown fields are ignored, and unknown `type`s
/// parse as [`ServerEvent::Unknown`] — a provider that leaves out a field we
/// do not use never loses an event (xAI's own client models,
/// xai-org/xai-cookbook `VoiceServerEvent.kt`, declare every field optional).
/// The server `event_id` is not kept; write it with [`server_event_json`].
/// The audio `delta` (and its ids) borrow from the frame text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent<'a> {
    /// A (usually non-fatal) error. OpenAI: `error` object; xAI may send
    /// `error` as a string with top-level `code`/`message`.
    #[serde(rename = "error")]
    Error {
        /// Details (object or text).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorPayload>,
        /// Top-level code (xAI).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// Top-level message (xAI).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// First event after connect; `session` holds the defaults.
    #[serde(rename = "session.created")]
    SessionCreated {
        /// The session object as the server reports it.
        #[serde(default)]
        session: serde_json::Value,
    },
    /// Effective configuration after `session.update`.
    #[serde(rename = "session.updated")]
    SessionUpdated {
        /// The session object as the server reports it.
        #[serde(default)]
        session: serde_json::Value,
    },
    /// Default conversation created (xAI sends it first).
    #[serde(rename = "conversation.created")]
    ConversationCreated {
        /// `{id, object}`.
        #[serde(default)]
        conversation: serde_json::Value,
    },
    /// Item inserted into the conversation.
    #[serde(rename = "conversation.item.added")]
    ConversationItemAdded {
        /// Preceding item (xAI: always null).
        #[serde(default)]
        previous_item_id: Option<String>,
        /// The item (audio omitted).
        #[serde(default = "other_item", deserialize_with = "lenient_item")]
        item: Item,
    },
    /// Beta-era name of `.added`, still in the GA union; handle alike.
    #[serde(rename = "conversation.item.created")]
    ConversationItemCreated {
        /// Preceding item.
        #[serde(default)]
        previous_item_id: Option<String>,
        /// The item.
        #[serde(default = "other_item", deserialize_with = "lenient_item")]
        item: Item,
    },
    /// Item finalized.
    #[serde(rename = "conversation.item.done")]
    ConversationItemDone {
        /// Preceding item.
        #[serde(default)]
        previous_item_id: Option<String>,
        /// The item (audio omitted).
        #[serde(default = "other_item", deserialize_with = "lenient_item")]
        item: Item,
    },
    /// Answer to `conversation.item.retrieve`.
    #[serde(rename = "conversation.item.retrieved")]
    ConversationItemRetrieved {
        /// The item including audio.
        #[serde(default = "other_item", deserialize_with = "lenient_item")]
        item: Item,
    },
    /// Answer to `conversation.item.truncate`.
    #[serde(rename = "conversation.item.truncated")]
    ConversationItemTruncated {
        /// Assistant item id.
        #[serde(default)]
        item_id: String,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Where the audio was cut, in ms.
        #[serde(default)]
        audio_end_ms: u32,
    },
    /// Answer to `conversation.item.delete`.
    #[serde(rename = "conversation.item.deleted")]
    ConversationItemDeleted {
        /// Deleted item (xAI may send an empty string).
        #[serde(default)]
        item_id: String,
    },
    /// Partial input transcript.
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    InputTranscriptionDelta {
        /// User item id.
        #[serde(default)]
        item_id: String,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Text fragment.
        #[serde(default)]
        delta: String,
    },
    /// Final input transcript (may arrive before or after the response; xAI
    /// may send it repeatedly for one item, each replacing the last).
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputTranscriptionCompleted {
        /// User item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Whole transcript.
        #[serde(default)]
        transcript: String,
        /// Token or duration usage.
        #[serde(default)]
        usage: Option<serde_json::Value>,
    },
    /// Input transcription failed.
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputTranscriptionFailed {
        /// User item id.
        #[serde(default)]
        item_id: String,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// What went wrong.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorPayload>,
    },
    /// VAD heard speech start.
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        /// Offset in all audio appended this session, in ms (prefix included);
        /// xAI may omit it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio_start_ms: Option<u32>,
        /// Id the user item will get.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
    },
    /// VAD heard speech end.
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        /// Offset in all audio appended this session, in ms; xAI may omit it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio_end_ms: Option<u32>,
        /// User item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
    },
    /// Input buffer committed as a user item.
    #[serde(rename = "input_audio_buffer.committed")]
    InputAudioBufferCommitted {
        /// Preceding item.
        #[serde(default)]
        previous_item_id: Option<String>,
        /// New user item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
    },
    /// Input buffer cleared.
    #[serde(rename = "input_audio_buffer.cleared")]
    InputAudioBufferCleared,
    /// A response started (`status: in_progress`).
    #[serde(rename = "response.created")]
    ResponseCreated {
        /// The response.
        #[serde(default)]
        response: ResponseInfo,
    },
    /// Output item started.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Position in the response output.
        #[serde(default)]
        output_index: u32,
        /// The item (in progress).
        #[serde(default = "other_item", deserialize_with = "lenient_item")]
        item: Item,
    },
    /// Output item finished.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Position in the response output.
        #[serde(default)]
        output_index: u32,
        /// The final item.
        #[serde(default = "other_item", deserialize_with = "lenient_item")]
        item: Item,
    },
    /// Content part started.
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Item id.
        #[serde(default)]
        item_id: String,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// The part.
        #[serde(default)]
        part: ResponsePart,
    },
    /// Content part finished.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Item id.
        #[serde(default)]
        item_id: String,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// The part.
        #[serde(default)]
        part: ResponsePart,
    },
    /// A chunk of assistant audio in the output format (hot path: borrowed).
    /// Only `delta` is required; xAI's client model declares just
    /// `response_id`, `item_id` and `delta`, all optional.
    #[serde(rename = "response.output_audio.delta")]
    OutputAudioDelta {
        /// Response id.
        #[serde(
            borrow,
            default,
            deserialize_with = "borrowed_opt",
            skip_serializing_if = "Option::is_none"
        )]
        response_id: Option<Cow<'a, str>>,
        /// Assistant item id.
        #[serde(
            borrow,
            default,
            deserialize_with = "borrowed_opt",
            skip_serializing_if = "Option::is_none"
        )]
        item_id: Option<Cow<'a, str>>,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Base64 audio.
        #[serde(borrow)]
        delta: Cow<'a, str>,
    },
    /// No more audio for this part.
    #[serde(rename = "response.output_audio.done")]
    OutputAudioDone {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Item id.
        #[serde(default)]
        item_id: String,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
    },
    /// Transcript fragment of the assistant audio.
    #[serde(rename = "response.output_audio_transcript.delta")]
    OutputAudioTranscriptDelta {
        /// Response id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
        /// Item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Text fragment.
        #[serde(default)]
        delta: String,
    },
    /// Whole transcript of the assistant audio (xAI sends no `transcript`:
    /// the deltas are the text).
    #[serde(rename = "response.output_audio_transcript.done")]
    OutputAudioTranscriptDone {
        /// Response id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
        /// Item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Full transcript.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// Text fragment (text modality); also xAI's `response.text.delta`.
    #[serde(rename = "response.output_text.delta", alias = "response.text.delta")]
    OutputTextDelta {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Item id.
        #[serde(default)]
        item_id: String,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Text fragment.
        #[serde(default)]
        delta: String,
    },
    /// Whole text; also xAI's `response.text.done`.
    #[serde(rename = "response.output_text.done", alias = "response.text.done")]
    OutputTextDone {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Item id.
        #[serde(default)]
        item_id: String,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Full text.
        #[serde(default)]
        text: String,
    },
    /// Fragment of a function call's JSON arguments.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// Response id.
        #[serde(default)]
        response_id: String,
        /// Function-call item id.
        #[serde(default)]
        item_id: String,
        /// Output index.
        #[serde(default)]
        output_index: u32,
        /// Call id.
        #[serde(default)]
        call_id: String,
        /// Fragment.
        #[serde(default)]
        delta: String,
    },
    /// A complete function call: run the tool now. The GA schema carries no
    /// `name` here (it is on the `function_call` item of
    /// `response.output_item.added`); xAI sends it.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// Response id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
        /// Function-call item id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        /// Output index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_index: Option<u32>,
        /// Call id to answer with `function_call_output`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        /// Tool name (xAI; not in the GA schema).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// JSON-encoded arguments.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arguments: Option<String>,
    },
    /// A response ended (any status).
    #[serde(rename = "response.done")]
    ResponseDone {
        /// The final response.
        #[serde(default)]
        response: ResponseInfo,
    },
    /// Current rate limits (OpenAI only).
    #[serde(rename = "rate_limits.updated")]
    RateLimitsUpdated {
        /// The limits.
        #[serde(default)]
        rate_limits: Vec<RateLimit>,
    },
    /// xAI keep-alive.
    #[serde(rename = "ping")]
    Ping {
        /// Server timestamp.
        #[serde(default)]
        timestamp: Option<serde_json::Value>,
    },
    /// Any event type this crate does not model (parse-only).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// An optional string that borrows from the frame when it can (serde's own
/// `Option<Cow<str>>` always copies): no allocation per audio frame for its ids.
fn borrowed_opt<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'b>(#[serde(borrow)] Cow<'b, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0))
}

fn other_item() -> Item {
    Item::Other
}

impl ServerEvent<'_> {
    /// `(code, message)` of an `error` event in either provider's shape; empty
    /// strings for parts the server left out.
    pub fn error_summary(
        error: &Option<ErrorPayload>,
        code: &Option<String>,
        message: &Option<String>,
    ) -> (String, String) {
        let (inner_code, inner_message) = match error {
            Some(ErrorPayload::Detail(d)) => (d.code.clone(), Some(d.message.clone())),
            Some(ErrorPayload::Text(text)) => (None, Some(text.clone())),
            None => (None, None),
        };
        let code = inner_code.or_else(|| code.clone()).unwrap_or_default();
        let message = inner_message
            .filter(|m| !m.is_empty())
            .or_else(|| message.clone())
            .unwrap_or_default();
        (code, message)
    }
}

/// The `type` of a frame, read without parsing the rest (for events this crate
/// does not model: counted and logged once per type).
pub fn event_type(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<TypeOnly>(text).ok().map(|t| t.kind)
}

/// Parses one server text frame. Unknown `type`s give
/// [`ServerEvent::Unknown`]; the audio delta borrows from `text`.
///
/// # Errors
/// [`RealtimeError::Parse`] if the frame is not JSON or a known event has a
/// missing/mistyped field.
pub fn parse_server_event(text: &str) -> Result<ServerEvent<'_>, RealtimeError> {
    serde_json::from_str(text).map_err(RealtimeError::Parse)
}

/// Parses one client text frame (used by the simulator).
///
/// # Errors
/// [`RealtimeError::Parse`] for malformed JSON, an unknown `type`, or a
/// missing/mistyped field.
pub fn parse_client_event(text: &str) -> Result<ClientEvent, RealtimeError> {
    serde_json::from_str(text).map_err(RealtimeError::Parse)
}

/// Serializes a server event with its server `event_id` as one JSON frame
/// (used by the simulator).
///
/// # Errors
/// [`RealtimeError::Encode`] for parse-only variants ([`ServerEvent::Unknown`],
/// [`Item::Other`]).
pub fn server_event_json(event_id: &str, event: &ServerEvent<'_>) -> Result<String, RealtimeError> {
    #[derive(Serialize)]
    struct Envelope<'e, 'a> {
        event_id: &'e str,
        #[serde(flatten)]
        event: &'e ServerEvent<'a>,
    }
    serde_json::to_string(&Envelope { event_id, event }).map_err(RealtimeError::Encode)
}

/// Writes `{"type":"input_audio_buffer.append","audio":"<audio_b64>"}` into
/// `out`, replacing its contents, without going through serde (hot path: one
/// reusable buffer per link). `audio_b64` must be standard base64, whose
/// alphabet never needs JSON escaping.
pub fn append_audio_json(audio_b64: &str, out: &mut String) {
    const HEAD: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
    const TAIL: &str = r#""}"#;
    out.clear();
    out.reserve(HEAD.len() + audio_b64.len() + TAIL.len());
    out.push_str(HEAD);
    out.push_str(audio_b64);
    out.push_str(TAIL);
}

/// The same frame as [`append_audio_json`], written into the reusable `buf`
/// and split off as an immutable text frame: no allocation per frame once
/// `buf` has capacity and the socket has released the previous frames.
pub fn append_audio_frame(audio_b64: &str, buf: &mut bytes::BytesMut) -> bytestring::ByteString {
    const HEAD: &[u8] = br#"{"type":"input_audio_buffer.append","audio":""#;
    const TAIL: &[u8] = br#""}"#;
    buf.reserve(HEAD.len() + audio_b64.len() + TAIL.len());
    buf.extend_from_slice(HEAD);
    buf.extend_from_slice(audio_b64.as_bytes());
    buf.extend_from_slice(TAIL);
    let frame = buf.split().freeze();
    // HEAD, TAIL and `audio_b64` are UTF-8, so the conversion cannot fail.
    bytestring::ByteString::try_from(frame).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_frame_matches_append_json() {
        let mut buf = bytes::BytesMut::new();
        let mut json = String::new();
        for audio in ["QUJD", "REVGRw=="] {
            append_audio_json(audio, &mut json);
            let frame = append_audio_frame(audio, &mut buf);
            assert_eq!(&*frame, json.as_str());
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn audio_delta_borrows_from_the_frame() {
        let frame = r#"{"type":"response.output_audio.delta","event_id":"ev_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"//7+/w=="}"#;
        match parse_server_event(frame).unwrap() {
            ServerEvent::OutputAudioDelta { delta, item_id, .. } => {
                assert!(matches!(delta, Cow::Borrowed("//7+/w==")));
                assert!(matches!(item_id, Some(Cow::Borrowed("item_1"))));
            }
            other => panic!("wrong variant: {other:?}"),
        }
    }

    #[test]
    fn append_json_matches_serde() {
        let mut buf = String::from("stale");
        append_audio_json("AAEC/w==", &mut buf);
        let via_serde = ClientEvent::InputAudioBufferAppend {
            event_id: None,
            audio: "AAEC/w==".into(),
        };
        assert_eq!(parse_client_event(&buf).unwrap(), via_serde);
        assert_eq!(buf, via_serde.to_json().unwrap());
    }

    #[test]
    fn optional_client_fields_are_never_null() {
        let ev = ClientEvent::ResponseCreate {
            event_id: None,
            response: None,
        };
        assert_eq!(ev.to_json().unwrap(), r#"{"type":"response.create"}"#);
    }

    #[test]
    fn xai_session_without_type_parses_as_xai() {
        let frame = r#"{"type":"session.update","session":{"instructions":"Hi","voice":"eve",
            "turn_detection":{"type":"server_vad","threshold":0.85,"silence_duration_ms":600},
            "audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"}}}}}"#;
        match parse_client_event(frame).unwrap() {
            ClientEvent::SessionUpdate {
                session: SessionPayload::Xai(s),
                ..
            } => assert_eq!(s.voice.as_deref(), Some("eve")),
            other => panic!("wrong variant: {other:?}"),
        }
    }

    #[test]
    fn server_event_json_carries_event_id() {
        let ev = ServerEvent::SpeechStarted {
            audio_start_ms: Some(1200),
            item_id: Some("item_9".into()),
        };
        let text = server_event_json("ev_7", &ev).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event_id"], "ev_7");
        assert_eq!(v["type"], "input_audio_buffer.speech_started");
        assert_eq!(parse_server_event(&text).unwrap(), ev);
    }
}

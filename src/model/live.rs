//! Serde types for OpenAI's GPT-Live API on a primary WebSocket
//! (`wss://api.openai.com/v1/live/sessions`), and the builders that turn a
//! [`SessionSpec`] and a call's history into its `session.start`.
//!
//! Facts followed (docs/openai-live.md in our words): OpenAI's guides "Voice
//! over WebSockets" (api=live), "Live conversations", "Live delegation" and
//! "Migrate to GPT-Live", and the `openai` Python package's
//! `openai/types/live/` models (generated from OpenAI's API spec; the tests
//! validate every event here against them). The session object is strict:
//! only the fields below are ever sent.
//!
//! Unlike Realtime GA there is no VAD, commit, truncate or cancel: the model
//! owns turn-taking and barge-in. Tools run by Responses delegation: the
//! backend model's function calls arrive nested in `response.event`
//! (`response.output_item.done` with a completed `function_call` item) and
//! are answered with `response.item.create` (`function_call_output`), then
//! one `response.create` after all pending outputs.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::realtime::{AudioEncoding, AudioFormatSpec};
use crate::model::session::{HistoryItem, Role, SessionSpec};

pub use crate::model::api::LIVE_URL as DEFAULT_URL;

/// Most history messages `session.input` takes (OpenAI: 128).
const MAX_INPUT_ITEMS: usize = 128;

/// Most history text replayed into `session.input`, characters: OpenAI caps
/// the history at 8,192 tokens; at about four characters a token this keeps
/// a margin for the wrapper messages.
const MAX_INPUT_CHARS: usize = 24_000;

/// Said to the model (`session.instructions.append`) when the caller is
/// connected and the receptionist should speak first.
pub const GREETING_INSTRUCTION: &str =
    "The caller has just been connected. Greet them now, as your instructions say, then listen.";

/// A GPT-Live frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A server frame was not JSON, or a known event had a mistyped field
    /// (an unknown `type` is not an error: [`ServerEvent::Unknown`]).
    #[error("malformed GPT-Live event: {0}")]
    Parse(#[source] serde_json::Error),
    /// A client event could not be serialized.
    #[error("cannot encode GPT-Live event: {0}")]
    Encode(#[source] serde_json::Error),
}

// ---------------------------------------------------------------------------
// Client events
// ---------------------------------------------------------------------------

/// Client → server events switchboard sends (openai-python `ClientEvent`
/// union members `SessionStartEvent`, `InputAudioAppendEvent`,
/// `InstructionsAppendEvent`, `ResponseItemCreateEvent`,
/// `ResponseCreateEvent`, `SessionCloseEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    /// First message of a session; wait for `session.started` before audio.
    #[serde(rename = "session.start")]
    SessionStart { session: SessionConfig },
    /// Caller audio, base64 in the session format. Never acknowledged; sent
    /// continuously, silence included (the session's clock runs on it).
    #[serde(rename = "session.input_audio.append")]
    InputAudioAppend { audio: String },
    /// Developer instructions appended to the running conversation (≤ 500
    /// tokens); may interrupt speech. `delegation_id` is required and null
    /// for general context (non-null ids are refused with Responses
    /// delegation).
    #[serde(rename = "session.instructions.append")]
    InstructionsAppend {
        content: String,
        delegation_id: Option<String>,
    },
    /// One input item for the Responses backend: here always a tool result.
    #[serde(rename = "response.item.create")]
    ResponseItemCreate { item: FunctionCallOutput },
    /// Continue the backend after all pending tool results (no body).
    #[serde(rename = "response.create")]
    ResponseCreate {},
    /// Graceful close; the server answers `session.closed`.
    #[serde(rename = "session.close")]
    SessionClose {},
}

/// A tool's result for the backend (`ResponseInputItemParam`
/// `function_call_output`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutput {
    /// Always `function_call_output`.
    #[serde(rename = "type")]
    pub kind: FunctionCallOutputKind,
    /// The `call_id` of the backend's `function_call` item.
    pub call_id: String,
    /// JSON text the tool returned.
    pub output: String,
}

/// The one item type switchboard creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionCallOutputKind {
    #[serde(rename = "function_call_output")]
    FunctionCallOutput,
}

/// `session.start`'s `session` (openai-python `SessionConfigParam`): only
/// the fields switchboard sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// `gpt-live-1.1`, `gpt-live-1`, …
    pub model: String,
    /// The receptionist's prompt (≤ 16,384 tokens, immutable).
    pub instructions: String,
    pub audio: SessionAudio,
    /// How tools run: always Responses delegation here.
    pub delegation: Delegation,
    /// Text history replayed into a new session after a restart or roll-over
    /// (≤ 128 messages, ≤ 8,192 tokens).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<InitialItem>,
}

/// `session.audio`: one format for both directions, and the voice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionAudio {
    pub format: LiveAudioFormat,
    pub output: AudioOutput,
}

/// `audio.format` (openai-python `AudioFormatParam`): `audio/pcmu` or
/// `audio/pcma` at 8000 Hz, `audio/pcm` at 16000 or 24000 Hz. The rate is
/// required, unlike Realtime GA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveAudioFormat {
    #[serde(rename = "type")]
    pub encoding: AudioEncoding,
    /// Hz.
    pub rate: u32,
}

impl From<AudioFormatSpec> for LiveAudioFormat {
    fn from(spec: AudioFormatSpec) -> Self {
        LiveAudioFormat {
            encoding: spec.encoding,
            rate: spec.sample_rate(),
        }
    }
}

/// `audio.output`: the voice (immutable after start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioOutput {
    pub voice: String,
}

/// `session.delegation` with `type: "responses"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    #[serde(rename = "type")]
    pub kind: DelegationKind,
    pub responses: ResponsesDelegation,
}

/// The delegation owner switchboard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DelegationKind {
    #[serde(rename = "responses")]
    Responses,
}

/// `delegation.responses` (openai-python `ResponsesDelegationConfigParam`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesDelegation {
    /// The backend Responses model (billed per token, apart from the voice).
    pub model: String,
    pub instructions: String,
    pub tools: Vec<LiveFunctionTool>,
    /// One call at a time keeps "all outputs, then one `response.create`"
    /// simple for the backend (OpenAI's migration guide starts there too).
    pub parallel_tool_calls: bool,
}

/// A function the backend may call (openai-python `FunctionToolParam`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveFunctionTool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: crate::model::realtime::FunctionKind,
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// One history message of `session.input` (openai-python `InitialItemParam`):
/// one text part each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialItem {
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: MessageKind,
    pub role: InitialRole,
    pub content: Vec<InitialContent>,
}

/// The item type of history messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    #[serde(rename = "message")]
    Message,
}

/// Who said a history message: GPT-Live takes no `system` role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialRole {
    Developer,
    User,
    Assistant,
}

/// A history message's text: `input_text` for developer and user,
/// `output_text` for assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum InitialContent {
    #[serde(rename = "input_text")]
    InputText { text: String },
    #[serde(rename = "output_text")]
    OutputText { text: String },
}

impl ClientEvent {
    /// `session.instructions.append` with general context (`delegation_id: null`).
    pub fn instructions(content: impl Into<String>) -> ClientEvent {
        ClientEvent::InstructionsAppend {
            content: content.into(),
            delegation_id: None,
        }
    }

    /// `response.item.create` with one `function_call_output`.
    pub fn function_call_output(call_id: String, output: String) -> ClientEvent {
        ClientEvent::ResponseItemCreate {
            item: FunctionCallOutput {
                kind: FunctionCallOutputKind::FunctionCallOutput,
                call_id,
                output,
            },
        }
    }
}

/// Writes `{"type":"session.input_audio.append","audio":"<audio_b64>"}` into
/// `buf` and splits it off without serde (hot path: one reusable buffer per
/// link). `audio_b64` is standard base64, which never needs JSON escaping.
pub fn append_audio_frame(audio_b64: &str, buf: &mut bytes::BytesMut) -> bytestring::ByteString {
    const HEAD: &[u8] = br#"{"type":"session.input_audio.append","audio":""#;
    const TAIL: &[u8] = br#""}"#;
    buf.reserve(HEAD.len() + audio_b64.len() + TAIL.len());
    buf.extend_from_slice(HEAD);
    buf.extend_from_slice(audio_b64.as_bytes());
    buf.extend_from_slice(TAIL);
    let frame = buf.split().freeze();
    // HEAD, TAIL and base64 are UTF-8.
    bytestring::ByteString::try_from(frame).unwrap_or_default()
}

/// The `session.start` for `spec`: the voice model gets the receptionist's
/// prompt plus a delegation policy naming the tools (GPT-Live decides *when*
/// to delegate from its prompt alone), the backend gets the same business
/// context and the tools (it decides *which* tool). `history`, when not
/// empty, is replayed as `session.input` ([`initial_items`]).
pub fn session_start(
    spec: &SessionSpec,
    backend_model: &str,
    history: &[HistoryItem],
) -> ClientEvent {
    let tools: Vec<LiveFunctionTool> = spec
        .tools
        .iter()
        .map(|t| LiveFunctionTool {
            kind: crate::model::realtime::FunctionKind::Function,
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect();
    ClientEvent::SessionStart {
        session: SessionConfig {
            model: spec.model.clone().unwrap_or_default(),
            instructions: voice_instructions(spec),
            audio: SessionAudio {
                format: spec.audio_format.into(),
                output: AudioOutput {
                    voice: spec.voice.clone(),
                },
            },
            delegation: Delegation {
                kind: DelegationKind::Responses,
                responses: ResponsesDelegation {
                    model: backend_model.to_string(),
                    instructions: backend_instructions(spec),
                    tools,
                    parallel_tool_calls: false,
                },
            },
            input: initial_items(history),
        },
    }
}

/// The voice model's prompt: the receptionist's instructions and a
/// "Delegation policy" section in the shape OpenAI's Live prompting guide
/// recommends (tool capabilities, when to delegate, no guessing).
fn voice_instructions(spec: &SessionSpec) -> String {
    let mut out = spec.instructions.clone();
    if spec.tools.is_empty() {
        return out;
    }
    out.push_str("\n\nDelegation policy:\nBackend tools:\n");
    for tool in &spec.tools {
        out.push_str("- ");
        out.push_str(&tool.name);
        out.push_str(": ");
        out.push_str(&tool.description);
        out.push('\n');
    }
    out.push_str(
        "Delegate to the backend when the caller asks for something one of these tools does \
         (messages, bookings, transfers, ending the call), or when your answer depends on it. \
         Delegate before answering; do not guess the result while waiting — say briefly that \
         you are checking. Only confirm what the backend reports.\n\
         Do not delegate small talk or questions your instructions already answer.",
    );
    out
}

/// The backend model's prompt: the business context, and its job.
fn backend_instructions(spec: &SessionSpec) -> String {
    format!(
        "{}\n\nYou are the backend of this phone receptionist. Use the tools to do what the \
         caller asked, then return a short plain-text result for the receptionist to say.",
        spec.instructions
    )
}

/// A call's history as `session.input`: caller lines as `user`, the
/// receptionist's as `assistant`, system lines and each tool call with its
/// result as `developer` notes (GPT-Live history holds text messages only),
/// then a note that the call goes on. The newest messages are kept within
/// OpenAI's limits (128 messages, 8,192 tokens); empty when there is no
/// history.
pub fn initial_items(history: &[HistoryItem]) -> Vec<InitialItem> {
    let mut messages: Vec<(InitialRole, String)> = Vec::new();
    for (i, entry) in history.iter().enumerate() {
        match entry {
            HistoryItem::Message { text, .. } if text.trim().is_empty() => {}
            HistoryItem::Message { role, text } => {
                let role = match role {
                    Role::User => InitialRole::User,
                    Role::Assistant => InitialRole::Assistant,
                    Role::System => InitialRole::Developer,
                };
                messages.push((role, text.clone()));
            }
            HistoryItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                let output = history[i + 1..].iter().find_map(|h| match h {
                    HistoryItem::FunctionOutput { call_id: c, output } if c == call_id => {
                        Some(output.as_str())
                    }
                    _ => None,
                });
                messages.push((
                    InitialRole::Developer,
                    match output {
                        Some(output) => format!(
                            "The backend ran the tool {name} with {arguments} and it returned {output}."
                        ),
                        None => format!(
                            "The backend started the tool {name} with {arguments}; it had not returned."
                        ),
                    },
                ));
            }
            HistoryItem::FunctionOutput { .. } => {}
        }
    }
    if messages.is_empty() {
        return Vec::new();
    }
    const CONTINUE: &str = "The call continues on a new voice session; the conversation so far \
                            is above. Do not greet the caller again: carry on where it left off.";
    let mut budget = MAX_INPUT_CHARS.saturating_sub(CONTINUE.len());
    let mut kept: Vec<(InitialRole, String)> = Vec::new();
    for (role, text) in messages.into_iter().rev() {
        if kept.len() + 1 >= MAX_INPUT_ITEMS || text.len() > budget {
            break;
        }
        budget -= text.len();
        kept.push((role, text));
    }
    kept.reverse();
    kept.push((InitialRole::Developer, CONTINUE.to_string()));
    kept.into_iter()
        .map(|(role, text)| InitialItem {
            kind: MessageKind::Message,
            role,
            content: vec![match role {
                InitialRole::Assistant => InitialContent::OutputText { text },
                InitialRole::Developer | InitialRole::User => InitialContent::InputText { text },
            }],
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Server events
// ---------------------------------------------------------------------------

/// Server → client events the link acts on (openai-python `ServerEvent`
/// members); everything else (`session.instructions.appended`,
/// `session.usage.updated`, `info`, …) is [`ServerEvent::Unknown`]. Fields
/// the link does not use are not modelled, so a server adding some is fine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent<'a> {
    /// The session is running; `session` is its resolved snapshot
    /// (`SessionResource`: `id`, `expires_at`, `audio`, …).
    #[serde(rename = "session.started")]
    SessionStarted {
        #[serde(default)]
        session: serde_json::Value,
    },
    /// Assistant audio in the session format: one continuous track for the
    /// life of the session, silent between replies (hot path: borrowed).
    #[serde(rename = "session.output_audio.delta")]
    OutputAudioDelta {
        #[serde(borrow)]
        delta: Cow<'a, str>,
    },
    /// A fragment of the caller's transcript (no "completed" event follows).
    #[serde(rename = "session.input_transcript.delta")]
    InputTranscriptDelta {
        delta: String,
        /// Session-timeline ms (inclusive).
        #[serde(default)]
        start_ms: Option<u64>,
        /// Session-timeline ms (exclusive).
        #[serde(default)]
        end_ms: Option<u64>,
    },
    /// A fragment of the assistant's transcript.
    #[serde(rename = "session.output_transcript.delta")]
    OutputTranscriptDelta {
        delta: String,
        #[serde(default)]
        start_ms: Option<u64>,
        #[serde(default)]
        end_ms: Option<u64>,
    },
    /// The voice model handed a task to the backend.
    #[serde(rename = "session.delegation.created")]
    DelegationCreated { delegation: DelegationNotice },
    /// One event of the backend's Responses stream, nested.
    #[serde(rename = "response.event")]
    ResponseEvent {
        #[serde(default)]
        delegation_id: Option<String>,
        event: serde_json::Value,
    },
    /// The session ended: `close_requested`, `expired`, `content`,
    /// `remote_hangup` or `connection_lost`.
    #[serde(rename = "session.closed")]
    SessionClosed {
        #[serde(default)]
        reason: String,
    },
    /// A request failed; most errors leave the session open.
    #[serde(rename = "error")]
    Error { error: ErrorDetail },
    /// Any other event type.
    #[serde(other)]
    Unknown,
}

/// `session.delegation.created`'s `delegation` object (metadata only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DelegationNotice {
    /// `item_…`.
    pub id: String,
    /// `client`, `responses` or `decisions`.
    #[serde(default)]
    pub target: Option<String>,
}

/// The `error` object.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What a nested Responses event means for the call.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    /// A completed `function_call` item (`response.output_item.done`): run it.
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// The backend response finished (`response.completed`, `.failed`,
    /// `.incomplete`, `.cancelled`), with that status.
    Finished { status: String },
    /// Anything else (text deltas, lifecycle snapshots).
    Other,
}

/// Reads one nested `response.event` payload. Only completed function calls
/// count: "an arguments-done event alone is not sufficient" (Live
/// delegation guide), and a call without a status is taken as complete.
pub fn backend_event(event: &serde_json::Value) -> BackendEvent {
    let kind = event.get("type").and_then(|t| t.as_str()).unwrap_or("");
    match kind {
        "response.output_item.done" => {
            let item = &event["item"];
            let status = item.get("status").and_then(|s| s.as_str());
            if item["type"] != "function_call" || status.is_some_and(|s| s != "completed") {
                return BackendEvent::Other;
            }
            match (item["call_id"].as_str(), item["name"].as_str()) {
                (Some(call_id), Some(name)) => BackendEvent::FunctionCall {
                    call_id: call_id.to_string(),
                    name: name.to_string(),
                    arguments: item["arguments"].as_str().unwrap_or("{}").to_string(),
                },
                _ => BackendEvent::Other,
            }
        }
        "response.completed" | "response.failed" | "response.incomplete" | "response.cancelled" => {
            BackendEvent::Finished {
                status: kind.trim_start_matches("response.").to_string(),
            }
        }
        _ => BackendEvent::Other,
    }
}

/// Parses one server text frame; the audio delta borrows from `text`.
///
/// # Errors
/// [`LiveError::Parse`] if the frame is not JSON or a known event has a
/// missing/mistyped field.
pub fn parse_server_event(text: &str) -> Result<ServerEvent<'_>, LiveError> {
    serde_json::from_str(text).map_err(LiveError::Parse)
}

/// The resolved audio format in a `session.started` snapshot, if it names one.
pub fn started_format(session: &serde_json::Value) -> Option<LiveAudioFormat> {
    serde_json::from_value(session.get("audio")?.get("format")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::provider::Provider;
    use crate::model::session::{FunctionTool, TurnDetection};

    fn spec() -> SessionSpec {
        SessionSpec {
            provider: Provider::OpenAi,
            model: Some("gpt-live-1.1".into()),
            instructions: "You answer calls for Acme Dental.".into(),
            voice: "marin".into(),
            tools: vec![FunctionTool {
                name: "takeMessage".into(),
                description: "Take a message for staff.".into(),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
            }],
            audio_format: AudioFormatSpec::PCMU,
            transcription_model: None,
            turn_detection: TurnDetection::default(),
            keyterms: Vec::new(),
        }
    }

    #[test]
    fn session_start_has_pcmu_at_8000_and_responses_delegation() {
        let v = serde_json::to_value(session_start(&spec(), "gpt-5.6-luna", &[])).unwrap();
        assert_eq!(v["type"], "session.start");
        let s = &v["session"];
        assert_eq!(s["model"], "gpt-live-1.1");
        assert_eq!(
            s["audio"]["format"],
            serde_json::json!({"type": "audio/pcmu", "rate": 8000})
        );
        assert_eq!(s["audio"]["output"]["voice"], "marin");
        assert_eq!(s["delegation"]["type"], "responses");
        assert_eq!(s["delegation"]["responses"]["model"], "gpt-5.6-luna");
        assert_eq!(s["delegation"]["responses"]["tools"][0]["type"], "function");
        assert!(s["instructions"]
            .as_str()
            .unwrap()
            .contains("Delegation policy:\nBackend tools:\n- takeMessage"));
        assert!(s.get("input").is_none(), "no history, no input");
        let browser = SessionSpec {
            audio_format: AudioFormatSpec::PCM24K,
            ..spec()
        };
        let v = serde_json::to_value(session_start(&browser, "m", &[])).unwrap();
        assert_eq!(v["session"]["audio"]["format"]["rate"], 24000);
    }

    #[test]
    fn history_becomes_text_messages_with_tool_notes_and_a_continue_note() {
        let items = initial_items(&[
            HistoryItem::Message {
                role: Role::Assistant,
                text: "Acme Dental, how can I help?".into(),
            },
            HistoryItem::Message {
                role: Role::User,
                text: "Leave a message for Dr Lee.".into(),
            },
            HistoryItem::FunctionCall {
                call_id: "c1".into(),
                name: "takeMessage".into(),
                arguments: "{\"message\":\"call back\"}".into(),
            },
            HistoryItem::FunctionOutput {
                call_id: "c1".into(),
                output: "{\"ok\":true}".into(),
            },
        ]);
        let v = serde_json::to_value(&items).unwrap();
        assert_eq!(v[0]["role"], "assistant");
        assert_eq!(v[0]["content"][0]["type"], "output_text");
        assert_eq!(v[1]["role"], "user");
        assert_eq!(v[1]["content"][0]["type"], "input_text");
        assert_eq!(v[2]["role"], "developer");
        let note = v[2]["content"][0]["text"].as_str().unwrap();
        assert!(note.contains("takeMessage") && note.contains("{\"ok\":true}"));
        assert_eq!(v[3]["role"], "developer");
        assert_eq!(items.len(), 4);
        assert!(initial_items(&[]).is_empty());
    }

    #[test]
    fn long_history_keeps_the_newest_within_limits() {
        let history: Vec<HistoryItem> = (0..400)
            .map(|i| HistoryItem::Message {
                role: Role::User,
                text: format!("line {i} {}", "x".repeat(90)),
            })
            .collect();
        let items = initial_items(&history);
        assert!(items.len() <= MAX_INPUT_ITEMS);
        let total: usize = items
            .iter()
            .map(|i| match &i.content[0] {
                InitialContent::InputText { text } | InitialContent::OutputText { text } => {
                    text.len()
                }
            })
            .sum();
        assert!(total <= MAX_INPUT_CHARS);
        let v = serde_json::to_value(&items[items.len() - 2]).unwrap();
        assert!(v["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("line 399"));
    }

    #[test]
    fn client_events_serialize_in_wire_shape() {
        let v = serde_json::to_value(ClientEvent::instructions("hi")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"session.instructions.append","content":"hi","delegation_id":null})
        );
        let v = serde_json::to_value(ClientEvent::function_call_output("c1".into(), "{}".into()))
            .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"response.item.create","item":{"type":"function_call_output","call_id":"c1","output":"{}"}})
        );
        assert_eq!(
            serde_json::to_value(ClientEvent::ResponseCreate {}).unwrap(),
            serde_json::json!({"type":"response.create"})
        );
        let mut buf = bytes::BytesMut::new();
        let frame = append_audio_frame("//8=", &mut buf);
        let via_serde = serde_json::to_string(&ClientEvent::InputAudioAppend {
            audio: "//8=".into(),
        })
        .unwrap();
        assert_eq!(&*frame, via_serde.as_str());
    }

    #[test]
    fn server_events_parse_and_audio_borrows() {
        let frame = r#"{"type":"session.output_audio.delta","delta":"//7+/w=="}"#;
        match parse_server_event(frame).unwrap() {
            ServerEvent::OutputAudioDelta { delta } => {
                assert!(matches!(delta, Cow::Borrowed("//7+/w==")))
            }
            other => panic!("{other:?}"),
        }
        let closed = r#"{"type":"session.closed","event_id":"e","reason":"expired","session":{},"usage":{"seconds":3}}"#;
        assert_eq!(
            parse_server_event(closed).unwrap(),
            ServerEvent::SessionClosed {
                reason: "expired".into()
            }
        );
        let usage = r#"{"type":"session.usage.updated","event_id":"e","usage":{"seconds":7}}"#;
        assert_eq!(parse_server_event(usage).unwrap(), ServerEvent::Unknown);
        assert!(parse_server_event("nope").is_err());
    }

    #[test]
    fn only_completed_function_calls_count() {
        let done = serde_json::json!({"type":"response.output_item.done","output_index":0,
            "item":{"type":"function_call","call_id":"call_1","name":"takeMessage","arguments":"{}","status":"completed"}});
        assert_eq!(
            backend_event(&done),
            BackendEvent::FunctionCall {
                call_id: "call_1".into(),
                name: "takeMessage".into(),
                arguments: "{}".into()
            }
        );
        let mut partial = done.clone();
        partial["item"]["status"] = "in_progress".into();
        assert_eq!(backend_event(&partial), BackendEvent::Other);
        let completed = serde_json::json!({"type":"response.completed","response":{"output":[]}});
        assert_eq!(
            backend_event(&completed),
            BackendEvent::Finished {
                status: "completed".into()
            }
        );
        let text = serde_json::json!({"type":"response.output_text.delta","delta":"x"});
        assert_eq!(backend_event(&text), BackendEvent::Other);
    }
}

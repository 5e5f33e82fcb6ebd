//! jambonz WebSocket API wire format (application side), pure serde: the message
//! envelope jambonz sends (`session:new`, `llm:tool-call`, `call:status`, …) parsed
//! into [`Inbound`], and what the application sends back ([`Outbound`]: `ack` with
//! verbs, or a `command`), with builders for the verbs switchboard uses (`llm`,
//! `dial`, `say`, `hangup`). Source: ../shared/reference/carriers.md §5 (restated
//! from jambonz/node-client-ws, jambonz-feature-server and jambonz/schema).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::messages::CallAction;
use crate::model::session::{FunctionTool, TurnDetection};

/// The WebSocket subprotocol jambonz offers and the server must select (§5.1).
pub const SUBPROTOCOL: &str = "ws.jambonz.org";
/// `toolHook` of the `llm` verb: tool calls arrive as `llm:tool-call` with this hook.
pub const TOOL_HOOK: &str = "/llm-tool";
/// `eventHook` of the `llm` verb: vendor events arrive as `llm:event`.
pub const EVENT_HOOK: &str = "/llm-event";
/// `actionHook` of the `llm` verb: a `verb:hook` when the LLM session ends.
pub const LLM_ACTION_HOOK: &str = "/llm-done";
/// `actionHook` of a transfer `dial`: a `verb:hook` when the dialled leg ends.
pub const DIAL_ACTION_HOOK: &str = "/dial-done";
/// `confirmHook` of a transfer target: `dial:confirm` when the on-call person answers.
pub const WHISPER_HOOK: &str = "/whisper";
/// OpenAI Realtime events forwarded to [`EVENT_HOOK`]: final transcripts and errors.
pub const LLM_EVENTS: &[&str] = &[
    "conversation.item.input_audio_transcription.completed",
    "response.output_audio_transcript.done",
    "response.audio_transcript.done",
    "error",
];

/// Why a jambonz frame could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or not an object with `type`.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A message type that needs a field lacks it (e.g. `session:new` without `msgid`).
    #[error("{kind} without {field}")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
}

/// The envelope of every jambonz → app message (§5.2).
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    msgid: Option<String>,
    #[serde(default)]
    call_sid: Option<String>,
    #[serde(default)]
    hook: Option<String>,
    #[serde(default)]
    data: Value,
}

/// Call information carried by `session:new` / `session:reconnect` (snake_cased
/// by jambonz). Unknown fields (sip, env_vars, defaults …) are ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SessionInfo {
    #[serde(default)]
    pub call_sid: String,
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub application_sid: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    /// Caller (E.164 or SIP user part).
    #[serde(default)]
    pub from: Option<String>,
    /// Dialled number.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub caller_name: Option<String>,
}

/// `call:status` data: the call's state change.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct CallStatusInfo {
    #[serde(default)]
    pub call_sid: String,
    /// `trying`, `ringing`, `early-media`, `in-progress`, `completed`, `failed`,
    /// `busy`, `no-answer`, `queued`.
    #[serde(default)]
    pub call_status: String,
    /// `outbound` for a B-leg (e.g. the transfer target).
    #[serde(default)]
    pub direction: Option<String>,
    /// Seconds, on `completed`.
    #[serde(default)]
    pub duration: Option<u64>,
    #[serde(default)]
    pub call_termination_by: Option<String>,
}

impl CallStatusInfo {
    /// Whether the call is over (`completed`, `failed`, `busy`, `no-answer`).
    pub fn is_final(&self) -> bool {
        matches!(
            self.call_status.as_str(),
            "completed" | "failed" | "busy" | "no-answer"
        )
    }
}

/// A final transcript from an `llm:event` (OpenAI Realtime server event).
#[derive(Debug, Clone, PartialEq)]
pub enum LlmTranscript {
    /// `conversation.item.input_audio_transcription.completed`.
    User {
        item_id: Option<String>,
        text: String,
    },
    /// `response.output_audio_transcript.done` (GA) or `response.audio_transcript.done` (beta).
    Assistant {
        item_id: Option<String>,
        text: String,
    },
}

/// One parsed jambonz → app message.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A new call; must be acked within 5 s with the application's verbs.
    SessionNew { msgid: String, info: SessionInfo },
    /// jambonz reconnected after a socket loss; `info` is the original session data.
    SessionReconnect { msgid: String, info: SessionInfo },
    /// A verb's actionHook/eventHook fired (ack, optionally with verbs).
    VerbHook {
        msgid: String,
        hook: String,
        data: Value,
    },
    /// A dialled party answered a target with a `confirmHook`: ack with verbs for them.
    DialConfirm { msgid: String, data: Value },
    /// Call state change (no ack).
    CallStatus(CallStatusInfo),
    /// A vendor event from the LLM; `transcript` is set for final transcripts.
    LlmEvent {
        event_type: String,
        transcript: Option<LlmTranscript>,
    },
    /// The model wants a tool run; answer with [`tool_output`].
    LlmToolCall {
        tool_call_id: String,
        name: String,
        /// Parsed JSON arguments object.
        args: Value,
    },
    /// A fatal problem or an invalid message of ours, as jambonz reports it.
    Error { data: Value },
    /// Any other type; `msgid` is set when jambonz expects an `ack` for it.
    Other { kind: String, msgid: Option<String> },
}

/// Whether jambonz waits for an `ack` to a message of this type (§5.2 table).
pub fn needs_ack(kind: &str) -> bool {
    matches!(
        kind,
        "session:new"
            | "session:reconnect"
            | "session:redirect"
            | "session:adulting"
            | "verb:hook"
            | "dial:confirm"
            | "queue:status"
    )
}

fn field(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Parses one text frame from jambonz.
///
/// Errors: [`WireError::Json`] for anything that is not an object with a string
/// `type`; [`WireError::Missing`] when a message that must be acked has no `msgid`
/// or a tool call has no `tool_call_id`/`name`.
pub fn parse_inbound(text: &str) -> Result<Inbound, WireError> {
    let env: Envelope = serde_json::from_str(text)?;
    let msgid = |kind: &'static str| {
        env.msgid.clone().ok_or(WireError::Missing {
            kind,
            field: "msgid",
        })
    };
    let session_info = |data: &Value| -> Result<SessionInfo, WireError> {
        let mut info: SessionInfo = serde_json::from_value(data.clone())?;
        if info.call_sid.is_empty() {
            info.call_sid = env.call_sid.clone().unwrap_or_default();
        }
        Ok(info)
    };
    Ok(match env.kind.as_str() {
        "session:new" | "session:adulting" => Inbound::SessionNew {
            msgid: msgid("session:new")?,
            info: session_info(&env.data)?,
        },
        "session:reconnect" => Inbound::SessionReconnect {
            msgid: msgid("session:reconnect")?,
            info: session_info(&env.data)?,
        },
        "verb:hook" => Inbound::VerbHook {
            msgid: msgid("verb:hook")?,
            hook: env.hook.clone().unwrap_or_default(),
            data: env.data,
        },
        "dial:confirm" => Inbound::DialConfirm {
            msgid: msgid("dial:confirm")?,
            data: env.data,
        },
        "call:status" => {
            let mut info: CallStatusInfo = serde_json::from_value(env.data)?;
            if info.call_sid.is_empty() {
                info.call_sid = env.call_sid.unwrap_or_default();
            }
            Inbound::CallStatus(info)
        }
        "llm:event" => {
            let event_type = field(&env.data, "type").unwrap_or_default();
            let item_id = field(&env.data, "item_id");
            let transcript = match event_type.as_str() {
                "conversation.item.input_audio_transcription.completed" => {
                    field(&env.data, "transcript").map(|text| LlmTranscript::User { item_id, text })
                }
                "response.output_audio_transcript.done" | "response.audio_transcript.done" => {
                    field(&env.data, "transcript")
                        .map(|text| LlmTranscript::Assistant { item_id, text })
                }
                _ => None,
            };
            Inbound::LlmEvent {
                event_type,
                transcript,
            }
        }
        "llm:tool-call" => Inbound::LlmToolCall {
            // The docs page says `call_id`; the feature server sends `tool_call_id` (§5.5).
            tool_call_id: field(&env.data, "tool_call_id")
                .or_else(|| field(&env.data, "call_id"))
                .ok_or(WireError::Missing {
                    kind: "llm:tool-call",
                    field: "tool_call_id",
                })?,
            name: field(&env.data, "name").ok_or(WireError::Missing {
                kind: "llm:tool-call",
                field: "name",
            })?,
            args: env.data.get("args").cloned().unwrap_or_else(|| json!({})),
        },
        "jambonz:error" => Inbound::Error { data: env.data },
        _ => Inbound::Other {
            msgid: env.msgid.filter(|_| needs_ack(&env.kind)),
            kind: env.kind,
        },
    })
}

/// A jambonz verb, written `{"verb": "<name>", …}` (§5.3).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "verb", rename_all = "lowercase")]
pub enum Verb {
    /// Hand the call to a speech-to-speech model (§5.4).
    Llm(Box<LlmVerb>),
    /// Call another party and bridge (§5.6).
    Dial(DialVerb),
    /// Speak text with the application's default synthesizer.
    Say { text: String },
    /// End the call.
    Hangup {},
}

/// The `llm` verb (vendor `openai`, OpenAI Realtime via jambonz).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LlmVerb {
    pub vendor: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<LlmAuth>,
    pub action_hook: String,
    pub event_hook: String,
    pub tool_hook: String,
    pub events: Vec<String>,
    pub llm_options: LlmOptions,
}

/// `auth` of the `llm` verb.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmAuth {
    #[serde(rename = "apiKey")]
    pub api_key: String,
}

/// OpenAI `llmOptions`: `response_create` is sent first as `response.create`,
/// `session_update` as `session.update` (§5.4).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmOptions {
    pub response_create: Value,
    pub session_update: LlmSessionUpdate,
}

/// The `session` jambonz sends to OpenAI in `session.update`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmSessionUpdate {
    pub instructions: String,
    pub voice: String,
    pub turn_detection: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_audio_transcription: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<LlmTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
}

/// A function tool in the OpenAI session shape (`{"type":"function", name, …}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// What the `llm` verb needs from the tenant and `[model]`.
#[derive(Debug, Clone)]
pub struct LlmSpec {
    pub model: String,
    pub api_key: Option<String>,
    /// Tenant instructions incl. business hours (see `TenantConfig::instructions`).
    pub instructions: String,
    pub voice: String,
    pub tools: Vec<FunctionTool>,
    /// Transcription model for caller transcripts; `None` = none.
    pub transcription_model: Option<String>,
    pub turn_detection: TurnDetection,
}

/// The `llm` verb handing the call to the tenant's model, with tool calls and
/// transcripts delivered on this socket ([`TOOL_HOOK`], [`EVENT_HOOK`]).
pub fn llm_verb(spec: &LlmSpec) -> Verb {
    let td = &spec.turn_detection;
    let turn_detection = match td.eagerness {
        Some(e) => json!({"type": "semantic_vad", "eagerness": e.as_str()}),
        None => json!({
            "type": "server_vad",
            "threshold": td.threshold,
            "prefix_padding_ms": td.prefix_padding_ms,
            "silence_duration_ms": td.silence_duration_ms,
        }),
    };
    let tools: Vec<LlmTool> = spec
        .tools
        .iter()
        .map(|t| LlmTool {
            kind: "function".into(),
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect();
    Verb::Llm(Box::new(LlmVerb {
        vendor: "openai".into(),
        model: spec.model.clone(),
        auth: spec.api_key.clone().map(|api_key| LlmAuth { api_key }),
        action_hook: LLM_ACTION_HOOK.into(),
        event_hook: EVENT_HOOK.into(),
        tool_hook: TOOL_HOOK.into(),
        events: LLM_EVENTS.iter().map(|e| e.to_string()).collect(),
        llm_options: LlmOptions {
            response_create: json!({
                "instructions": "Greet the caller on behalf of the business and ask how you can help."
            }),
            session_update: LlmSessionUpdate {
                instructions: spec.instructions.clone(),
                voice: spec.voice.clone(),
                turn_detection,
                input_audio_transcription: spec
                    .transcription_model
                    .as_ref()
                    .map(|m| json!({"model": m})),
                tool_choice: (!tools.is_empty()).then(|| "auto".to_string()),
                tools,
            },
        },
    }))
}

/// The `dial` verb (transfer).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DialVerb {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    pub answer_on_bridge: bool,
    /// Seconds to ring.
    pub timeout: u32,
    pub action_hook: String,
    pub target: Vec<DialTarget>,
}

/// One `dial` target (`type: "phone"`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DialTarget {
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
    /// jambonz sends `dial:confirm` here when the target answers (whisper).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_hook: Option<String>,
}

/// A transfer to `number`: `dial` ringing 25 s with the caller's number shown,
/// and [`WHISPER_HOOK`] as `confirmHook` so the on-call person hears who is calling
/// before the legs are bridged (§5.6).
pub fn dial_transfer(number: &str, caller_id: Option<&str>) -> Verb {
    Verb::Dial(DialVerb {
        caller_id: caller_id.map(str::to_string),
        answer_on_bridge: true,
        timeout: 25,
        action_hook: DIAL_ACTION_HOOK.into(),
        target: vec![DialTarget {
            kind: "phone".into(),
            number: number.to_string(),
            confirm_hook: Some(WHISPER_HOOK.into()),
        }],
    })
}

/// The verbs that carry out a tool's [`CallAction`] on a jambonz call, sent as a
/// `redirect` after the tool output (so the model's goodbye can play first).
pub fn action_verbs(action: &CallAction) -> Vec<Verb> {
    match action {
        CallAction::HangUp { .. } => vec![Verb::Hangup {}],
        CallAction::Transfer { number, .. } => vec![dial_transfer(number, None)],
    }
}

/// An app → jambonz message (§5.3).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum Outbound {
    /// Reply to a message that needs one; `data` = verbs to run (omitted = continue).
    #[serde(rename = "ack")]
    Ack {
        msgid: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Vec<Verb>>,
    },
    /// An asynchronous instruction.
    #[serde(rename = "command")]
    Command {
        command: String,
        #[serde(rename = "queueCommand")]
        queue_command: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_call_id: Option<String>,
        data: Value,
    },
    /// A complaint about a message jambonz sent us, in jambonz's own error shape
    /// (`{msg: "InvalidMessage", details, content}`); jambonz logs and drops it.
    #[serde(rename = "jambonz:error")]
    Error { data: Value },
}

impl Outbound {
    /// `ack` for `msgid` with `verbs` (None = no verbs).
    pub fn ack(msgid: &str, verbs: Option<Vec<Verb>>) -> Outbound {
        Outbound::Ack {
            msgid: msgid.to_string(),
            data: verbs,
        }
    }

    /// `redirect`: replace the running verbs with `verbs` now.
    pub fn redirect(verbs: Vec<Verb>) -> Outbound {
        Outbound::Command {
            command: "redirect".into(),
            queue_command: false,
            tool_call_id: None,
            data: serde_json::to_value(verbs).unwrap_or(Value::Array(Vec::new())),
        }
    }

    /// `llm:tool-output` answering `tool_call_id` with `output` (JSON text), in the
    /// OpenAI shape jambonz forwards verbatim: a `conversation.item.create` with a
    /// `function_call_output` item (§5.5).
    pub fn tool_output(tool_call_id: &str, output: &str) -> Outbound {
        Outbound::Command {
            command: "llm:tool-output".into(),
            queue_command: false,
            tool_call_id: Some(tool_call_id.to_string()),
            data: json!({
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": tool_call_id, "output": output}
            }),
        }
    }

    /// `llm:update` with an OpenAI `session.update` (`session` = the fields to change).
    pub fn llm_update(session: Value) -> Outbound {
        Outbound::Command {
            command: "llm:update".into(),
            queue_command: false,
            tool_call_id: None,
            data: json!({"type": "session.update", "session": session}),
        }
    }

    /// `jambonz:error` for a frame we could not use; `content` is cut to 200 chars.
    pub fn invalid_message(details: &str, content: &str) -> Outbound {
        Outbound::Error {
            data: json!({
                "msg": "InvalidMessage",
                "details": details,
                "content": content.chars().take(200).collect::<String>(),
            }),
        }
    }

    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded shapes from carriers.md §5.8 (fake ids).
    const SESSION_NEW: &str = r#"{"type":"session:new","msgid":"m1","call_sid":"C1","data":{"call_sid":"C1","direction":"inbound","from":"+15550003333","to":"+15550001111","call_status":"trying","sip_status":100,"account_sid":"A1","application_sid":"P1","sip":{"headers":{}},"env_vars":{}}}"#;
    const TOOL_CALL: &str = r#"{"type":"llm:tool-call","msgid":"m3","call_sid":"C1","hook":"/llm-tool","data":{"tool_call_id":"inv-9","name":"takeMessage","args":{"callerName":"Dana"}}}"#;
    const STATUS_DONE: &str = r#"{"type":"call:status","msgid":"m6","call_sid":"C1","data":{"call_sid":"C1","call_status":"completed","call_termination_by":"jambonz","duration":95}}"#;

    #[test]
    fn session_new_carries_call_info() {
        let Inbound::SessionNew { msgid, info } = parse_inbound(SESSION_NEW).unwrap() else {
            panic!("not session:new");
        };
        assert_eq!(msgid, "m1");
        assert_eq!(info.call_sid, "C1");
        assert_eq!(info.account_sid.as_deref(), Some("A1"));
        assert_eq!(info.to.as_deref(), Some("+15550001111"));
        assert_eq!(info.from.as_deref(), Some("+15550003333"));
    }

    #[test]
    fn tool_call_keeps_id_and_args() {
        let parsed = parse_inbound(TOOL_CALL).unwrap();
        assert_eq!(
            parsed,
            Inbound::LlmToolCall {
                tool_call_id: "inv-9".into(),
                name: "takeMessage".into(),
                args: json!({"callerName": "Dana"}),
            }
        );
        let docs_shape = r#"{"type":"llm:tool-call","msgid":"x","call_sid":"C1","data":{"call_id":"c7","name":"hangUp","args":{}}}"#;
        assert!(matches!(parse_inbound(docs_shape).unwrap(),
            Inbound::LlmToolCall { tool_call_id, .. } if tool_call_id == "c7"));
    }

    #[test]
    fn call_status_completed_is_final_with_duration() {
        let Inbound::CallStatus(info) = parse_inbound(STATUS_DONE).unwrap() else {
            panic!("not call:status");
        };
        assert!(info.is_final());
        assert_eq!(info.duration, Some(95));
        let ringing = r#"{"type":"call:status","msgid":"m2","call_sid":"C1","data":{"call_status":"in-progress"}}"#;
        let Inbound::CallStatus(info) = parse_inbound(ringing).unwrap() else {
            panic!("not call:status");
        };
        assert!(!info.is_final());
        assert_eq!(info.call_sid, "C1", "call_sid falls back to the envelope");
    }

    #[test]
    fn llm_events_yield_final_transcripts() {
        let user = r#"{"type":"llm:event","msgid":"e1","call_sid":"C1","hook":"/llm-event","data":{"type":"conversation.item.input_audio_transcription.completed","item_id":"it1","transcript":"Hello there"}}"#;
        assert!(matches!(parse_inbound(user).unwrap(),
            Inbound::LlmEvent { transcript: Some(LlmTranscript::User { text, .. }), .. } if text == "Hello there"));
        let other = r#"{"type":"llm:event","msgid":"e2","call_sid":"C1","data":{"type":"response.created"}}"#;
        assert!(matches!(parse_inbound(other).unwrap(),
            Inbound::LlmEvent { transcript: None, event_type } if event_type == "response.created"));
    }

    #[test]
    fn unknown_types_ask_for_ack_only_when_jambonz_waits() {
        let queue = r#"{"type":"queue:status","msgid":"q1","call_sid":"C1","data":{}}"#;
        assert_eq!(
            parse_inbound(queue).unwrap(),
            Inbound::Other {
                kind: "queue:status".into(),
                msgid: Some("q1".into())
            }
        );
        let tts = r#"{"type":"tts:streaming-event","msgid":"t1","call_sid":"C1","data":{}}"#;
        assert!(matches!(
            parse_inbound(tts).unwrap(),
            Inbound::Other { msgid: None, .. }
        ));
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(matches!(
            parse_inbound("{not json"),
            Err(WireError::Json(_))
        ));
        assert!(matches!(
            parse_inbound(r#"{"type":"session:new","data":{}}"#),
            Err(WireError::Missing { field: "msgid", .. })
        ));
    }

    #[test]
    fn ack_with_llm_verb_has_jambonz_shape() {
        let spec = LlmSpec {
            model: "gpt-realtime".into(),
            api_key: Some("sk-test".into()),
            instructions: "Be brief.".into(),
            voice: "marin".into(),
            tools: vec![FunctionTool {
                name: "hangUp".into(),
                description: "End the call".into(),
                parameters: json!({"type": "object"}),
            }],
            transcription_model: Some("gpt-4o-mini-transcribe".into()),
            turn_detection: TurnDetection::default(),
        };
        let ack: Value =
            serde_json::from_str(&Outbound::ack("m1", Some(vec![llm_verb(&spec)])).to_json())
                .unwrap();
        assert_eq!(ack["type"], "ack");
        assert_eq!(ack["msgid"], "m1");
        let verb = &ack["data"][0];
        assert_eq!(verb["verb"], "llm");
        assert_eq!(verb["vendor"], "openai");
        assert_eq!(verb["auth"]["apiKey"], "sk-test");
        assert_eq!(verb["toolHook"], TOOL_HOOK);
        assert_eq!(verb["eventHook"], EVENT_HOOK);
        assert_eq!(verb["actionHook"], LLM_ACTION_HOOK);
        let session = &verb["llmOptions"]["session_update"];
        assert_eq!(session["instructions"], "Be brief.");
        assert_eq!(session["tools"][0]["type"], "function");
        assert_eq!(session["tools"][0]["name"], "hangUp");
        assert_eq!(session["turn_detection"]["type"], "server_vad");
        assert!(verb["llmOptions"]["response_create"].is_object());
    }

    #[test]
    fn tool_output_echoes_tool_call_id() {
        let out: Value =
            serde_json::from_str(&Outbound::tool_output("inv-9", r#"{"ok":true}"#).to_json())
                .unwrap();
        assert_eq!(out["type"], "command");
        assert_eq!(out["command"], "llm:tool-output");
        assert_eq!(out["tool_call_id"], "inv-9");
        assert_eq!(out["queueCommand"], false);
        assert_eq!(out["data"]["type"], "conversation.item.create");
        assert_eq!(out["data"]["item"]["type"], "function_call_output");
        assert_eq!(out["data"]["item"]["call_id"], "inv-9");
        assert_eq!(out["data"]["item"]["output"], r#"{"ok":true}"#);
    }

    #[test]
    fn transfer_dials_with_whisper_confirm_hook() {
        let out: Value = serde_json::from_str(
            &Outbound::redirect(vec![dial_transfer("+15550002222", Some("+15550003333"))])
                .to_json(),
        )
        .unwrap();
        assert_eq!(out["command"], "redirect");
        let dial = &out["data"][0];
        assert_eq!(dial["verb"], "dial");
        assert_eq!(dial["callerId"], "+15550003333");
        assert_eq!(dial["actionHook"], DIAL_ACTION_HOOK);
        assert_eq!(dial["target"][0]["type"], "phone");
        assert_eq!(dial["target"][0]["number"], "+15550002222");
        assert_eq!(dial["target"][0]["confirmHook"], WHISPER_HOOK);
    }

    #[test]
    fn hang_up_action_becomes_hangup_verb() {
        let verbs = action_verbs(&CallAction::HangUp {
            reason: "done".into(),
        });
        assert_eq!(
            serde_json::to_value(&verbs).unwrap(),
            json!([{"verb": "hangup"}])
        );
    }
}

//! jambonz WebSocket API wire format (application side), pure serde: the message
//! envelope jambonz sends (`session:new`, `llm:tool-call`, `call:status`, …) parsed
//! into [`Inbound`], and what the application sends back ([`Outbound`]: `ack` with
//! verbs, or a `command` — the only two types jambonz accepts), with builders for
//! the verbs switchboard uses (`dial`, `say`, `hangup`; the `llm` verb per vendor
//! lives in [`super::llm`]).
//!
//! Source of the facts: jambonz-feature-server 0.9.8 `lib/utils/ws-requestor.js`
//! (envelope `{type, msgid, call_sid, hook, data, b3}`, `data` snake-cased except
//! `sip`, `env_vars`, `args`, `customerData`; an app message whose `type` is not
//! `ack` or `command` raises an INVALID_APP_PAYLOAD alert), restated in
//! docs/jambonz.md.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actor_messages::CallAction;
use crate::carrier::jambonz::llm_verb::LlmVerb;

/// The WebSocket subprotocol jambonz offers and the server must select.
pub const SUBPROTOCOL: &str = "ws.jambonz.org";
/// `toolHook` of the `llm` verb: tool calls arrive as `llm:tool-call` with this hook.
pub const TOOL_HOOK: &str = "/llm-tool";
/// `eventHook` of the `llm` verb: vendor events arrive as `llm:event`.
pub const EVENT_HOOK: &str = "/llm-event";
/// `actionHook` of the `llm` verb: a `verb:hook` when the LLM session ends.
pub const LLM_ACTION_HOOK: &str = "/llm-done";
/// `actionHook` of a transfer `dial`: a `verb:hook` when the dialled leg ends.
pub const DIAL_ACTION_HOOK: &str = "/dial-done";
/// `confirmHook` of a transfer target: `dial:confirm` when the on-call person
/// answers, acked with the screening verbs ([`screen_verbs`]).
pub const SCREEN_HOOK: &str = "/screen";
/// `actionHook` of the screening `gather`: a `verb:hook` with `digits` when
/// the on-call person presses a key (feature-server 0.9.8 `lib/tasks/gather.js`).
pub const SCREEN_RESULT_HOOK: &str = "/screen-result";
/// Seconds the screening `gather` waits for a key.
pub const SCREEN_GATHER_SECS: u32 = 8;

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

/// The envelope of every jambonz → app message (docs/jambonz.md §The socket).
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

/// Call information carried by `session:new` / `session:reconnect` (snake-cased
/// by jambonz; feature-server 0.9.8 sends the `CallInfo` fields of
/// `lib/session/call-info.js` plus `sip`, `service_provider_sid`, `defaults`,
/// `env_vars`). Fields switchboard does not use are ignored.
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
    /// A vendor event from the LLM (the vendor's own JSON, e.g. an OpenAI
    /// Realtime server event or an Ultravox data message); read by
    /// [`super::llm`] for the call's vendor.
    LlmEvent { data: Value },
    /// The model wants a tool run; answer with [`super::llm::tool_output`].
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

/// Whether jambonz waits for an `ack` to a message of this type (docs/jambonz.md §Messages that wait for an `ack`).
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
        "llm:event" => Inbound::LlmEvent { data: env.data },
        "llm:tool-call" => Inbound::LlmToolCall {
            // The docs page says `call_id`; feature-server sends `tool_call_id`
            // (lib/tasks/llm/index.js `sendToolHook`).
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

/// A jambonz verb, written `{"verb": "<name>", …}` (the form
/// `@jambonz/verb-specifications` `normalizeJambones` accepts).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "verb", rename_all = "lowercase")]
pub enum Verb {
    /// Hand the call to a speech-to-speech model ([`super::llm`]).
    Llm(Box<LlmVerb>),
    /// Call another party and bridge.
    Dial(DialVerb),
    /// Collect a key (screening), prompting with a nested `say`.
    Gather(GatherVerb),
    /// Speak text with the application's default synthesizer.
    Say { text: String },
    /// End the call.
    Hangup {},
}

/// A short spoken message, then the end of the call: how switchboard turns a
/// call away on jambonz (never a bare SIP error).
pub fn say_and_hangup(text: &str) -> Vec<Verb> {
    vec![
        Verb::Say {
            text: text.to_string(),
        },
        Verb::Hangup {},
    ]
}

/// The `gather` verb, digits only (`@jambonz/verb-specifications` `gather`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatherVerb {
    /// `["digits"]`.
    pub input: Vec<String>,
    /// Keys to collect before the actionHook fires.
    pub num_digits: u32,
    /// Seconds to wait for input.
    pub timeout: u32,
    pub action_hook: String,
    /// The prompt, played while waiting.
    pub say: GatherSay,
}

/// The `say` nested in a `gather`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GatherSay {
    pub text: String,
}

/// Screening, acked to `dial:confirm` and run on the on-call person's leg
/// only (the caller hears ringback): a one-key `gather` saying `prompt`,
/// then `hangup`. A key reaches [`SCREEN_RESULT_HOOK`], whose ack decides
/// (no verbs left: jambonz bridges the legs); silence falls through to the
/// hangup, which declines (feature-server 0.9.8 `lib/utils/place-outdial.js`:
/// a B leg gone after its confirm app is no answer).
pub fn screen_verbs(prompt: &str) -> Vec<Verb> {
    vec![
        Verb::Gather(GatherVerb {
            input: vec!["digits".into()],
            num_digits: 1,
            timeout: SCREEN_GATHER_SECS,
            action_hook: SCREEN_RESULT_HOOK.into(),
            say: GatherSay {
                text: prompt.to_string(),
            },
        }),
        Verb::Hangup {},
    ]
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

/// A transfer to `number`: `dial` ringing `ring_secs` (`transfer.ring_secs`)
/// with the caller's number shown, [`SCREEN_HOOK`] as `confirmHook` so the
/// on-call person hears who is calling and presses 1 before the legs are
/// bridged, and [`DIAL_ACTION_HOOK`] told how the dial ended
/// (feature-server 0.9.8 `lib/tasks/dial.js`).
pub fn dial_transfer(number: &str, caller_id: Option<&str>, ring_secs: u32) -> Verb {
    Verb::Dial(DialVerb {
        caller_id: caller_id.map(str::to_string),
        answer_on_bridge: true,
        timeout: ring_secs,
        action_hook: DIAL_ACTION_HOOK.into(),
        target: vec![DialTarget {
            kind: "phone".into(),
            number: number.to_string(),
            confirm_hook: Some(SCREEN_HOOK.into()),
        }],
    })
}

/// The verbs that carry out a tool's [`CallAction`] on a jambonz call, sent as a
/// `redirect` after the tool output (so the model's goodbye can play first);
/// a transfer rings `ring_secs`.
pub fn action_verbs(action: &CallAction, ring_secs: u32) -> Vec<Verb> {
    match action {
        CallAction::HangUp { .. } => vec![Verb::Hangup {}],
        CallAction::Transfer { number, .. } => vec![dial_transfer(number, None, ring_secs)],
    }
}

/// An app → jambonz message. jambonz accepts exactly two types; anything else
/// is an invalid app payload (feature-server 0.9.8 `ws-requestor.js` `_onMessage`).
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
}

impl Outbound {
    /// `ack` for `msgid` with `verbs` (None = no verbs).
    pub fn ack(msgid: &str, verbs: Option<Vec<Verb>>) -> Outbound {
        Outbound::Ack {
            msgid: msgid.to_string(),
            data: verbs,
        }
    }

    /// A `command` run now (`queueCommand: false`).
    pub fn command(command: &str, tool_call_id: Option<&str>, data: Value) -> Outbound {
        Outbound::Command {
            command: command.to_string(),
            queue_command: false,
            tool_call_id: tool_call_id.map(str::to_string),
            data,
        }
    }

    /// `redirect`: replace the running verbs with `verbs` now.
    pub fn redirect(verbs: &[Verb]) -> Outbound {
        Outbound::command(
            "redirect",
            None,
            serde_json::to_value(verbs).unwrap_or(Value::Array(Vec::new())),
        )
    }

    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame from tests/fixtures/jambonz (feature-server 0.9.8 shapes).
    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jambonz")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    const SID: &str = "b6d2c8a4-3f1e-4c9a-9d7e-5a1f0e2b7c31";

    #[test]
    fn session_new_carries_call_info() {
        let Inbound::SessionNew { msgid, info } =
            parse_inbound(&fixture("session-new.json")).unwrap()
        else {
            panic!("not session:new");
        };
        assert_eq!(msgid, "auuHioXGktYh2ZFYxf3hAA");
        assert_eq!(info.call_sid, SID);
        assert_eq!(
            info.account_sid.as_deref(),
            Some("9351f46a-678c-43f5-b8a6-d4eb58d131af")
        );
        assert_eq!(info.to.as_deref(), Some("+15550100000"));
        assert_eq!(info.from.as_deref(), Some("+15550100001"));
        assert_eq!(info.caller_name.as_deref(), Some(""));
        let Inbound::SessionReconnect { msgid, info: again } =
            parse_inbound(&fixture("session-reconnect.json")).unwrap()
        else {
            panic!("not session:reconnect");
        };
        assert_eq!(msgid, "7kQm2LxPz9RtVb4NcW1sYe");
        assert_eq!(again, info, "a reconnect repeats the session:new data");
    }

    #[test]
    fn tool_call_keeps_id_and_args() {
        let parsed = parse_inbound(&fixture("llm-tool-call-openai.json")).unwrap();
        assert_eq!(
            parsed,
            Inbound::LlmToolCall {
                tool_call_id: "call_Qm3v8kT2xLp9".into(),
                name: "takeMessage".into(),
                args: json!({"callerName": "Dana Smith",
                    "message": "Please call me back this afternoon.", "urgency": "high"}),
            }
        );
        let docs_shape = r#"{"type":"llm:tool-call","msgid":"x","call_sid":"C1","data":{"call_id":"c7","name":"hangUp","args":{}}}"#;
        assert!(matches!(parse_inbound(docs_shape).unwrap(),
            Inbound::LlmToolCall { tool_call_id, .. } if tool_call_id == "c7"));
    }

    #[test]
    fn call_status_completed_is_final_with_duration() {
        let Inbound::CallStatus(info) =
            parse_inbound(&fixture("call-status-completed.json")).unwrap()
        else {
            panic!("not call:status");
        };
        assert!(info.is_final());
        assert_eq!(info.duration, Some(42));
        assert_eq!(info.call_termination_by.as_deref(), Some("caller"));
        let Inbound::CallStatus(info) =
            parse_inbound(&fixture("call-status-in-progress.json")).unwrap()
        else {
            panic!("not call:status");
        };
        assert!(!info.is_final());
        let bare = r#"{"type":"call:status","msgid":"m2","call_sid":"C1","data":{"call_status":"in-progress"}}"#;
        let Inbound::CallStatus(info) = parse_inbound(bare).unwrap() else {
            panic!("not call:status");
        };
        assert_eq!(info.call_sid, "C1", "call_sid falls back to the envelope");
    }

    #[test]
    fn hooks_and_events_keep_their_data() {
        let Inbound::VerbHook { msgid, hook, data } =
            parse_inbound(&fixture("verb-hook-llm-done.json")).unwrap()
        else {
            panic!("not verb:hook");
        };
        assert_eq!(msgid, "Rt9yUi7OpA5sDf3GhJ1kLz");
        assert_eq!(hook, LLM_ACTION_HOOK);
        assert_eq!(data["completion_reason"], "normal conversation end");
        assert!(matches!(
            parse_inbound(&fixture("dial-confirm.json")).unwrap(),
            Inbound::DialConfirm { msgid, .. } if msgid == "Vb1nMq3WeR5tYu7IoP9aSd"
        ));
        let Inbound::LlmEvent { data } =
            parse_inbound(&fixture("llm-event-openai-response-created.json")).unwrap()
        else {
            panic!("not llm:event");
        };
        assert_eq!(data["type"], "response.created");
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
    fn outbound_is_only_ack_or_command() {
        let ack: Value =
            serde_json::from_str(&Outbound::ack("m1", Some(say_and_hangup("Bye."))).to_json())
                .unwrap();
        assert_eq!(
            ack,
            json!({"type": "ack", "msgid": "m1",
                   "data": [{"verb": "say", "text": "Bye."}, {"verb": "hangup"}]})
        );
        let bare: Value = serde_json::from_str(&Outbound::ack("m2", None).to_json()).unwrap();
        assert_eq!(bare, json!({"type": "ack", "msgid": "m2"}));
    }

    #[test]
    fn transfer_dials_with_screening_confirm_hook() {
        let out: Value = serde_json::from_str(
            &Outbound::redirect(&[dial_transfer("+15550002222", Some("+15550003333"), 20)])
                .to_json(),
        )
        .unwrap();
        assert_eq!(out["command"], "redirect");
        assert_eq!(out["queueCommand"], false);
        let dial = &out["data"][0];
        assert_eq!(dial["verb"], "dial");
        assert_eq!(dial["callerId"], "+15550003333");
        assert_eq!(dial["actionHook"], DIAL_ACTION_HOOK);
        assert_eq!(dial["target"][0]["type"], "phone");
        assert_eq!(dial["target"][0]["number"], "+15550002222");
        assert_eq!(dial["timeout"], 20);
        assert_eq!(dial["target"][0]["confirmHook"], SCREEN_HOOK);
    }

    #[test]
    fn screening_gathers_one_key_then_hangs_up() {
        assert_eq!(
            serde_json::to_value(screen_verbs("Press 1.")).unwrap(),
            json!([
                {"verb": "gather", "input": ["digits"], "numDigits": 1, "timeout": 8,
                 "actionHook": "/screen-result", "say": {"text": "Press 1."}},
                {"verb": "hangup"}
            ])
        );
    }

    #[test]
    fn hang_up_action_becomes_hangup_verb() {
        let verbs = action_verbs(
            &CallAction::HangUp {
                reason: "done".into(),
            },
            20,
        );
        assert_eq!(
            serde_json::to_value(&verbs).unwrap(),
            json!([{"verb": "hangup"}])
        );
    }
}

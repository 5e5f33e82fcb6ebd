//! The actor message catalogue: typed messages the call tree's actors and the
//! edges exchange. JSON exists only at the edges; between actors every event is
//! one of these structs (the model link's own vocabulary, `ModelEvent` and
//! `LinkCommand`, lives in `model` beside the protocols it maps).
//!
//! Directions: carrier edge → `CallActor` ([`AudioFrame`], [`MarkEchoed`],
//! [`DtmfReceived`], [`CarrierHangup`], [`TransferOutcome`]); `CallActor` → carrier
//! edge ([`CarrierCommand`]); `CallActor` ↔ `ModelLinkActor` ([`AudioFrame`],
//! `ModelEvent`, `LinkCommand`, [`LinkDown`]); `CallActor` → `ToolActor`
//! ([`ToolCall`]) → `CallActor` ([`ToolResult`]); call ↔ `Supervisor`
//! ([`CallFinished`], [`LinkFailed`] up; [`RestartLink`], [`EndCall`] down).

use actix::prelude::*;
use bytestring::ByteString;
use std::time::Duration;

use crate::lifecycle::EndReason;

/// One chunk of caller audio, base64 in the carrier's codec (Twilio: 20 ms µ-law =
/// 160 bytes = 216 base64 chars). Passed through to the model without decoding when
/// the model session uses the same codec.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct AudioFrame {
    /// Base64 audio payload: a zero-copy slice of the carrier's received frame
    /// (no allocation per frame).
    pub payload: ByteString,
}

/// The carrier reports that audio up to one of our marks has played (Twilio `mark`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct MarkEchoed {
    pub name: String,
}

/// The caller pressed a key (Twilio `dtmf`, digit `0-9*#`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct DtmfReceived {
    pub digit: String,
}

/// The carrier side of the call ended: `stop`, socket closed, or idle timeout.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct CarrierHangup {
    /// Recorded as `ended_reason` (`caller_hangup`, `carrier_closed`, `carrier_timeout`, …).
    pub reason: EndReason,
}

/// What a call asks its carrier edge to do.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum CarrierCommand {
    /// Play base64 audio in the carrier's codec (a slice of the model's frame).
    Media(ByteString),
    /// Ask to be told (by [`MarkEchoed`]) when audio sent so far has played.
    Mark(String),
    /// Drop all audio not yet played (barge-in).
    Clear,
    /// End the stream with a WebSocket close code and reason.
    Close { code: u16, reason: String },
    /// Hand the caller to `number` (E.164) the carrier's way, ringing it
    /// `ring_secs` seconds, with `screen_url` (TwiML screening the person
    /// answering) and `action_url` (told how the dial ended). Answered with a
    /// [`TransferOutcome`]. Twilio: the call's TwiML replaced through the REST
    /// API (Calls resource, `Twiml` field) with
    /// `<Dial action timeout><Number url>` ("TwiML Voice: `<Dial>`").
    Transfer {
        number: String,
        screen_url: String,
        action_url: String,
        ring_secs: u32,
    },
    /// The model is gone: have the carrier take the caller's voicemail for call
    /// `call_id`, if it can. Twilio replaces the call's TwiML through the REST
    /// API with `<Say>` + `<Record>` (its recording reaches
    /// `/twiml/voicemail/recording`), which ends this stream. Answered with a
    /// [`VoicemailHandedOff`]; on `Err` the call records the voicemail itself.
    RecordVoicemail { call_id: String },
}

/// The carrier edge's answer to [`CarrierCommand::RecordVoicemail`]: `Ok` once
/// the carrier is taking the voicemail (its stream ends next); `Err` with the
/// reason when it cannot (the stream goes on as before).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct VoicemailHandedOff(pub Result<(), String>);

/// Why a carrier edge could not transfer a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransferError {
    /// This carrier or call cannot be transferred (no credentials, no carrier
    /// call id, a browser call).
    #[error("transfer impossible: {0}")]
    Impossible(String),
    /// The carrier refused or did not answer the transfer request.
    #[error("transfer failed: {0}")]
    Failed(String),
}

/// The carrier edge's answer to [`CarrierCommand::Transfer`]: `Ok` once the
/// carrier has taken the caller (the on-call number then rings, and the call
/// waits for the dial's end); on `Err` the call goes on with the receptionist.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct TransferOutcome(pub Result<(), TransferError>);

/// The model link failed (connect error, abnormal close, missed heartbeat, session cap).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct LinkDown {
    /// Which link of the call failed (see `ModelEvent::Ready`).
    pub generation: u32,
    /// Human-readable cause, logged and published.
    pub cause: String,
    /// Assistant text received for answers that never finished (`(item_id,
    /// text so far)`): what was playing when the link went down, so the replayed
    /// history holds it.
    pub unfinished: Vec<(String, String)>,
}

/// A tool call from the model, with everything the tool needs to act for the caller.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ToolCall {
    /// The model's `call_id`, echoed in the `function_call_output`.
    pub call_id: String,
    pub name: String,
    /// JSON-encoded arguments, exactly as the model sent them (may be invalid JSON).
    pub arguments: String,
    /// The conversation so far (oldest first), for tools that reason over it
    /// (the chat supervisor).
    pub conversation: Vec<(crate::model::session::Role, String)>,
}

/// What a call should do after a tool ran.
#[derive(Debug, Clone, PartialEq)]
pub enum CallAction {
    /// End the call once the goodbye audio has played; `reason` is recorded.
    HangUp { reason: String },
    /// Once the hand-off line has played, hand the caller to a person: each carrier
    /// dials `number` its own way (Twilio: the call's TwiML replaced with `<Dial>`
    /// whose `<Number url>` screens the person answering, docs/twilio.md
    /// §Changing a live call; jambonz: a `dial` redirect, docs/jambonz.md §Transfers); `reason` is recorded.
    Transfer {
        /// The number dialled (E.164).
        number: String,
        /// TwiML URL screening the person answering (Twilio `<Number url>`).
        screen_url: String,
        /// TwiML URL told how the dial ended (Twilio `<Dial action>`).
        action_url: String,
        reason: String,
    },
}

/// The outcome of one [`ToolCall`]; the call records it (`tool_invocations` row,
/// `tool_call` event, metric) through its ledger.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ToolResult {
    pub call_id: String,
    pub name: String,
    /// The arguments as the model sent them (JSON text, maybe invalid).
    pub arguments: String,
    /// JSON text for the `function_call_output` (`{"error":…}` on failure).
    pub output: String,
    /// What went wrong, for the record (`None` on success).
    pub error: Option<String>,
    pub is_error: bool,
    pub action: Option<CallAction>,
    pub duration: Duration,
}

/// Ends a call from outside (drain timeout, operator, the Supervisor giving up on
/// its model link); `apologise` plays the apology clip first.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct EndCall {
    pub reason: EndReason,
    pub apologise: bool,
}

/// Call → Supervisor: the call ended and releases its admission slot.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct CallFinished {
    pub call_id: String,
}

/// Call → Supervisor: the call's model link failed for the `failures`-th time
/// (1-based) with `cause`. The Supervisor answers with [`RestartLink`] or
/// [`EndCall`] (restart budget spent: `model_unavailable` with `apologise`,
/// which a call with a caller on the line turns into a voicemail).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct LinkFailed {
    pub call_id: String,
    pub failures: u32,
    pub cause: String,
}

/// Supervisor → call: start a new model link after `after`, replaying the
/// conversation (`attempt` from 1; `cause` is the failure being recovered from).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RestartLink {
    pub after: Duration,
    pub attempt: u32,
    pub cause: String,
}

/// An operator's action on a live call (the dashboard API), as carried to the
/// node holding the call: `{"action":"hang_up"}`,
/// `{"action":"session","settings":{…}}`,
/// `{"action":"transfer","reason":"…"}` or
/// `{"action":"answered_by","answered_by":"machine_end_beep"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OperatorAction {
    /// End the call now (`operator_hangup`), without the apology.
    HangUp,
    /// Push a `session.update` with these settings.
    Session {
        settings: crate::session_settings::SessionSettings,
    },
    /// Hand the caller to the tenant's on-call number now, as the
    /// `transferToOnCall` tool does (the screening names `reason`).
    Transfer { reason: String },
    /// Twilio's answering machine detection said who answered this outbound
    /// call (`/twiml/amd`): recorded; a machine whose greeting has ended gets
    /// the voicemail ([`AnsweredBy::is_machine_ready_for_message`]).
    AnsweredBy {
        answered_by: crate::lifecycle::AnsweredBy,
    },
}

/// What became of an [`OperateCall`]; also the JSON answer between nodes
/// (`{"outcome":"applied"}`, `{"outcome":"not_found"}`,
/// `{"outcome":"refused","error":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OperateOutcome {
    /// The node carrying the call took the action.
    Applied,
    /// No live call by that id here (or, across nodes, anywhere).
    NotFound,
    /// The call is live but cannot take the action; `error` says why.
    Refused { error: String },
}

/// Call → its actor: carry out an operator's transfer (`Err` says why not:
/// not a phone call, no on-call number, Twilio credentials missing, or the
/// call is already ending).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct OperatorTransfer {
    pub reason: String,
}

/// Call → its actor: Twilio's answering machine detection verdict. The call
/// records it; for a machine whose greeting has ended it stops its
/// conversation and ends as `answering_machine` once the voicemail TwiML has
/// replaced its stream (or after a grace period). `Err` says why the
/// voicemail cannot be left (the call is already ending or transferring).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct MachineDetected {
    pub answered_by: crate::lifecycle::AnsweredBy,
}

/// Operator → Supervisor: apply `action` to the live call `call_id`. With
/// `tenant`, only to a call of that tenant (the operator's scope, carried to
/// whichever node holds the call); another tenant's call is `NotFound`.
#[derive(Debug, Clone, Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "OperateOutcome")]
pub struct OperateCall {
    pub call_id: String,
    #[serde(flatten)]
    pub action: OperatorAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answering machine verdict crosses nodes like any operator action.
    #[test]
    fn answered_by_travels_as_json_between_nodes() {
        let op = OperateCall {
            call_id: "c1".into(),
            action: OperatorAction::AnsweredBy {
                answered_by: crate::lifecycle::AnsweredBy::MachineEndBeep,
            },
            tenant: None,
        };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"call_id":"c1","action":"answered_by","answered_by":"machine_end_beep"})
        );
        let back: OperateCall = serde_json::from_value(json).unwrap();
        assert_eq!(back.action, op.action);
    }
}

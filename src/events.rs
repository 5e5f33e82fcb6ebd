//! Live call events for operators: the feed behind `GET /logs` (dashboard) and the
//! transcript printed by `switchboard call`. Published by call actors on a
//! broadcast channel; never on the audio path (transcripts, tool calls and
//! lifecycle only, not frames).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// One event of a live call, as sent (JSON, one per WebSocket text frame) on `GET /logs`.
///
/// `call_id` is switchboard's id (UUID); `call_sid` is the carrier's id (Twilio `CA…`),
/// when the carrier gave one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEvent {
    /// The call was admitted and linked to a model.
    CallStarted {
        call_id: String,
        call_sid: Option<String>,
        tenant: Option<String>,
        from: Option<String>,
        to: Option<String>,
        carrier: String,
    },
    /// A final transcript line: `role` is `user` or `assistant`. `interrupted` is true
    /// when an assistant line was cut at what the caller heard (barge-in).
    Transcript {
        call_id: String,
        call_sid: Option<String>,
        role: String,
        text: String,
        interrupted: bool,
    },
    /// A tool call finished (`result` or `error` is set).
    ToolCall {
        call_id: String,
        call_sid: Option<String>,
        name: String,
        arguments: String,
        result: Option<String>,
        error: Option<String>,
        duration_ms: u64,
    },
    /// The model link dropped and is being restarted (`attempt` starts at 1).
    LinkRestart {
        call_id: String,
        call_sid: Option<String>,
        attempt: u32,
        cause: String,
    },
    /// The call ended; `reason` is the recorded `ended_reason`.
    CallEnded {
        call_id: String,
        call_sid: Option<String>,
        reason: String,
        duration_ms: u64,
    },
}

impl CallEvent {
    /// The carrier call id this event belongs to, for filtering (`/logs?call_sid=`).
    pub fn call_sid(&self) -> Option<&str> {
        match self {
            CallEvent::CallStarted { call_sid, .. }
            | CallEvent::Transcript { call_sid, .. }
            | CallEvent::ToolCall { call_sid, .. }
            | CallEvent::LinkRestart { call_sid, .. }
            | CallEvent::CallEnded { call_sid, .. } => call_sid.as_deref(),
        }
    }
}

/// Fan-out of [`CallEvent`]s to any number of listeners. Slow listeners lose old
/// events (bounded ring of [`EventBus::CAPACITY`]) instead of slowing calls.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<CallEvent>,
}

impl EventBus {
    /// Events kept for a lagging listener before it starts missing them.
    pub const CAPACITY: usize = 1024;

    /// A bus with no listeners yet.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(Self::CAPACITY);
        EventBus { tx }
    }

    /// Publishes an event; without listeners it is dropped.
    pub fn publish(&self, event: CallEvent) {
        let _ = self.tx.send(event);
    }

    /// A new listener that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

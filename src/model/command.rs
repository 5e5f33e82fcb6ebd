//! [`LinkCommand`]: what a call asks its model link to do, besides relaying
//! audio. Defined beside the protocols it becomes (`conversation.item.truncate`,
//! `response.cancel`, `session.update`, …) so the model trackers and the link speak
//! one vocabulary without importing the call tree.

use actix::prelude::*;

/// What a call asks its model link to do (besides relaying [`AudioFrame`]s).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum LinkCommand {
    /// `conversation.item.truncate` at what the caller heard.
    Truncate { item_id: String, audio_end_ms: u32 },
    /// `response.cancel` (providers without truncate, or an explicit stop).
    CancelResponse,
    /// One `function_call_output` item per finished tool call.
    ToolOutput { call_id: String, output: String },
    /// `response.create` after tool outputs (or to greet).
    CreateResponse,
    /// Something the caller did that the model must hear of (a key press),
    /// as a line of the conversation: Realtime (OpenAI, xAI)
    /// `conversation.item.create` with a `user` message of one `input_text`
    /// part, then `response.create` when `respond`; GPT-Live
    /// `session.instructions.append` (general context), which the model
    /// answers by itself. docs/openai-realtime.md §Client events,
    /// docs/openai-live.md.
    CallerEvent { text: String, respond: bool },
    /// Close the model socket normally; no restart follows.
    Shutdown,
    /// Send a `session.update` for this spec to the live session (operator edit);
    /// later restarts of the link use it too.
    UpdateSession(Box<crate::model::session::SessionSpec>),
    /// The pre-warmed call's stream attached on this link's thread: the frames
    /// kept for a hand-over are no longer needed.
    StopRecording,
}

impl LinkCommand {
    /// The Realtime client events this command becomes on a configured
    /// session; empty for what only a link does itself (`Shutdown`,
    /// `UpdateSession`, `StopRecording`). The same for a relayed call's link
    /// and an OpenAI SIP call's sideband.
    pub fn realtime_events(&self) -> Vec<crate::model::realtime::ClientEvent> {
        use crate::model::realtime::ClientEvent;
        use crate::model::session::{self, HistoryItem, Role};
        match self {
            LinkCommand::Truncate {
                item_id,
                audio_end_ms,
            } => vec![ClientEvent::truncate(item_id.clone(), *audio_end_ms)],
            LinkCommand::CancelResponse => vec![ClientEvent::response_cancel()],
            LinkCommand::ToolOutput { call_id, output } => vec![ClientEvent::function_call_output(
                call_id.clone(),
                output.clone(),
            )],
            LinkCommand::CreateResponse => vec![ClientEvent::response_create()],
            LinkCommand::CallerEvent { text, respond } => {
                let line = HistoryItem::Message {
                    role: Role::User,
                    text: text.clone(),
                };
                let mut events = session::history_items(&[line]);
                if *respond {
                    events.push(ClientEvent::response_create());
                }
                events
            }
            LinkCommand::Shutdown | LinkCommand::UpdateSession(_) | LinkCommand::StopRecording => {
                Vec::new()
            }
        }
    }
}

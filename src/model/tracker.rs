//! `ResponseTracker`: turns a realtime session's server events (other than
//! audio) into what a call acts on ([`ModelEvent`]), the same for every
//! provider whatever fields it leaves out. It keeps the little state the wire
//! spreads over several events: the response and assistant item in progress
//! (xAI's audio and transcript events may carry no `item_id`), the transcript
//! deltas of each answer (xAI's `response.output_audio_transcript.done` carries
//! no text), and each function call's name (the GA
//! `response.function_call_arguments.done` carries none; the name is on the
//! `function_call` item of `response.output_item.added`). Pure: no I/O, no
//! actors.

use std::collections::{HashMap, HashSet};

use crate::model::event::ModelEvent;
use crate::model::realtime::{Item, ServerEvent};

/// Key of an answer whose provider names neither item nor response.
const ANONYMOUS_ITEM: &str = "response";

/// Per-link state for interpreting server events; see the module docs.
#[derive(Debug, Default)]
pub struct ResponseTracker {
    /// `resp_…` of the response in progress.
    response_id: Option<String>,
    /// Assistant message item in progress (`response.output_item.added`).
    message_item: Option<String>,
    /// Transcript text received per assistant item key, in arrival order of keys.
    transcripts: Vec<(String, String)>,
    /// `call_id` → function name, from `function_call` items.
    names: HashMap<String, String>,
    /// Function calls whose arguments are complete but whose name is not yet known.
    unnamed: HashMap<String, String>,
    /// Calls already handed to the call (a server may repeat a call in
    /// `arguments.done` and `output_item.done`).
    dispatched: HashSet<String>,
}

impl ResponseTracker {
    /// A tracker for a fresh session.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key an assistant answer's audio and transcript share: the provider's
    /// `item_id` when sent, else the message item or response in progress.
    pub fn item_key<'k>(
        &'k self,
        item_id: Option<&'k str>,
        response_id: Option<&'k str>,
    ) -> &'k str {
        item_id
            .filter(|id| !id.is_empty())
            .or(self.message_item.as_deref())
            .or(response_id.filter(|id| !id.is_empty()))
            .or(self.response_id.as_deref())
            .unwrap_or(ANONYMOUS_ITEM)
    }

    /// [`Self::item_key`] for an audio delta. The first audio that names its
    /// item also names the answer for transcript events that do not (xAI's
    /// transcript deltas carry only `response_id`): text gathered so far under
    /// the response moves to the item. Allocates only for the first frame of an
    /// answer.
    pub fn audio_key(&mut self, item_id: Option<&str>, response_id: Option<&str>) -> String {
        if let Some(item) = item_id.filter(|id| !id.is_empty()) {
            if self.message_item.is_none() {
                let provisional = self.item_key(None, response_id).to_string();
                self.message_item = Some(item.to_string());
                if let Some(entry) = self.transcripts.iter_mut().find(|(k, _)| *k == provisional) {
                    entry.0 = item.to_string();
                }
            }
            return item.to_string();
        }
        self.item_key(None, response_id).to_string()
    }

    /// Interprets one server event (audio deltas are the link's own business);
    /// what the call must hear of it is pushed onto `out`.
    pub fn on_event(&mut self, event: ServerEvent<'_>, out: &mut Vec<ModelEvent>) {
        match event {
            ServerEvent::ResponseCreated { response } => {
                self.response_id = response.id;
                self.message_item = None;
                out.push(ModelEvent::ResponseStarted);
            }
            ServerEvent::OutputItemAdded { item, .. } => self.on_item(item, false, out),
            ServerEvent::OutputItemDone { item, .. } => self.on_item(item, true, out),
            ServerEvent::SpeechStarted {
                audio_start_ms,
                item_id,
            } => out.push(ModelEvent::SpeechStarted {
                audio_start_ms,
                item_id,
            }),
            ServerEvent::SpeechStopped { audio_end_ms, .. } => {
                out.push(ModelEvent::SpeechStopped { audio_end_ms })
            }
            ServerEvent::InputTranscriptionCompleted {
                item_id,
                transcript,
                ..
            } => out.push(ModelEvent::UserTranscript {
                item_id,
                text: transcript,
            }),
            ServerEvent::OutputAudioTranscriptDelta {
                response_id,
                item_id,
                delta,
                ..
            } => {
                let key = self
                    .item_key(item_id.as_deref(), response_id.as_deref())
                    .to_string();
                self.transcript_mut(key).push_str(&delta);
            }
            ServerEvent::OutputAudioTranscriptDone {
                response_id,
                item_id,
                transcript,
                ..
            } => {
                let key = self
                    .item_key(item_id.as_deref(), response_id.as_deref())
                    .to_string();
                let so_far = self.take_transcript(&key);
                let text = transcript.filter(|t| !t.is_empty()).or(so_far);
                if let Some(text) = text {
                    out.push(ModelEvent::AssistantTranscript { item_id: key, text });
                }
            }
            ServerEvent::FunctionCallArgumentsDone {
                call_id,
                name,
                arguments,
                ..
            } => {
                let Some(call_id) = call_id.filter(|c| !c.is_empty()) else {
                    out.push(ModelEvent::Error {
                        code: "function_call_without_call_id".into(),
                        message: "response.function_call_arguments.done without call_id: \
                                  the call cannot be answered"
                            .into(),
                    });
                    return;
                };
                let arguments = arguments.unwrap_or_default();
                match name
                    .filter(|n| !n.is_empty())
                    .or_else(|| self.names.get(&call_id).cloned())
                {
                    Some(name) => self.dispatch(call_id, name, arguments, out),
                    // The name comes with the item (`response.output_item.done`).
                    None => {
                        self.unnamed.insert(call_id, arguments);
                    }
                }
            }
            ServerEvent::ResponseDone { response } => {
                // Answers whose transcript never got a `.done` (a provider that
                // sends none, or a cancelled answer) are complete now.
                for (item_id, text) in std::mem::take(&mut self.transcripts) {
                    if !text.trim().is_empty() {
                        out.push(ModelEvent::AssistantTranscript { item_id, text });
                    }
                }
                self.response_id = None;
                self.message_item = None;
                out.push(ModelEvent::ResponseDone {
                    status: response.status.as_str().to_string(),
                });
            }
            ServerEvent::Error {
                error,
                code,
                message,
            } => {
                let (code, message) = ServerEvent::error_summary(&error, &code, &message);
                out.push(ModelEvent::Error { code, message });
            }
            _ => {}
        }
    }

    /// Assistant text received for answers that have not finished: `(item key,
    /// text so far)`, emptied.
    pub fn take_unfinished(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.transcripts)
            .into_iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .collect()
    }

    fn on_item(&mut self, item: Item, done: bool, out: &mut Vec<ModelEvent>) {
        match item {
            Item::Message { id, .. } if !done => self.message_item = id,
            Item::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => {
                if call_id.is_empty() || name.is_empty() {
                    return;
                }
                self.names.insert(call_id.clone(), name.clone());
                if let Some(args) = self.unnamed.remove(&call_id) {
                    self.dispatch(call_id, name, args, out);
                } else if done {
                    // A server that never sent `arguments.done` for this call.
                    self.dispatch(call_id, name, arguments, out);
                }
            }
            _ => {}
        }
    }

    fn dispatch(
        &mut self,
        call_id: String,
        name: String,
        arguments: String,
        out: &mut Vec<ModelEvent>,
    ) {
        if !self.dispatched.insert(call_id.clone()) {
            return;
        }
        let arguments = if arguments.trim().is_empty() {
            "{}".to_string()
        } else {
            arguments
        };
        out.push(ModelEvent::ToolCallRequested {
            call_id,
            name,
            arguments,
        });
    }

    fn transcript_mut(&mut self, key: String) -> &mut String {
        match self.transcripts.iter().position(|(k, _)| *k == key) {
            Some(i) => &mut self.transcripts[i].1,
            None => {
                self.transcripts.push((key, String::new()));
                let last = self.transcripts.len() - 1;
                &mut self.transcripts[last].1
            }
        }
    }

    fn take_transcript(&mut self, key: &str) -> Option<String> {
        let i = self.transcripts.iter().position(|(k, _)| k == key)?;
        Some(self.transcripts.remove(i).1).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::realtime::parse_server_event;

    fn feed(tracker: &mut ResponseTracker, frames: &[&str]) -> Vec<ModelEvent> {
        let mut out = Vec::new();
        for frame in frames {
            let event = parse_server_event(frame).expect("frame parses");
            tracker.on_event(event, &mut out);
        }
        out
    }

    #[test]
    fn ga_tool_name_comes_from_the_function_call_item() {
        let mut t = ResponseTracker::new();
        let out = feed(
            &mut t,
            &[
                r#"{"type":"response.created","event_id":"e1","response":{"id":"resp_1","object":"realtime.response","status":"in_progress","output":[]}}"#,
                r#"{"type":"response.output_item.added","event_id":"e2","response_id":"resp_1","output_index":0,"item":{"id":"item_f","type":"function_call","status":"in_progress","name":"takeMessage","call_id":"call_1","arguments":""}}"#,
                r#"{"type":"response.function_call_arguments.done","event_id":"e3","response_id":"resp_1","item_id":"item_f","output_index":0,"call_id":"call_1","arguments":"{\"message\":\"hi\"}"}"#,
                r#"{"type":"response.output_item.done","event_id":"e4","response_id":"resp_1","output_index":0,"item":{"id":"item_f","type":"function_call","status":"completed","name":"takeMessage","call_id":"call_1","arguments":"{\"message\":\"hi\"}"}}"#,
            ],
        );
        let calls: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                ModelEvent::ToolCallRequested { name, call_id, .. } => Some((name, call_id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            vec![(&"takeMessage".to_string(), &"call_1".to_string())]
        );
    }

    #[test]
    fn xai_minimal_events_give_transcript_and_tool_call() {
        let mut t = ResponseTracker::new();
        let out = feed(
            &mut t,
            &[
                r#"{"type":"response.created","event_id":"e1","response":{"id":"resp_9","object":"realtime.response","status":"in_progress","output":[]}}"#,
                r#"{"type":"response.output_audio_transcript.delta","event_id":"e2","response_id":"resp_9","delta":"Hello, "}"#,
                r#"{"type":"response.output_audio_transcript.delta","event_id":"e3","response_id":"resp_9","delta":"Acme Dental."}"#,
                r#"{"type":"response.output_audio_transcript.done","event_id":"e4","response_id":"resp_9"}"#,
                r#"{"type":"response.function_call_arguments.done","event_id":"e5","call_id":"c7","name":"hangUp","arguments":"{}"}"#,
                r#"{"type":"response.done","event_id":"e6","response":{"id":"resp_9","object":"realtime.response","status":"completed","output":[]}}"#,
            ],
        );
        assert!(out.iter().any(|e| matches!(e,
            ModelEvent::AssistantTranscript { item_id, text } if item_id == "resp_9" && text == "Hello, Acme Dental.")));
        assert!(out
            .iter()
            .any(|e| matches!(e, ModelEvent::ToolCallRequested { name, .. } if name == "hangUp")));
        assert!(out
            .iter()
            .any(|e| matches!(e, ModelEvent::ResponseDone { status } if status == "completed")));
        assert_eq!(t.item_key(None, None), ANONYMOUS_ITEM);
    }

    #[test]
    fn transcript_without_item_follows_the_audio_item() {
        let mut t = ResponseTracker::new();
        let mut out = feed(
            &mut t,
            &[
                r#"{"type":"response.created","response":{"id":"resp_2","status":"in_progress"}}"#,
                r#"{"type":"response.output_audio_transcript.delta","response_id":"resp_2","delta":"Good "}"#,
            ],
        );
        assert_eq!(t.audio_key(Some("item_7"), Some("resp_2")), "item_7");
        out.extend(feed(
            &mut t,
            &[
                r#"{"type":"response.output_audio_transcript.delta","response_id":"resp_2","delta":"morning"}"#,
                r#"{"type":"response.output_audio_transcript.done","response_id":"resp_2"}"#,
            ],
        ));
        assert!(out.iter().any(|e| matches!(e,
            ModelEvent::AssistantTranscript { item_id, text } if item_id == "item_7" && text == "Good morning")));
    }

    #[test]
    fn unnamed_call_waits_for_its_item_and_runs_once() {
        let mut t = ResponseTracker::new();
        let out = feed(
            &mut t,
            &[
                r#"{"type":"response.function_call_arguments.done","call_id":"c1","arguments":"{}"}"#,
                r#"{"type":"response.output_item.done","item":{"type":"function_call","call_id":"c1","name":"checkAvailability","arguments":"{}"}}"#,
                r#"{"type":"response.output_item.done","item":{"type":"function_call","call_id":"c1","name":"checkAvailability","arguments":"{}"}}"#,
            ],
        );
        let n = out
            .iter()
            .filter(|e| matches!(e, ModelEvent::ToolCallRequested { .. }))
            .count();
        assert_eq!(n, 1);
    }

    #[test]
    fn errors_in_both_shapes() {
        let mut t = ResponseTracker::new();
        let out = feed(
            &mut t,
            &[
                r#"{"type":"error","event_id":"e1","error":{"code":"bad","message":"Bad thing"}}"#,
                r#"{"type":"error","event_id":"e2","error":"Flat text","code":"flat_code"}"#,
                r#"{"type":"error","event_id":"e3","code":"top","message":"Top level"}"#,
            ],
        );
        let errors: Vec<(String, String)> = out
            .into_iter()
            .filter_map(|e| match e {
                ModelEvent::Error { code, message } => Some((code, message)),
                _ => None,
            })
            .collect();
        assert_eq!(
            errors,
            vec![
                ("bad".into(), "Bad thing".into()),
                ("flat_code".into(), "Flat text".into()),
                ("top".into(), "Top level".into()),
            ]
        );
    }

    #[test]
    fn unfinished_answer_is_handed_over() {
        let mut t = ResponseTracker::new();
        feed(
            &mut t,
            &[
                r#"{"type":"response.output_item.added","response_id":"r","output_index":0,"item":{"id":"item_a","type":"message","role":"assistant","content":[]}}"#,
                r#"{"type":"response.output_audio_transcript.delta","response_id":"r","item_id":"item_a","output_index":0,"content_index":0,"delta":"Your booking is"}"#,
            ],
        );
        assert_eq!(
            t.take_unfinished(),
            vec![("item_a".to_string(), "Your booking is".to_string())]
        );
        assert!(t.take_unfinished().is_empty());
    }
}

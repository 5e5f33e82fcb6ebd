//! `LiveTracker`: turns a GPT-Live session's server events into the typed
//! [`ModelEvent`]s a call understands, and the call's [`LinkCommand`]s into
//! GPT-Live client events. Pure: no I/O, no actors; the link feeds it frames,
//! commands and a clock.
//!
//! GPT-Live has no items, responses or turn events: the output is one audio
//! track, transcripts are fragments with session-timeline times, tools arrive
//! through the backend's nested Responses stream. So the tracker
//! - groups transcript fragments into one line per speaker turn: a turn ends
//!   when the other speaker starts, or after [`TURN_GAP`] without a fragment
//!   (or voiced audio, for the assistant);
//! - names each assistant turn (its audio and its line share the id) and
//!   marks audio that carries no speech as quiet, so the call's playback
//!   knows when the caller has heard a reply (the track never stops);
//! - reports a reply the call asked for (greeting, the continuation after
//!   tool results) as `ResponseDone` once it has been spoken, and a backend
//!   response that requested tools as `ResponseDone` when it finishes;
//! - keeps "all outputs, then one `response.create`" and drops the results of
//!   a request the voice model has since replaced by a newer delegation.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::audio::format::AudioFormat;
use crate::model::command::LinkCommand;
use crate::model::event::ModelEvent;
use crate::model::live::{self, BackendEvent, ClientEvent, ServerEvent};

/// Silence (no fragment, no voiced audio) that ends a speaker's turn.
pub const TURN_GAP: Duration = Duration::from_millis(1000);

/// How long a reply the call asked for may take to start before it is
/// reported done anyway (the model chose to say nothing).
const SPEECH_WAIT: Duration = Duration::from_secs(8);

/// Longest wait for an asked reply in all, from the ask.
const ASK_MAX: Duration = Duration::from_secs(30);

/// Peak sample magnitude (PCM16) above which a chunk of output audio counts as
/// speech: about −36 dBFS, well over a codec's idle noise.
const VOICED_PEAK: i16 = 500;

/// Where one output audio delta goes.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioRoute {
    /// Part of assistant turn `item_id`: played and tracked.
    Speech { item_id: String },
    /// No speech in it and no turn open: played, not tracked.
    Quiet,
}

/// What ended the session, for the link to report.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEnd {
    /// `session.closed`'s `reason`.
    pub reason: String,
}

#[derive(Debug)]
struct Turn {
    id: String,
    text: String,
    opened: Instant,
    last: Instant,
    /// Session-timeline end of the newest fragment, ms.
    end_ms: Option<u64>,
}

impl Turn {
    /// Whether a fragment starting at `start_ms` begins a new turn: it
    /// follows this one's last fragment by [`TURN_GAP`] or more on the
    /// session's timeline.
    fn gap_before(&self, start_ms: Option<u64>) -> bool {
        match (self.end_ms, start_ms) {
            (Some(end), Some(start)) => start >= end + TURN_GAP.as_millis() as u64,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ask {
    /// Speak now (the greeting): done when a turn opened after `at` ends.
    Speech,
    /// Tool results sent, backend continued: done when the backend has
    /// finished and the turn speaking its result has ended.
    Continuation { backend_done: Option<Instant> },
}

#[derive(Debug)]
struct Asked {
    kind: Ask,
    at: Instant,
    /// A turn that counts for this ask has opened and not yet ended.
    speaking: bool,
}

/// State of one GPT-Live session as the call sees it.
#[derive(Debug)]
pub struct LiveTracker {
    generation: u32,
    format: AudioFormat,
    assistant: Option<Turn>,
    user: Option<Turn>,
    turns: u32,
    asked: Option<Asked>,
    /// The newest delegation the voice model made.
    current_delegation: Option<String>,
    /// Delegation of each function call the backend asked for.
    call_delegation: HashMap<String, Option<String>>,
    /// Function calls already handed to the call (run once each).
    seen_calls: HashSet<String>,
    /// A backend response has asked for tools and not finished yet.
    tools_requested: bool,
    /// Tool results sent since the last `response.create`.
    outputs_waiting: usize,
    /// Tool results dropped as superseded since the last `response.create`.
    outputs_dropped: usize,
    decoded: Vec<u8>,
}

impl LiveTracker {
    /// A tracker for link `generation` of a call whose session uses `format`.
    pub fn new(generation: u32, format: AudioFormat) -> Self {
        LiveTracker {
            generation,
            format,
            assistant: None,
            user: None,
            turns: 0,
            asked: None,
            current_delegation: None,
            call_delegation: HashMap::new(),
            seen_calls: HashSet::new(),
            tools_requested: false,
            outputs_waiting: 0,
            outputs_dropped: 0,
            decoded: Vec::new(),
        }
    }

    fn next_id(&mut self, who: char) -> String {
        self.turns += 1;
        format!("live{}-{who}{}", self.generation, self.turns)
    }

    /// One non-audio server event. Returns the session's end when it closed.
    pub fn on_event(
        &mut self,
        event: ServerEvent<'_>,
        now: Instant,
        out: &mut Vec<ModelEvent>,
    ) -> Option<SessionEnd> {
        match event {
            ServerEvent::SessionStarted { .. } => out.push(ModelEvent::Ready {
                generation: self.generation,
            }),
            ServerEvent::OutputAudioDelta { delta } => {
                // The link routes audio itself (zero-copy); a stray call still counts.
                let _ = self.on_audio(&delta, now, out);
            }
            ServerEvent::InputTranscriptDelta {
                delta,
                start_ms,
                end_ms,
            } => {
                self.close_assistant(now, out);
                if self.user.as_ref().is_some_and(|t| t.gap_before(start_ms)) {
                    self.close_user(out);
                }
                let mut turn = match self.user.take() {
                    Some(turn) => turn,
                    None => Turn {
                        id: self.next_id('u'),
                        text: String::new(),
                        opened: now,
                        last: now,
                        end_ms: None,
                    },
                };
                turn.text.push_str(&delta);
                turn.last = now;
                turn.end_ms = end_ms.or(turn.end_ms);
                self.user = Some(turn);
            }
            ServerEvent::OutputTranscriptDelta {
                delta,
                start_ms,
                end_ms,
            } => {
                if self
                    .assistant
                    .as_ref()
                    .is_some_and(|t| t.gap_before(start_ms))
                {
                    self.close_assistant(now, out);
                }
                self.open_assistant(now, out);
                if let Some(turn) = &mut self.assistant {
                    turn.text.push_str(&delta);
                    turn.last = now;
                    turn.end_ms = end_ms.or(turn.end_ms);
                }
            }
            ServerEvent::DelegationCreated { delegation } => {
                // The caller's request came before the task it started.
                self.close_user(out);
                self.current_delegation = Some(delegation.id);
            }
            ServerEvent::ResponseEvent {
                delegation_id,
                event,
            } => self.on_backend(delegation_id, &event, now, out),
            ServerEvent::SessionClosed { reason } => {
                self.close_user(out);
                self.close_assistant(now, out);
                return Some(SessionEnd { reason });
            }
            ServerEvent::Error { error } => out.push(ModelEvent::Error {
                code: error.code.or(error.kind).unwrap_or_default(),
                message: error.message.unwrap_or_default(),
            }),
            ServerEvent::Unknown => {}
        }
        None
    }

    /// One output audio delta (base64 in the session format): speech opens or
    /// continues the assistant's turn; silence with no turn open is quiet.
    pub fn on_audio(&mut self, delta: &str, now: Instant, out: &mut Vec<ModelEvent>) -> AudioRoute {
        let voiced = self.is_voiced(delta);
        if voiced {
            self.open_assistant(now, out);
        }
        match &mut self.assistant {
            Some(turn) => {
                if voiced {
                    turn.last = now;
                }
                AudioRoute::Speech {
                    item_id: turn.id.clone(),
                }
            }
            None => AudioRoute::Quiet,
        }
    }

    /// Ends turns that went quiet and asks that waited too long.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<ModelEvent>) {
        if self
            .assistant
            .as_ref()
            .is_some_and(|t| now.duration_since(t.last) >= TURN_GAP)
        {
            self.close_assistant(now, out);
        }
        if self
            .user
            .as_ref()
            .is_some_and(|t| now.duration_since(t.last) >= TURN_GAP)
        {
            self.close_user(out);
        }
        let Some(asked) = &self.asked else {
            return;
        };
        let since = match asked.kind {
            Ask::Speech => Some(asked.at),
            Ask::Continuation { backend_done } => backend_done,
        };
        let no_speech = !asked.speaking
            && self.assistant.is_none()
            && since.is_some_and(|s| now.duration_since(s) >= SPEECH_WAIT);
        if no_speech {
            self.resolve("no_speech", out);
        } else if now.duration_since(asked.at) >= ASK_MAX {
            self.resolve("timeout", out);
        }
    }

    /// The client events for a call's command; empty when GPT-Live has no
    /// counterpart (truncate and cancel: the model owns barge-in).
    pub fn on_command(
        &mut self,
        cmd: &LinkCommand,
        now: Instant,
        out: &mut Vec<ModelEvent>,
    ) -> Vec<ClientEvent> {
        match cmd {
            LinkCommand::ToolOutput { call_id, output } => {
                let of = self.call_delegation.get(call_id).cloned().flatten();
                let superseded = match (&of, &self.current_delegation) {
                    (Some(of), Some(current)) => of != current,
                    _ => false,
                };
                if superseded {
                    self.outputs_dropped += 1;
                    log::info!(
                        "GPT-Live: result of tool call {call_id} dropped: its request was replaced by a newer one"
                    );
                    return Vec::new();
                }
                self.outputs_waiting += 1;
                vec![ClientEvent::function_call_output(
                    call_id.clone(),
                    output.clone(),
                )]
            }
            LinkCommand::CreateResponse => {
                if self.outputs_waiting > 0 {
                    self.outputs_waiting = 0;
                    self.outputs_dropped = 0;
                    self.asked = Some(Asked {
                        kind: Ask::Continuation { backend_done: None },
                        at: now,
                        speaking: false,
                    });
                    vec![ClientEvent::ResponseCreate {}]
                } else if self.outputs_dropped > 0 {
                    // Nothing left to continue: the newer request carries on by itself.
                    self.outputs_dropped = 0;
                    out.push(ModelEvent::ResponseDone {
                        status: "superseded".into(),
                    });
                    Vec::new()
                } else {
                    self.asked = Some(Asked {
                        kind: Ask::Speech,
                        at: now,
                        speaking: false,
                    });
                    vec![ClientEvent::instructions(live::GREETING_INSTRUCTION)]
                }
            }
            LinkCommand::CallerEvent { text, respond } => {
                if *respond {
                    self.asked = Some(Asked {
                        kind: Ask::Speech,
                        at: now,
                        speaking: false,
                    });
                }
                vec![ClientEvent::instructions(text.clone())]
            }
            LinkCommand::Truncate { .. }
            | LinkCommand::CancelResponse
            | LinkCommand::Shutdown
            | LinkCommand::UpdateSession(_)
            | LinkCommand::StopRecording => Vec::new(),
        }
    }

    /// Assistant text of the turn in progress, for a link that goes down.
    pub fn take_unfinished(&mut self) -> Vec<(String, String)> {
        self.assistant
            .take()
            .filter(|t| !t.text.trim().is_empty())
            .map(|t| vec![(t.id, t.text)])
            .unwrap_or_default()
    }

    fn on_backend(
        &mut self,
        delegation_id: Option<String>,
        event: &serde_json::Value,
        now: Instant,
        out: &mut Vec<ModelEvent>,
    ) {
        match live::backend_event(event) {
            BackendEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                if !self.seen_calls.insert(call_id.clone()) {
                    return;
                }
                self.close_user(out);
                self.call_delegation.insert(call_id.clone(), delegation_id);
                self.tools_requested = true;
                out.push(ModelEvent::ToolCallRequested {
                    call_id,
                    name,
                    arguments,
                });
            }
            BackendEvent::Finished { status } => {
                if self.tools_requested {
                    // The response that asked for tools: the call now sends
                    // their results and continues (a new ask).
                    self.tools_requested = false;
                    if matches!(
                        self.asked,
                        Some(Asked {
                            kind: Ask::Continuation { .. },
                            ..
                        })
                    ) {
                        self.asked = None;
                    }
                    out.push(ModelEvent::ResponseDone { status });
                    return;
                }
                if let Some(asked) = &mut self.asked {
                    if let Ask::Continuation { backend_done: None } = asked.kind {
                        asked.kind = Ask::Continuation {
                            backend_done: Some(now),
                        };
                        // A turn already speaking counts: it ends after the result.
                        asked.speaking = self.assistant.is_some();
                    }
                }
            }
            BackendEvent::Other => {}
        }
    }

    fn open_assistant(&mut self, now: Instant, out: &mut Vec<ModelEvent>) {
        if self.assistant.is_some() {
            return;
        }
        self.close_user(out);
        let id = self.next_id('a');
        self.assistant = Some(Turn {
            id,
            text: String::new(),
            opened: now,
            last: now,
            end_ms: None,
        });
        if let Some(asked) = &mut self.asked {
            let counts = match asked.kind {
                Ask::Speech => true,
                Ask::Continuation { backend_done } => backend_done.is_some(),
            };
            if counts {
                asked.speaking = true;
            }
        }
        out.push(ModelEvent::ResponseStarted);
    }

    fn close_assistant(&mut self, _now: Instant, out: &mut Vec<ModelEvent>) {
        let Some(turn) = self.assistant.take() else {
            return;
        };
        if !turn.text.trim().is_empty() {
            out.push(ModelEvent::AssistantTranscript {
                item_id: turn.id,
                text: turn.text.trim().to_string(),
            });
        }
        let done = self.asked.as_ref().is_some_and(|a| {
            a.speaking
                && match a.kind {
                    Ask::Speech => turn.opened >= a.at,
                    Ask::Continuation { backend_done } => backend_done.is_some(),
                }
        });
        if done {
            self.resolve("completed", out);
        }
    }

    fn close_user(&mut self, out: &mut Vec<ModelEvent>) {
        if let Some(turn) = self.user.take() {
            if !turn.text.trim().is_empty() {
                out.push(ModelEvent::UserTranscript {
                    item_id: Some(turn.id),
                    text: turn.text.trim().to_string(),
                });
            }
        }
    }

    fn resolve(&mut self, status: &str, out: &mut Vec<ModelEvent>) {
        if self.asked.take().is_some() {
            out.push(ModelEvent::ResponseDone {
                status: status.to_string(),
            });
        }
    }

    /// Whether a base64 chunk of output audio carries speech (its peak over
    /// [`VOICED_PEAK`]). Decodes into a reused buffer; undecodable audio is
    /// taken as speech (played and tracked, never dropped).
    fn is_voiced(&mut self, b64: &str) -> bool {
        let len = crate::audio::format::base64_decoded_len(b64);
        self.decoded.resize(len, 0);
        let Ok(n) = base64::engine::general_purpose::STANDARD.decode_slice(b64, &mut self.decoded)
        else {
            return true;
        };
        let bytes = &self.decoded[..n];
        match self.format {
            AudioFormat::Pcmu => bytes.iter().any(|b| {
                crate::audio::mulaw::decode_sample(*b).unsigned_abs() > VOICED_PEAK as u16
            }),
            AudioFormat::Pcma => bytes
                .iter()
                .any(|b| crate::audio::alaw::decode_sample(*b).unsigned_abs() > VOICED_PEAK as u16),
            AudioFormat::Pcm24k => bytes
                .chunks_exact(2)
                .any(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > VOICED_PEAK as u16),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::mulaw;

    fn mulaw_b64(level: i16, samples: usize) -> String {
        let pcm = vec![level; samples];
        let mut bytes = Vec::new();
        mulaw::encode_into(&pcm, &mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn parse(json: &str) -> ServerEvent<'_> {
        live::parse_server_event(json).unwrap()
    }

    fn kinds(events: &[ModelEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e {
                ModelEvent::Ready { .. } => "ready",
                ModelEvent::Audio { .. } => "audio",
                ModelEvent::QuietAudio { .. } => "quiet",
                ModelEvent::SpeechStarted { .. } => "speech_started",
                ModelEvent::SpeechStopped { .. } => "speech_stopped",
                ModelEvent::UserTranscript { .. } => "user",
                ModelEvent::AssistantTranscript { .. } => "assistant",
                ModelEvent::ResponseStarted => "started",
                ModelEvent::ToolCallRequested { .. } => "tool",
                ModelEvent::ResponseDone { .. } => "done",
                ModelEvent::Error { .. } => "error",
            })
            .collect()
    }

    /// A key press reaches GPT-Live as general context the model answers by
    /// itself (`session.instructions.append`, `delegation_id: null`).
    #[test]
    fn caller_events_are_appended_instructions() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(0, AudioFormat::Pcmu);
        let mut out = Vec::new();
        let text = "The caller pressed 1 on their keypad.";
        let sent = tr.on_command(
            &LinkCommand::CallerEvent {
                text: text.into(),
                respond: true,
            },
            t0,
            &mut out,
        );
        let sent = serde_json::to_value(&sent).unwrap();
        assert_eq!(
            sent,
            serde_json::json!([{
                "type": "session.instructions.append",
                "content": text,
                "delegation_id": null
            }])
        );
        assert!(out.is_empty());
    }

    #[test]
    fn greeting_is_done_when_its_turn_has_been_spoken() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(0, AudioFormat::Pcmu);
        let mut out = Vec::new();
        tr.on_event(
            parse(r#"{"type":"session.started","session":{}}"#),
            t0,
            &mut out,
        );
        assert_eq!(kinds(&out), ["ready"]);
        out.clear();
        let sent = tr.on_command(&LinkCommand::CreateResponse, t0, &mut out);
        assert_eq!(
            serde_json::to_value(&sent).unwrap()[0]["type"],
            "session.instructions.append"
        );
        // Silence before the model speaks is quiet.
        assert_eq!(
            tr.on_audio(&mulaw_b64(0, 800), t0, &mut out),
            AudioRoute::Quiet
        );
        let t1 = t0 + Duration::from_millis(300);
        let route = tr.on_audio(&mulaw_b64(8000, 800), t1, &mut out);
        let AudioRoute::Speech { item_id } = route else {
            panic!("voiced audio is speech")
        };
        tr.on_event(
            parse(r#"{"type":"session.output_transcript.delta","delta":"Acme Dental,","start_ms":0,"end_ms":200}"#),
            t1,
            &mut out,
        );
        tr.on_event(
            parse(r#"{"type":"session.output_transcript.delta","delta":" how can I help?","start_ms":200,"end_ms":400}"#),
            t1,
            &mut out,
        );
        // Trailing silence stays in the turn until the gap ends it.
        assert_eq!(
            tr.on_audio(&mulaw_b64(0, 800), t1, &mut out),
            AudioRoute::Speech {
                item_id: item_id.clone()
            }
        );
        tr.tick(t1 + Duration::from_millis(500), &mut out);
        assert_eq!(kinds(&out), ["started"]);
        tr.tick(t1 + TURN_GAP, &mut out);
        assert_eq!(kinds(&out), ["started", "assistant", "done"]);
        assert_eq!(
            out[1],
            ModelEvent::AssistantTranscript {
                item_id,
                text: "Acme Dental, how can I help?".into()
            }
        );
    }

    #[test]
    fn transcript_fragments_become_one_line_per_speaker_turn() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(1, AudioFormat::Pcmu);
        let mut out = Vec::new();
        for d in ["Please", " check", " the", " status."] {
            tr.on_event(
                parse(&format!(r#"{{"type":"session.input_transcript.delta","delta":"{d}","start_ms":0,"end_ms":200}}"#)),
                t0,
                &mut out,
            );
        }
        assert!(out.is_empty(), "a turn in progress is not stored yet");
        tr.on_event(
            parse(r#"{"type":"session.output_transcript.delta","delta":"Okay,","start_ms":900,"end_ms":1100}"#),
            t0,
            &mut out,
        );
        assert_eq!(kinds(&out), ["user", "started"]);
        assert_eq!(
            out[0],
            ModelEvent::UserTranscript {
                item_id: Some("live1-u1".into()),
                text: "Please check the status.".into()
            }
        );
        // The caller speaking again ends the assistant's turn.
        tr.on_event(
            parse(r#"{"type":"session.input_transcript.delta","delta":"Thanks","start_ms":1500,"end_ms":1700}"#),
            t0,
            &mut out,
        );
        assert_eq!(kinds(&out), ["user", "started", "assistant"]);
        tr.tick(t0 + TURN_GAP, &mut out);
        assert_eq!(kinds(&out), ["user", "started", "assistant", "user"]);
    }

    #[test]
    fn a_gap_on_the_session_timeline_starts_a_new_line() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(0, AudioFormat::Pcmu);
        let mut out = Vec::new();
        for (d, start) in [
            ("Okay,", 4800),
            (" now.", 5600),
            ("Staging", 6800),
            (" is up.", 7000),
        ] {
            tr.on_event(
                parse(&format!(r#"{{"type":"session.output_transcript.delta","delta":"{d}","start_ms":{start},"end_ms":{}}}"#, start + 200)),
                t0,
                &mut out,
            );
        }
        tr.tick(t0 + TURN_GAP, &mut out);
        let lines: Vec<&str> = out
            .iter()
            .filter_map(|e| match e {
                ModelEvent::AssistantTranscript { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(lines, ["Okay, now.", "Staging is up."]);
    }

    #[test]
    fn tool_loop_sends_all_outputs_then_one_response_create_and_runs_each_call_once() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(0, AudioFormat::Pcmu);
        let mut out = Vec::new();
        tr.on_event(
            parse(r#"{"type":"session.delegation.created","event_id":"e1","offset_ms":10,"delegation":{"id":"item_d1","type":"delegation","target":"responses"}}"#),
            t0,
            &mut out,
        );
        let call = r#"{"type":"response.event","event_id":"e2","delegation_id":"item_d1","event":{"type":"response.output_item.done","output_index":0,"sequence_number":3,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"takeMessage","arguments":"{\"message\":\"hi\"}","status":"completed"}}}"#;
        tr.on_event(parse(call), t0, &mut out);
        tr.on_event(parse(call), t0, &mut out);
        assert_eq!(kinds(&out), ["tool"], "a repeated call runs once");
        tr.on_event(
            parse(r#"{"type":"response.event","event_id":"e3","delegation_id":"item_d1","event":{"type":"response.completed","response":{"output":[]}}}"#),
            t0,
            &mut out,
        );
        assert_eq!(kinds(&out), ["tool", "done"]);
        out.clear();
        let sent = tr.on_command(
            &LinkCommand::ToolOutput {
                call_id: "call_1".into(),
                output: "{\"ok\":true}".into(),
            },
            t0,
            &mut out,
        );
        assert_eq!(
            serde_json::to_value(&sent).unwrap()[0]["type"],
            "response.item.create"
        );
        let sent = tr.on_command(&LinkCommand::CreateResponse, t0, &mut out);
        assert_eq!(
            serde_json::to_value(&sent).unwrap()[0]["type"],
            "response.create"
        );
        // The continuation is done only once the backend finished and its result was spoken.
        tr.on_event(
            parse(r#"{"type":"response.event","event_id":"e4","delegation_id":"item_d1","event":{"type":"response.completed","response":{"output":[]}}}"#),
            t0,
            &mut out,
        );
        assert!(out.is_empty());
        tr.on_event(
            parse(r#"{"type":"session.output_transcript.delta","delta":"Your message is taken.","start_ms":0,"end_ms":200}"#),
            t0,
            &mut out,
        );
        tr.tick(t0 + TURN_GAP, &mut out);
        assert_eq!(kinds(&out), ["started", "assistant", "done"]);
    }

    #[test]
    fn a_result_for_a_superseded_request_is_dropped() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(0, AudioFormat::Pcmu);
        let mut out = Vec::new();
        tr.on_event(
            parse(r#"{"type":"session.delegation.created","event_id":"e1","offset_ms":10,"delegation":{"id":"item_d1","type":"delegation","target":"responses"}}"#),
            t0,
            &mut out,
        );
        tr.on_event(
            parse(r#"{"type":"response.event","event_id":"e2","delegation_id":"item_d1","event":{"type":"response.output_item.done","output_index":0,"item":{"type":"function_call","call_id":"call_old","name":"checkAvailability","arguments":"{}","status":"completed"}}}"#),
            t0,
            &mut out,
        );
        // "Actually, Friday instead": a new delegation replaces the old request.
        tr.on_event(
            parse(r#"{"type":"session.delegation.created","event_id":"e3","offset_ms":900,"delegation":{"id":"item_d2","type":"delegation","target":"responses"}}"#),
            t0,
            &mut out,
        );
        out.clear();
        let sent = tr.on_command(
            &LinkCommand::ToolOutput {
                call_id: "call_old".into(),
                output: "{}".into(),
            },
            t0,
            &mut out,
        );
        assert!(sent.is_empty());
        let sent = tr.on_command(&LinkCommand::CreateResponse, t0, &mut out);
        assert!(sent.is_empty(), "no response.create for a dropped result");
        assert_eq!(kinds(&out), ["done"]);
    }

    #[test]
    fn an_ask_without_speech_is_done_after_the_wait_and_close_reports_the_reason() {
        let t0 = Instant::now();
        let mut tr = LiveTracker::new(0, AudioFormat::Pcmu);
        let mut out = Vec::new();
        tr.on_command(&LinkCommand::CreateResponse, t0, &mut out);
        tr.tick(t0 + SPEECH_WAIT, &mut out);
        assert_eq!(
            out,
            [ModelEvent::ResponseDone {
                status: "no_speech".into()
            }]
        );
        let end = tr.on_event(
            parse(r#"{"type":"session.closed","event_id":"e","reason":"expired","session":{},"usage":{"seconds":1}}"#),
            t0,
            &mut out,
        );
        assert_eq!(
            end,
            Some(SessionEnd {
                reason: "expired".into()
            })
        );
    }
}

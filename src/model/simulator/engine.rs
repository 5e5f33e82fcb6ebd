//! The simulated realtime conversation, as a pure state machine: no actix, no
//! sockets, no clock. A [`Conversation`] takes the client's text frames
//! ([`Conversation::client_text`]) and pacing ticks ([`Conversation::tick`])
//! and answers with [`Effect`]s — server events to send, in order, and when
//! to start or stop ticking. It keeps the session configuration set by
//! `session.update` (GA or xAI shape), runs the energy VAD over appended
//! audio, walks the script one caller turn at a time, streams reply clips as
//! `response.output_audio.delta` chunks of [`CHUNK_MS`] (one per tick, or all
//! at once when `pace` is 0), and answers the rest of the GA client events the
//! way OpenAI does (event order and error shapes after OpenAI's Realtime API
//! reference: `input_audio_buffer.*`, `conversation.item.*`, `response.*`).
//! The actor that moves frames and timers is [`super::session`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::script::{Reply, ScriptedCall};
use super::vad::{EnergyVad, VadEvent};
use super::{Assets, EncodedClip, CHUNK_MS};
use crate::audio::format::{decode_base64, decode_to_pcm, AudioFormat};
use crate::model::realtime::{
    parse_client_event, server_event_json, AudioFormatSpec, ClientEvent, ContentPart, ErrorDetail,
    ErrorPayload, Item, ItemStatus, ResponseInfo, ResponsePart, ResponseStatus, Role, ServerEvent,
    SessionPayload, StatusDetails, Tool, TurnDetectionConfig,
};

/// What the conversation asks of its transport, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this server event (one JSON text frame).
    Send(String),
    /// Call [`Conversation::tick`] every `period` until [`Effect::StopTicking`]
    /// (a reply is streaming at the simulator's pace).
    StartTicking(Duration),
    /// Stop the ticks started by [`Effect::StartTicking`].
    StopTicking,
}

/// Server VAD settings in force (`None` in the session = manual turns).
#[derive(Debug, Clone, Copy)]
struct VadSettings {
    threshold: f32,
    prefix_padding_ms: u32,
    silence_duration_ms: u32,
    create_response: bool,
    interrupt_response: bool,
}

impl Default for VadSettings {
    /// OpenAI's default session: server VAD 0.5 / 300 ms / 200 ms.
    fn default() -> Self {
        VadSettings {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 200,
            create_response: true,
            interrupt_response: true,
        }
    }
}

/// What the next response will be.
#[derive(Debug, Clone)]
enum Due {
    /// A function call, then (after the tool output) `then`.
    Call { call: ScriptedCall, then: Reply },
    /// A spoken reply.
    Speak(Reply),
}

#[derive(Debug)]
struct ItemRecord {
    item: Item,
    /// Assistant audio sent for this item, in ms.
    audio_ms: u32,
}

/// An audio response being streamed.
struct Active {
    response_id: String,
    item_id: String,
    words: Vec<String>,
    words_sent: usize,
    transcript: String,
    clip: Arc<EncodedClip>,
    next_chunk: usize,
    /// Whether [`Effect::StartTicking`] was issued for this response.
    ticking: bool,
}

/// One session's conversation state (one per socket).
pub struct Conversation {
    assets: Arc<Assets>,
    id: u64,
    seq: u64,
    model: String,
    instructions: String,
    voice: String,
    tools: Vec<Tool>,
    input_format: AudioFormat,
    output_format: AudioFormat,
    transcription: bool,
    vad: Option<VadSettings>,
    detector: EnergyVad,
    buffered_ms: u32,
    pending_user_item: Option<String>,
    turn_cursor: usize,
    user_turns: usize,
    due: Option<Due>,
    greeted: bool,
    items: HashMap<String, ItemRecord>,
    last_item_id: Option<String>,
    active: Option<Active>,
}

impl Conversation {
    /// A fresh session numbered `id` (ids are `<kind>_sim<id>x<n>`), in
    /// OpenAI's default configuration: PCM 24 kHz both ways, server VAD on.
    pub(crate) fn new(assets: Arc<Assets>, id: u64) -> Self {
        let vad = VadSettings::default();
        Conversation {
            assets,
            id,
            seq: 0,
            model: "switchboard-simulator".into(),
            instructions: String::new(),
            voice: "marin".into(),
            tools: Vec::new(),
            input_format: AudioFormat::Pcm24k,
            output_format: AudioFormat::Pcm24k,
            transcription: false,
            detector: EnergyVad::new(
                AudioFormat::Pcm24k.sample_rate(),
                vad.threshold,
                vad.prefix_padding_ms,
                vad.silence_duration_ms,
            ),
            vad: Some(vad),
            buffered_ms: 0,
            pending_user_item: None,
            turn_cursor: 0,
            user_turns: 0,
            due: None,
            greeted: false,
            items: HashMap::new(),
            last_item_id: None,
            active: None,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_sim{}x{}", self.id, self.seq)
    }

    fn send(&mut self, out: &mut Vec<Effect>, event: &ServerEvent<'_>) {
        let event_id = self.next_id("event");
        match server_event_json(&event_id, event) {
            Ok(text) => out.push(Effect::Send(text)),
            Err(e) => log::error!("simulator: cannot encode server event: {e}"),
        }
    }

    fn send_error(
        &mut self,
        out: &mut Vec<Effect>,
        code: &str,
        message: String,
        param: Option<&str>,
        client_event_id: Option<String>,
    ) {
        let error = ErrorDetail {
            kind: Some("invalid_request_error".into()),
            code: Some(code.into()),
            message,
            param: param.map(str::to_owned),
            event_id: client_event_id,
        };
        self.send(
            out,
            &ServerEvent::Error {
                error: Some(ErrorPayload::Detail(error)),
                code: None,
                message: None,
            },
        );
    }

    fn session_json(&self) -> Value {
        let turn_detection = match &self.vad {
            Some(v) => json!({
                "type": "server_vad", "threshold": v.threshold,
                "prefix_padding_ms": v.prefix_padding_ms,
                "silence_duration_ms": v.silence_duration_ms, "idle_timeout_ms": null,
                "create_response": v.create_response, "interrupt_response": v.interrupt_response
            }),
            None => Value::Null,
        };
        let format = |f: AudioFormat| match f {
            AudioFormat::Pcm24k => json!({"type": "audio/pcm", "rate": 24000}),
            other => json!({"type": other.wire_type()}),
        };
        json!({
            "type": "realtime", "object": "realtime.session", "id": format!("sess_sim{}", self.id),
            "model": self.model, "output_modalities": ["audio"], "instructions": self.instructions,
            "tools": self.tools, "tool_choice": "auto", "max_output_tokens": "inf",
            "audio": {
                "input": {
                    "format": format(self.input_format),
                    "transcription": if self.transcription { json!({"model": "simulated-transcribe"}) } else { Value::Null },
                    "noise_reduction": null,
                    "turn_detection": turn_detection
                },
                "output": {"format": format(self.output_format), "voice": self.voice, "speed": 1.0}
            }
        })
    }

    fn retune_vad(&mut self) {
        if let Some(v) = self.vad {
            self.detector.retune(
                self.input_format.sample_rate(),
                v.threshold,
                v.prefix_padding_ms,
                v.silence_duration_ms,
            );
        }
    }

    // -- client events ------------------------------------------------------

    /// Opens the session: `session.created` with the default configuration.
    pub fn opened(&mut self, out: &mut Vec<Effect>) {
        let session = self.session_json();
        self.send(out, &ServerEvent::SessionCreated { session });
    }

    /// A binary frame arrived: the API takes JSON text only.
    pub fn binary_frame(&mut self, out: &mut Vec<Effect>) {
        self.send_error(
            out,
            "invalid_event",
            "Binary frames are not supported; send JSON text events.".into(),
            None,
            None,
        );
    }

    /// One client event (a JSON text frame): updates the state and answers
    /// with the server events the API sends for it; a frame that does not
    /// parse gets an `invalid_event` error naming its `event_id`.
    pub fn client_text(&mut self, text: &str, out: &mut Vec<Effect>) {
        // `turn_detection: null` (manual turns) is told apart from an absent key
        // on the raw JSON.
        let raw: Option<Value> = if text.contains("session.update") {
            serde_json::from_str(text).ok()
        } else {
            None
        };
        let event = match parse_client_event(text) {
            Ok(ev) => ev,
            Err(e) => {
                let client_id = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v["event_id"].as_str().map(str::to_owned));
                self.send_error(out, "invalid_event", e.to_string(), None, client_id);
                return;
            }
        };
        let client_id = event.event_id().map(str::to_owned);
        match event {
            ClientEvent::SessionUpdate { session, .. } => {
                let vad_null = raw.as_ref().is_some_and(|v| {
                    let s = &v["session"];
                    s["audio"]["input"]
                        .get("turn_detection")
                        .is_some_and(Value::is_null)
                        || s.get("turn_detection").is_some_and(Value::is_null)
                });
                self.on_session_update(session, vad_null, client_id, out);
            }
            ClientEvent::InputAudioBufferAppend { audio, .. } => {
                self.on_append(&audio, client_id, out)
            }
            ClientEvent::InputAudioBufferCommit { .. } => {
                if self.buffered_ms < 100 {
                    let msg = format!(
                        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {}ms of audio.",
                        self.buffered_ms
                    );
                    self.send_error(out, "input_audio_buffer_commit_empty", msg, None, client_id);
                } else {
                    self.detector.reset_segment();
                    self.commit_user_turn(false, out);
                }
            }
            ClientEvent::InputAudioBufferClear { .. } => {
                self.buffered_ms = 0;
                self.pending_user_item = None;
                self.detector.reset_segment();
                self.send(out, &ServerEvent::InputAudioBufferCleared);
            }
            ClientEvent::ConversationItemCreate {
                previous_item_id,
                item,
                ..
            } => self.on_item_create(previous_item_id, item, client_id, out),
            ClientEvent::ConversationItemTruncate {
                item_id,
                content_index,
                audio_end_ms,
                ..
            } => self.on_truncate(item_id, content_index, audio_end_ms, client_id, out),
            ClientEvent::ConversationItemDelete { item_id, .. } => {
                if self.items.remove(&item_id).is_some() {
                    self.send(out, &ServerEvent::ConversationItemDeleted { item_id });
                } else {
                    let msg = format!("Item with item_id '{item_id}' not found.");
                    self.send_error(out, "invalid_value", msg, Some("item_id"), client_id);
                }
            }
            ClientEvent::ConversationItemRetrieve { item_id, .. } => {
                match self.items.get(&item_id).map(|r| r.item.clone()) {
                    Some(item) => self.send(out, &ServerEvent::ConversationItemRetrieved { item }),
                    None => {
                        let msg = format!("Item with item_id '{item_id}' not found.");
                        self.send_error(out, "invalid_value", msg, Some("item_id"), client_id);
                    }
                }
            }
            ClientEvent::ResponseCreate { .. } => {
                if self.active.is_some() {
                    self.send_error(
                        out,
                        "conversation_already_has_active_response",
                        "Conversation already has an active response in progress.".into(),
                        None,
                        client_id,
                    );
                } else {
                    self.start_response(out);
                }
            }
            ClientEvent::ResponseCancel { .. } => {
                if self.active.is_some() {
                    self.finish_audio(ResponseStatus::Cancelled, Some("client_cancelled"), out);
                } else {
                    self.send_error(
                        out,
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found.".into(),
                        None,
                        client_id,
                    );
                }
            }
        }
    }

    fn on_session_update(
        &mut self,
        session: SessionPayload,
        vad_null: bool,
        client_id: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let (instructions, voice, tools, model, input, output, transcription, td) = match session {
            SessionPayload::Ga(s) => {
                let audio = s.audio.unwrap_or_default();
                let input = audio.input.unwrap_or_default();
                let output = audio.output.unwrap_or_default();
                (
                    s.instructions,
                    output.voice,
                    s.tools,
                    s.model,
                    input.format,
                    output.format,
                    input.transcription.map(|_| true),
                    input.turn_detection,
                )
            }
            SessionPayload::Xai(s) => {
                let audio = s.audio.unwrap_or_default();
                (
                    s.instructions,
                    s.voice,
                    s.tools,
                    None,
                    audio.input.and_then(|i| i.format),
                    audio.output.and_then(|o| o.format),
                    // xAI transcribes input on its own.
                    Some(true),
                    s.turn_detection,
                )
            }
        };
        let to_format = |spec: Option<AudioFormatSpec>| -> Result<Option<AudioFormat>, ()> {
            match spec {
                None => Ok(None),
                Some(f) => AudioFormat::from_wire(f.encoding.wire_name(), f.rate)
                    .map(Some)
                    .ok_or(()),
            }
        };
        let (Ok(input), Ok(output)) = (to_format(input), to_format(output)) else {
            self.send_error(
                out,
                "invalid_value",
                "Unsupported audio format: use audio/pcmu, audio/pcma or audio/pcm at 24000 Hz."
                    .into(),
                Some("session.audio"),
                client_id,
            );
            return;
        };
        if let Some(i) = instructions {
            self.instructions = i;
        }
        if let Some(v) = voice {
            self.voice = v;
        }
        if let Some(t) = tools {
            self.tools = t;
        }
        if let Some(m) = model {
            self.model = m;
        }
        if let Some(f) = input {
            self.input_format = f;
        }
        if let Some(f) = output {
            self.output_format = f;
        }
        if let Some(t) = transcription {
            self.transcription = t;
        }
        if vad_null {
            self.vad = None;
        } else if let Some(td) = td {
            let base = self.vad.unwrap_or_default();
            self.vad = Some(match td {
                TurnDetectionConfig::ServerVad {
                    threshold,
                    prefix_padding_ms,
                    silence_duration_ms,
                    ..
                } => VadSettings {
                    threshold: threshold.unwrap_or(base.threshold),
                    prefix_padding_ms: prefix_padding_ms.unwrap_or(base.prefix_padding_ms),
                    silence_duration_ms: silence_duration_ms.unwrap_or(base.silence_duration_ms),
                    create_response: td.create_response(),
                    interrupt_response: td.interrupt_response(),
                },
                // Semantic VAD is approximated by the energy VAD with defaults.
                TurnDetectionConfig::SemanticVad { .. } => VadSettings {
                    create_response: td.create_response(),
                    interrupt_response: td.interrupt_response(),
                    ..VadSettings::default()
                },
            });
        }
        self.retune_vad();
        let session = self.session_json();
        self.send(out, &ServerEvent::SessionUpdated { session });
    }

    fn on_append(&mut self, audio: &str, client_id: Option<String>, out: &mut Vec<Effect>) {
        let pcm =
            match decode_base64(audio).and_then(|bytes| decode_to_pcm(self.input_format, &bytes)) {
                Ok(pcm) => pcm,
                Err(e) => {
                    self.send_error(
                        out,
                        "invalid_value",
                        format!("Invalid audio: {e}"),
                        Some("audio"),
                        client_id,
                    );
                    return;
                }
            };
        let ms = u32::try_from(pcm.duration_ms()).unwrap_or(u32::MAX);
        self.buffered_ms = self.buffered_ms.saturating_add(ms);
        let Some(vad) = self.vad else {
            return;
        };
        for event in self.detector.push(&pcm.samples) {
            match event {
                VadEvent::SpeechStarted { audio_start_ms } => {
                    let item_id = self.next_id("item");
                    self.pending_user_item = Some(item_id.clone());
                    self.send(
                        out,
                        &ServerEvent::SpeechStarted {
                            audio_start_ms: Some(audio_start_ms),
                            item_id: Some(item_id),
                        },
                    );
                    if vad.interrupt_response && self.active.is_some() {
                        self.finish_audio(ResponseStatus::Cancelled, Some("turn_detected"), out);
                    }
                }
                VadEvent::SpeechStopped { audio_end_ms } => {
                    let item_id = match self.pending_user_item.clone() {
                        Some(id) => id,
                        None => {
                            let id = self.next_id("item");
                            self.pending_user_item = Some(id.clone());
                            id
                        }
                    };
                    self.send(
                        out,
                        &ServerEvent::SpeechStopped {
                            audio_end_ms: Some(audio_end_ms),
                            item_id: Some(item_id),
                        },
                    );
                    self.commit_user_turn(vad.create_response, out);
                }
            }
        }
    }

    /// Commits the buffered caller audio as a user item, reports its scripted
    /// transcript, picks the script turn and (if `respond`) answers it.
    fn commit_user_turn(&mut self, respond: bool, out: &mut Vec<Effect>) {
        let item_id = match self.pending_user_item.take() {
            Some(id) => id,
            None => self.next_id("item"),
        };
        self.buffered_ms = 0;
        let previous_item_id = self.last_item_id.replace(item_id.clone());
        self.send(
            out,
            &ServerEvent::InputAudioBufferCommitted {
                previous_item_id: previous_item_id.clone(),
                item_id: Some(item_id.clone()),
            },
        );
        let user_item = |transcript: Option<String>, status| Item::Message {
            id: Some(item_id.clone()),
            role: Role::User,
            content: vec![ContentPart::InputAudio {
                audio: None,
                transcript,
            }],
            status: Some(status),
        };
        self.send(
            out,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous_item_id.clone(),
                item: user_item(None, ItemStatus::Completed),
            },
        );
        let turn = self.assets.script.turns.get(self.turn_cursor).cloned();
        self.turn_cursor += 1;
        self.user_turns += 1;
        // Past the script the "transcriber" heard nothing it understood.
        let transcript = turn
            .as_ref()
            .map(|t| t.user_transcript.clone())
            .unwrap_or_default();
        self.due = Some(match turn {
            Some(t) => match t.function_call {
                Some(call) => Due::Call {
                    call,
                    then: t.reply,
                },
                None => Due::Speak(t.reply),
            },
            None => Due::Speak(self.assets.script.fallback.clone()),
        });
        let final_item = if self.transcription {
            self.send(
                out,
                &ServerEvent::InputTranscriptionCompleted {
                    item_id: Some(item_id.clone()),
                    content_index: 0,
                    transcript: transcript.clone(),
                    usage: Some(json!({"type": "duration", "seconds": 1})),
                },
            );
            user_item(Some(transcript), ItemStatus::Completed)
        } else {
            user_item(None, ItemStatus::Completed)
        };
        self.items.insert(
            item_id,
            ItemRecord {
                item: final_item.clone(),
                audio_ms: 0,
            },
        );
        self.send(
            out,
            &ServerEvent::ConversationItemDone {
                previous_item_id,
                item: final_item,
            },
        );
        if respond && self.active.is_none() {
            self.start_response(out);
        }
    }

    fn on_item_create(
        &mut self,
        previous_item_id: Option<String>,
        item: Item,
        client_id: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let id = match item.id() {
            Some(id) if self.items.contains_key(id) => {
                let msg = format!("Item with id '{id}' already exists.");
                self.send_error(out, "invalid_value", msg, Some("item.id"), client_id);
                return;
            }
            Some(id) => id.to_owned(),
            None => self.next_id("item"),
        };
        let item = match item {
            Item::Message {
                role,
                content,
                status,
                ..
            } => Item::Message {
                id: Some(id.clone()),
                role,
                content,
                status: status.or(Some(ItemStatus::Completed)),
            },
            Item::FunctionCall {
                call_id,
                name,
                arguments,
                status,
                ..
            } => Item::FunctionCall {
                id: Some(id.clone()),
                call_id,
                name,
                arguments,
                status: status.or(Some(ItemStatus::Completed)),
            },
            Item::FunctionCallOutput {
                call_id, output, ..
            } => Item::FunctionCallOutput {
                id: Some(id.clone()),
                call_id,
                output,
            },
            Item::Other => {
                self.send_error(
                    out,
                    "invalid_event",
                    "Unsupported item type.".into(),
                    Some("item.type"),
                    client_id,
                );
                return;
            }
        };
        // A user message added as history (a client resuming a conversation in a
        // fresh session) counts as a caller turn, so the script continues where
        // the conversation was instead of starting over.
        if let Item::Message {
            role: Role::User, ..
        } = &item
        {
            self.turn_cursor += 1;
            self.user_turns += 1;
        }
        let previous = previous_item_id.or_else(|| self.last_item_id.clone());
        self.last_item_id = Some(id.clone());
        self.items.insert(
            id,
            ItemRecord {
                item: item.clone(),
                audio_ms: 0,
            },
        );
        self.send(
            out,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous.clone(),
                item: item.clone(),
            },
        );
        self.send(
            out,
            &ServerEvent::ConversationItemDone {
                previous_item_id: previous,
                item,
            },
        );
    }

    fn on_truncate(
        &mut self,
        item_id: String,
        content_index: u32,
        audio_end_ms: u32,
        client_id: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let sent = match self.items.get(&item_id) {
            Some(ItemRecord {
                item:
                    Item::Message {
                        role: Role::Assistant,
                        ..
                    },
                audio_ms,
            }) => *audio_ms,
            Some(_) => {
                let msg = format!("Item '{item_id}' is not an assistant audio item.");
                self.send_error(out, "invalid_value", msg, Some("item_id"), client_id);
                return;
            }
            None => {
                let msg = format!("Item with item_id '{item_id}' not found.");
                self.send_error(out, "invalid_value", msg, Some("item_id"), client_id);
                return;
            }
        };
        if audio_end_ms > sent {
            let msg = format!("Audio content of {sent}ms is already shorter than {audio_end_ms}ms");
            self.send_error(out, "invalid_value", msg, Some("audio_end_ms"), client_id);
            return;
        }
        if let Some(rec) = self.items.get_mut(&item_id) {
            rec.audio_ms = audio_end_ms;
        }
        self.send(
            out,
            &ServerEvent::ConversationItemTruncated {
                item_id,
                content_index,
                audio_end_ms,
            },
        );
    }

    // -- responses ----------------------------------------------------------

    fn response_info(
        id: &str,
        status: ResponseStatus,
        reason: Option<&str>,
        output: Vec<Item>,
    ) -> ResponseInfo {
        let done = status != ResponseStatus::InProgress;
        ResponseInfo {
            id: Some(id.to_owned()),
            object: Some("realtime.response".into()),
            status,
            status_details: reason.map(|r| StatusDetails {
                kind: Some("cancelled".into()),
                reason: Some(r.into()),
                error: None,
            }),
            output,
            usage: done.then(|| json!({"total_tokens": 0, "input_tokens": 0, "output_tokens": 0})),
            metadata: None,
        }
    }

    fn start_response(&mut self, out: &mut Vec<Effect>) {
        let due = match self.due.take() {
            Some(d) => d,
            None if !self.greeted && self.user_turns == 0 => {
                match self.assets.script.greeting.clone() {
                    Some(g) => Due::Speak(g),
                    None => Due::Speak(self.assets.script.fallback.clone()),
                }
            }
            None => Due::Speak(self.assets.script.fallback.clone()),
        };
        self.greeted = true;
        match due {
            Due::Call { call, then } => {
                self.run_function_call(&call, out);
                self.due = Some(Due::Speak(then));
            }
            Due::Speak(reply) => self.start_audio(&reply, out),
        }
    }

    fn run_function_call(&mut self, call: &ScriptedCall, out: &mut Vec<Effect>) {
        let response_id = self.next_id("resp");
        let item_id = self.next_id("item");
        let call_id = self.next_id("call");
        let arguments = call.arguments.to_string();
        self.send(
            out,
            &ServerEvent::ResponseCreated {
                response: Self::response_info(
                    &response_id,
                    ResponseStatus::InProgress,
                    None,
                    vec![],
                ),
            },
        );
        let item = |args: String, status| Item::FunctionCall {
            id: Some(item_id.clone()),
            call_id: call_id.clone(),
            name: call.name.clone(),
            arguments: args,
            status: Some(status),
        };
        self.send(
            out,
            &ServerEvent::OutputItemAdded {
                response_id: response_id.clone(),
                output_index: 0,
                item: item(String::new(), ItemStatus::InProgress),
            },
        );
        let previous = self.last_item_id.replace(item_id.clone());
        self.send(
            out,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous.clone(),
                item: item(String::new(), ItemStatus::InProgress),
            },
        );
        let split = arguments
            .char_indices()
            .map(|(i, _)| i)
            .nth(arguments.chars().count() / 2)
            .unwrap_or(arguments.len());
        for piece in [&arguments[..split], &arguments[split..]] {
            if piece.is_empty() {
                continue;
            }
            self.send(
                out,
                &ServerEvent::FunctionCallArgumentsDelta {
                    response_id: response_id.clone(),
                    item_id: item_id.clone(),
                    output_index: 0,
                    call_id: call_id.clone(),
                    delta: piece.to_owned(),
                },
            );
        }
        self.send(
            out,
            // GA shape: no `name` here; it was on the `function_call` item of
            // `response.output_item.added`.
            &ServerEvent::FunctionCallArgumentsDone {
                response_id: Some(response_id.clone()),
                item_id: Some(item_id.clone()),
                output_index: Some(0),
                call_id: Some(call_id.clone()),
                name: None,
                arguments: Some(arguments.clone()),
            },
        );
        let done = item(arguments, ItemStatus::Completed);
        self.items.insert(
            item_id.clone(),
            ItemRecord {
                item: done.clone(),
                audio_ms: 0,
            },
        );
        self.send(
            out,
            &ServerEvent::OutputItemDone {
                response_id: response_id.clone(),
                output_index: 0,
                item: done.clone(),
            },
        );
        self.send(
            out,
            &ServerEvent::ConversationItemDone {
                previous_item_id: previous,
                item: done.clone(),
            },
        );
        self.send(
            out,
            &ServerEvent::ResponseDone {
                response: Self::response_info(
                    &response_id,
                    ResponseStatus::Completed,
                    None,
                    vec![done],
                ),
            },
        );
    }

    fn start_audio(&mut self, reply: &Reply, out: &mut Vec<Effect>) {
        let Some(clip) = self.assets.clip(&reply.clip, self.output_format) else {
            self.send_error(
                out,
                "server_error",
                format!("Simulator clip '{}' is unavailable.", reply.clip),
                None,
                None,
            );
            return;
        };
        let response_id = self.next_id("resp");
        let item_id = self.next_id("item");
        self.send(
            out,
            &ServerEvent::ResponseCreated {
                response: Self::response_info(
                    &response_id,
                    ResponseStatus::InProgress,
                    None,
                    vec![],
                ),
            },
        );
        let item = Item::Message {
            id: Some(item_id.clone()),
            role: Role::Assistant,
            content: vec![],
            status: Some(ItemStatus::InProgress),
        };
        self.send(
            out,
            &ServerEvent::OutputItemAdded {
                response_id: response_id.clone(),
                output_index: 0,
                item: item.clone(),
            },
        );
        let previous = self.last_item_id.replace(item_id.clone());
        self.send(
            out,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous,
                item: item.clone(),
            },
        );
        self.send(
            out,
            &ServerEvent::ContentPartAdded {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                output_index: 0,
                content_index: 0,
                part: ResponsePart {
                    kind: "audio".into(),
                    text: None,
                    transcript: Some(String::new()),
                },
            },
        );
        self.items
            .insert(item_id.clone(), ItemRecord { item, audio_ms: 0 });
        let words: Vec<String> = {
            let parts: Vec<&str> = reply.text.split_whitespace().collect();
            let n = parts.len();
            parts
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i + 1 < n {
                        format!("{w} ")
                    } else {
                        (*w).to_owned()
                    }
                })
                .collect()
        };
        self.active = Some(Active {
            response_id,
            item_id,
            words,
            words_sent: 0,
            transcript: String::new(),
            clip,
            next_chunk: 0,
            ticking: false,
        });
        if self.assets.pace > 0.0 {
            let period = Duration::from_secs_f32(CHUNK_MS as f32 / 1000.0 / self.assets.pace);
            self.tick(out);
            if let Some(active) = self.active.as_mut() {
                active.ticking = true;
                out.push(Effect::StartTicking(period));
            }
        } else {
            while self.active.is_some() {
                self.tick(out);
            }
        }
    }

    /// Sends the next audio chunk with its share of transcript words; ends
    /// the response after the last chunk. Nothing when no reply is streaming.
    pub fn tick(&mut self, out: &mut Vec<Effect>) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let total = active.clip.chunks.len();
        if active.next_chunk >= total {
            self.finish_audio(ResponseStatus::Completed, None, out);
            return;
        }
        let i = active.next_chunk;
        active.next_chunk += 1;
        let words_due = (active.words.len() * (i + 1)).div_ceil(total);
        let word_range = active.words_sent..words_due.max(active.words_sent);
        active.words_sent = word_range.end;
        let words: Vec<String> = active.words[word_range].to_vec();
        for w in &words {
            active.transcript.push_str(w);
        }
        let (response_id, item_id, clip) = (
            active.response_id.clone(),
            active.item_id.clone(),
            active.clip.clone(),
        );
        let finished = active.next_chunk >= total;
        if let Some(rec) = self.items.get_mut(&item_id) {
            rec.audio_ms += clip.chunk_ms.get(i).copied().unwrap_or(0);
        }
        self.send(
            out,
            &ServerEvent::OutputAudioDelta {
                response_id: Some(response_id.as_str().into()),
                item_id: Some(item_id.as_str().into()),
                output_index: 0,
                content_index: 0,
                delta: clip.chunks[i].as_str().into(),
            },
        );
        for delta in words {
            self.send(
                out,
                &ServerEvent::OutputAudioTranscriptDelta {
                    response_id: Some(response_id.clone()),
                    item_id: Some(item_id.clone()),
                    output_index: 0,
                    content_index: 0,
                    delta,
                },
            );
        }
        if finished {
            self.finish_audio(ResponseStatus::Completed, None, out);
        }
    }

    /// Ends the streaming response with `status` (and a cancel `reason`),
    /// sending the closing `.done` events in GA order.
    fn finish_audio(
        &mut self,
        status: ResponseStatus,
        reason: Option<&str>,
        out: &mut Vec<Effect>,
    ) {
        let Some(active) = self.active.take() else {
            return;
        };
        if active.ticking {
            out.push(Effect::StopTicking);
        }
        let Active {
            response_id,
            item_id,
            transcript,
            ..
        } = active;
        self.send(
            out,
            &ServerEvent::OutputAudioDone {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                output_index: 0,
                content_index: 0,
            },
        );
        self.send(
            out,
            &ServerEvent::OutputAudioTranscriptDone {
                response_id: Some(response_id.clone()),
                item_id: Some(item_id.clone()),
                output_index: 0,
                content_index: 0,
                transcript: Some(transcript.clone()),
            },
        );
        self.send(
            out,
            &ServerEvent::ContentPartDone {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                output_index: 0,
                content_index: 0,
                part: ResponsePart {
                    kind: "audio".into(),
                    text: None,
                    transcript: Some(transcript.clone()),
                },
            },
        );
        let item = Item::Message {
            id: Some(item_id.clone()),
            role: Role::Assistant,
            content: vec![ContentPart::OutputAudio {
                audio: None,
                transcript: Some(transcript),
            }],
            status: Some(if status == ResponseStatus::Completed {
                ItemStatus::Completed
            } else {
                ItemStatus::Incomplete
            }),
        };
        if let Some(rec) = self.items.get_mut(&item_id) {
            rec.item = item.clone();
        }
        self.send(
            out,
            &ServerEvent::OutputItemDone {
                response_id: response_id.clone(),
                output_index: 0,
                item: item.clone(),
            },
        );
        self.send(
            out,
            &ServerEvent::ConversationItemDone {
                previous_item_id: None,
                item: item.clone(),
            },
        );
        self.send(
            out,
            &ServerEvent::ResponseDone {
                response: Self::response_info(&response_id, status, reason, vec![item]),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::format::encode_base64;
    use crate::model::simulator::{ClipSource, Script, Simulator};

    /// One turn with a function call, then the fallback.
    const CALL_SCRIPT: &str = r#"
[greeting]
clip = "greeting.wav"
text = "Hello there."

[[turns]]
user_transcript = "Please take a message."
function_call = { name = "takeMessage", arguments = { message = "call back" } }

[turns.reply]
clip = "message-taken.wav"
text = "Message taken."

[fallback]
clip = "fallback.wav"
text = "Sorry, could you say that again?"
"#;

    fn conversation(script: &str, pace: f32) -> Conversation {
        let script = Script::from_toml_str(script).expect("script");
        let sim = Simulator::with_clips(script, ClipSource::Embedded, pace).expect("simulator");
        Conversation::new(sim.inner.assets.clone(), 7)
    }

    /// Feeds one client event; returns the effects, server events parsed.
    fn feed(c: &mut Conversation, event: Value) -> Vec<Result<Value, Effect>> {
        let mut out = Vec::new();
        c.client_text(&event.to_string(), &mut out);
        parsed(out)
    }

    fn parsed(out: Vec<Effect>) -> Vec<Result<Value, Effect>> {
        out.into_iter()
            .map(|e| match e {
                Effect::Send(text) => Ok(serde_json::from_str(&text).expect("server JSON")),
                other => Err(other),
            })
            .collect()
    }

    fn types(effects: &[Result<Value, Effect>]) -> Vec<String> {
        effects
            .iter()
            .map(|e| match e {
                Ok(v) => v["type"].as_str().unwrap_or("?").to_owned(),
                Err(Effect::StartTicking(_)) => "<start ticking>".to_owned(),
                Err(Effect::StopTicking) => "<stop ticking>".to_owned(),
                Err(Effect::Send(_)) => unreachable!("sends are parsed"),
            })
            .collect()
    }

    fn find<'a>(effects: &'a [Result<Value, Effect>], kind: &str) -> &'a Value {
        effects
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .find(|v| v["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {:?}", types(effects)))
    }

    /// `ms` of 24 kHz PCM16: a loud 300 Hz tone (≈ −9 dBFS) or digital silence.
    fn append(ms: u32, loud: bool) -> Value {
        let n = (24 * ms) as usize;
        let mut bytes = Vec::with_capacity(n * 2);
        for i in 0..n {
            let s = if loud {
                (((i as f32) * 300.0 * std::f32::consts::TAU / 24_000.0).sin() * 12_000.0) as i16
            } else {
                0
            };
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        json!({"type": "input_audio_buffer.append", "audio": encode_base64(&bytes)})
    }

    fn transcribing() -> Value {
        json!({"type": "session.update", "session": {"type": "realtime",
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
    }

    #[test]
    fn opening_announces_the_default_session() {
        let mut c = conversation(CALL_SCRIPT, 0.0);
        let mut out = Vec::new();
        c.opened(&mut out);
        let effects = parsed(out);
        assert_eq!(types(&effects), ["session.created"]);
        let session = &find(&effects, "session.created")["session"];
        assert_eq!(
            session["audio"]["input"]["turn_detection"]["type"],
            "server_vad"
        );
        assert_eq!(session["audio"]["output"]["format"]["rate"], 24000);
        assert_eq!(
            effects[0].as_ref().ok().unwrap()["event_id"],
            "event_sim7x1"
        );
    }

    #[test]
    fn a_spoken_turn_is_committed_transcribed_and_answered_with_the_scripted_call() {
        let mut c = conversation(CALL_SCRIPT, 0.0);
        assert_eq!(types(&feed(&mut c, transcribing())), ["session.updated"]);
        let mut effects = feed(&mut c, append(600, true));
        effects.extend(feed(&mut c, append(600, false)));
        assert_eq!(
            types(&effects),
            [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.input_audio_transcription.completed",
                "conversation.item.done",
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "conversation.item.done",
                "response.done",
            ]
        );
        let transcript = find(
            &effects,
            "conversation.item.input_audio_transcription.completed",
        );
        assert_eq!(transcript["transcript"], "Please take a message.");
        let done = find(&effects, "response.function_call_arguments.done");
        assert_eq!(done["arguments"], r#"{"message":"call back"}"#);
        let call_id = done["call_id"].as_str().expect("call_id").to_owned();

        // The tool's output, then response.create: the scripted reply, all at once
        // at pace 0, with its transcript.
        let output = feed(
            &mut c,
            json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
                "call_id": call_id, "output": "{\"ok\":true}"}}),
        );
        assert_eq!(
            types(&output),
            ["conversation.item.added", "conversation.item.done"]
        );
        let reply = feed(&mut c, json!({"type": "response.create"}));
        let kinds = types(&reply);
        assert!(!kinds.iter().any(|k| k.starts_with('<')), "{kinds:?}");
        assert_eq!(kinds.last().map(String::as_str), Some("response.done"));
        let response = &find(&reply, "response.done")["response"];
        assert_eq!(response["status"], "completed");
        assert_eq!(
            response["output"][0]["content"][0]["transcript"],
            "Message taken."
        );
    }

    #[test]
    fn a_paced_reply_streams_one_chunk_per_tick_and_speech_cancels_it() {
        let mut c = conversation(CALL_SCRIPT, 1.0);
        let start = feed(&mut c, json!({"type": "response.create"}));
        let kinds = types(&start);
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "response.output_audio.delta")
                .count(),
            1,
            "{kinds:?}"
        );
        match start.last() {
            Some(Err(Effect::StartTicking(period))) => assert_eq!(
                period.as_millis(),
                100,
                "one {CHUNK_MS} ms chunk per tick at pace 1"
            ),
            other => panic!("expected StartTicking last, got {other:?}"),
        }
        let mut out = Vec::new();
        c.tick(&mut out);
        let tick = parsed(out);
        assert_eq!(types(&tick)[0], "response.output_audio.delta");
        assert!(!types(&tick).contains(&"response.done".to_owned()));

        // The caller talks over the greeting: barge-in.
        let barge = feed(&mut c, append(400, true));
        assert_eq!(
            types(&barge),
            [
                "input_audio_buffer.speech_started",
                "<stop ticking>",
                "response.output_audio.done",
                "response.output_audio_transcript.done",
                "response.content_part.done",
                "response.output_item.done",
                "conversation.item.done",
                "response.done",
            ]
        );
        let response = &find(&barge, "response.done")["response"];
        assert_eq!(response["status"], "cancelled");
        assert_eq!(response["status_details"]["reason"], "turn_detected");
        let mut out = Vec::new();
        c.tick(&mut out);
        assert!(out.is_empty(), "a late tick after the cancel sends nothing");
    }

    #[test]
    fn truncation_past_the_audio_sent_and_a_short_commit_are_refused() {
        let mut c = conversation(CALL_SCRIPT, 1.0);
        feed(
            &mut c,
            json!({"type": "session.update", "session": {"type": "realtime",
                "audio": {"input": {"turn_detection": null}}}}),
        );
        let short = feed(&mut c, append(40, true));
        assert!(short.is_empty(), "manual turns: no VAD events");
        let commit = feed(
            &mut c,
            json!({"type": "input_audio_buffer.commit", "event_id": "c1"}),
        );
        let error = &find(&commit, "error")["error"];
        assert_eq!(error["code"], "input_audio_buffer_commit_empty");
        assert_eq!(error["event_id"], "c1");

        let start = feed(&mut c, json!({"type": "response.create"}));
        let item_id = find(&start, "response.output_item.added")["item"]["id"]
            .as_str()
            .expect("item id")
            .to_owned();
        // One 100 ms chunk has been sent.
        let too_far = feed(
            &mut c,
            json!({"type": "conversation.item.truncate", "item_id": item_id,
                "content_index": 0, "audio_end_ms": 500}),
        );
        assert_eq!(find(&too_far, "error")["error"]["param"], "audio_end_ms");
        let ok = feed(
            &mut c,
            json!({"type": "conversation.item.truncate", "item_id": item_id,
                "content_index": 0, "audio_end_ms": 60}),
        );
        assert_eq!(types(&ok), ["conversation.item.truncated"]);
    }

    #[test]
    fn bad_frames_get_errors_naming_the_client_event() {
        let mut c = conversation(CALL_SCRIPT, 0.0);
        let bad = feed(&mut c, json!({"type": "no.such.event", "event_id": "e9"}));
        let error = &find(&bad, "error")["error"];
        assert_eq!(error["code"], "invalid_event");
        assert_eq!(error["event_id"], "e9");
        let mut out = Vec::new();
        c.binary_frame(&mut out);
        assert_eq!(types(&parsed(out)), ["error"]);
        let cancel = feed(&mut c, json!({"type": "response.cancel"}));
        assert_eq!(
            find(&cancel, "error")["error"]["code"],
            "response_cancel_not_active"
        );
    }
}

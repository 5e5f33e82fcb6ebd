//! One simulated realtime session: the actix WebSocket actor behind each
//! `GET /sim/v1/realtime` socket. It keeps the session configuration set by
//! `session.update` (GA or xAI shape), runs the energy VAD over appended
//! audio, walks the script one caller turn at a time, streams reply clips as
//! `response.output_audio.delta` chunks of [`CHUNK_MS`] paced by the
//! simulator's `pace`, and answers the rest of the GA client events the way
//! OpenAI does (event order per docs/openai-realtime.md §Typical sequences and
//! §Function calling, errors per §Errors).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Handler, Message, SpawnHandle, StreamHandler};
use actix_web_actors::ws;
use serde_json::{json, Value};

use super::script::{Reply, ScriptedCall};
use super::vad::{EnergyVad, VadEvent};
use super::{EncodedClip, Inner, CHUNK_MS};
use crate::audio::format::{decode_base64, decode_to_pcm, AudioFormat};
use crate::model::realtime::{
    parse_client_event, server_event_json, AudioFormatSpec, ClientEvent, ContentPart, ErrorDetail,
    ErrorPayload, Item, ItemStatus, ResponseInfo, ResponsePart, ResponseStatus, Role, ServerEvent,
    SessionPayload, StatusDetails, Tool, TurnDetectionConfig,
};

/// Asks a session to drop its socket without a close frame (test hook).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kill;

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
    timer: Option<SpawnHandle>,
}

/// The per-socket actor.
pub struct SimSession {
    inner: Arc<Inner>,
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

impl SimSession {
    pub(crate) fn new(inner: Arc<Inner>, id: u64) -> Self {
        let vad = VadSettings::default();
        SimSession {
            inner,
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

    fn send(&mut self, ctx: &mut ws::WebsocketContext<Self>, event: &ServerEvent<'_>) {
        let event_id = self.next_id("event");
        match server_event_json(&event_id, event) {
            Ok(text) => ctx.text(text),
            Err(e) => log::error!("simulator: cannot encode server event: {e}"),
        }
    }

    fn send_error(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
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
            ctx,
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

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let raw: Option<Value> = if self.inner.recording() || text.contains("session.update") {
            serde_json::from_str(text).ok()
        } else {
            None
        };
        if self.inner.recording() {
            let recorded = raw
                .clone()
                .unwrap_or_else(|| Value::String(text.to_owned()));
            self.inner.record(self.id, recorded);
        }
        let event = match parse_client_event(text) {
            Ok(ev) => ev,
            Err(e) => {
                let client_id = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v["event_id"].as_str().map(str::to_owned));
                self.send_error(ctx, "invalid_event", e.to_string(), None, client_id);
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
                self.on_session_update(session, vad_null, client_id, ctx);
            }
            ClientEvent::InputAudioBufferAppend { audio, .. } => {
                self.on_append(&audio, client_id, ctx)
            }
            ClientEvent::InputAudioBufferCommit { .. } => {
                if self.buffered_ms < 100 {
                    let msg = format!(
                        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {}ms of audio.",
                        self.buffered_ms
                    );
                    self.send_error(ctx, "input_audio_buffer_commit_empty", msg, None, client_id);
                } else {
                    self.detector.reset_segment();
                    self.commit_user_turn(false, ctx);
                }
            }
            ClientEvent::InputAudioBufferClear { .. } => {
                self.buffered_ms = 0;
                self.pending_user_item = None;
                self.detector.reset_segment();
                self.send(ctx, &ServerEvent::InputAudioBufferCleared);
            }
            ClientEvent::ConversationItemCreate {
                previous_item_id,
                item,
                ..
            } => self.on_item_create(previous_item_id, item, client_id, ctx),
            ClientEvent::ConversationItemTruncate {
                item_id,
                content_index,
                audio_end_ms,
                ..
            } => self.on_truncate(item_id, content_index, audio_end_ms, client_id, ctx),
            ClientEvent::ConversationItemDelete { item_id, .. } => {
                if self.items.remove(&item_id).is_some() {
                    self.send(ctx, &ServerEvent::ConversationItemDeleted { item_id });
                } else {
                    let msg = format!("Item with item_id '{item_id}' not found.");
                    self.send_error(ctx, "invalid_value", msg, Some("item_id"), client_id);
                }
            }
            ClientEvent::ConversationItemRetrieve { item_id, .. } => {
                match self.items.get(&item_id).map(|r| r.item.clone()) {
                    Some(item) => self.send(ctx, &ServerEvent::ConversationItemRetrieved { item }),
                    None => {
                        let msg = format!("Item with item_id '{item_id}' not found.");
                        self.send_error(ctx, "invalid_value", msg, Some("item_id"), client_id);
                    }
                }
            }
            ClientEvent::ResponseCreate { .. } => {
                if self.active.is_some() {
                    self.send_error(
                        ctx,
                        "conversation_already_has_active_response",
                        "Conversation already has an active response in progress.".into(),
                        None,
                        client_id,
                    );
                } else {
                    self.start_response(ctx);
                }
            }
            ClientEvent::ResponseCancel { .. } => {
                if self.active.is_some() {
                    self.finish_audio(ResponseStatus::Cancelled, Some("client_cancelled"), ctx);
                } else {
                    self.send_error(
                        ctx,
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
        ctx: &mut ws::WebsocketContext<Self>,
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
                ctx,
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
        self.send(ctx, &ServerEvent::SessionUpdated { session });
    }

    fn on_append(
        &mut self,
        audio: &str,
        client_id: Option<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let pcm =
            match decode_base64(audio).and_then(|bytes| decode_to_pcm(self.input_format, &bytes)) {
                Ok(pcm) => pcm,
                Err(e) => {
                    self.send_error(
                        ctx,
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
                        ctx,
                        &ServerEvent::SpeechStarted {
                            audio_start_ms: Some(audio_start_ms),
                            item_id: Some(item_id),
                        },
                    );
                    if vad.interrupt_response && self.active.is_some() {
                        self.finish_audio(ResponseStatus::Cancelled, Some("turn_detected"), ctx);
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
                        ctx,
                        &ServerEvent::SpeechStopped {
                            audio_end_ms: Some(audio_end_ms),
                            item_id: Some(item_id),
                        },
                    );
                    self.commit_user_turn(vad.create_response, ctx);
                }
            }
        }
    }

    /// Commits the buffered caller audio as a user item, reports its scripted
    /// transcript, picks the script turn and (if `respond`) answers it.
    fn commit_user_turn(&mut self, respond: bool, ctx: &mut ws::WebsocketContext<Self>) {
        let item_id = match self.pending_user_item.take() {
            Some(id) => id,
            None => self.next_id("item"),
        };
        self.buffered_ms = 0;
        let previous_item_id = self.last_item_id.replace(item_id.clone());
        self.send(
            ctx,
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
            ctx,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous_item_id.clone(),
                item: user_item(None, ItemStatus::Completed),
            },
        );
        let turn = self.inner.script.turns.get(self.turn_cursor).cloned();
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
            None => Due::Speak(self.inner.script.fallback.clone()),
        });
        let final_item = if self.transcription {
            self.send(
                ctx,
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
            ctx,
            &ServerEvent::ConversationItemDone {
                previous_item_id,
                item: final_item,
            },
        );
        if respond && self.active.is_none() {
            self.start_response(ctx);
        }
    }

    fn on_item_create(
        &mut self,
        previous_item_id: Option<String>,
        item: Item,
        client_id: Option<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let id = match item.id() {
            Some(id) if self.items.contains_key(id) => {
                let msg = format!("Item with id '{id}' already exists.");
                self.send_error(ctx, "invalid_value", msg, Some("item.id"), client_id);
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
                    ctx,
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
            ctx,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous.clone(),
                item: item.clone(),
            },
        );
        self.send(
            ctx,
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
        ctx: &mut ws::WebsocketContext<Self>,
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
                self.send_error(ctx, "invalid_value", msg, Some("item_id"), client_id);
                return;
            }
            None => {
                let msg = format!("Item with item_id '{item_id}' not found.");
                self.send_error(ctx, "invalid_value", msg, Some("item_id"), client_id);
                return;
            }
        };
        if audio_end_ms > sent {
            let msg = format!("Audio content of {sent}ms is already shorter than {audio_end_ms}ms");
            self.send_error(ctx, "invalid_value", msg, Some("audio_end_ms"), client_id);
            return;
        }
        if let Some(rec) = self.items.get_mut(&item_id) {
            rec.audio_ms = audio_end_ms;
        }
        self.send(
            ctx,
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

    fn start_response(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let due = match self.due.take() {
            Some(d) => d,
            None if !self.greeted && self.user_turns == 0 => {
                match self.inner.script.greeting.clone() {
                    Some(g) => Due::Speak(g),
                    None => Due::Speak(self.inner.script.fallback.clone()),
                }
            }
            None => Due::Speak(self.inner.script.fallback.clone()),
        };
        self.greeted = true;
        match due {
            Due::Call { call, then } => {
                self.run_function_call(&call, ctx);
                self.due = Some(Due::Speak(then));
            }
            Due::Speak(reply) => self.start_audio(&reply, ctx),
        }
    }

    fn run_function_call(&mut self, call: &ScriptedCall, ctx: &mut ws::WebsocketContext<Self>) {
        let response_id = self.next_id("resp");
        let item_id = self.next_id("item");
        let call_id = self.next_id("call");
        let arguments = call.arguments.to_string();
        self.send(
            ctx,
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
            ctx,
            &ServerEvent::OutputItemAdded {
                response_id: response_id.clone(),
                output_index: 0,
                item: item(String::new(), ItemStatus::InProgress),
            },
        );
        let previous = self.last_item_id.replace(item_id.clone());
        self.send(
            ctx,
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
                ctx,
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
            ctx,
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
            ctx,
            &ServerEvent::OutputItemDone {
                response_id: response_id.clone(),
                output_index: 0,
                item: done.clone(),
            },
        );
        self.send(
            ctx,
            &ServerEvent::ConversationItemDone {
                previous_item_id: previous,
                item: done.clone(),
            },
        );
        self.send(
            ctx,
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

    fn start_audio(&mut self, reply: &Reply, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(clip) = self.inner.clip(&reply.clip, self.output_format) else {
            self.send_error(
                ctx,
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
            ctx,
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
            ctx,
            &ServerEvent::OutputItemAdded {
                response_id: response_id.clone(),
                output_index: 0,
                item: item.clone(),
            },
        );
        let previous = self.last_item_id.replace(item_id.clone());
        self.send(
            ctx,
            &ServerEvent::ConversationItemAdded {
                previous_item_id: previous,
                item: item.clone(),
            },
        );
        self.send(
            ctx,
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
            timer: None,
        });
        if self.inner.pace > 0.0 {
            let period = Duration::from_secs_f32(CHUNK_MS as f32 / 1000.0 / self.inner.pace);
            self.tick(ctx);
            if let Some(active) = self.active.as_mut() {
                active.timer = Some(ctx.run_interval(period, |act, ctx| act.tick(ctx)));
            }
        } else {
            while self.active.is_some() {
                self.tick(ctx);
            }
        }
    }

    /// Sends the next audio chunk with its share of transcript words; ends
    /// the response after the last chunk.
    fn tick(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let total = active.clip.chunks.len();
        if active.next_chunk >= total {
            self.finish_audio(ResponseStatus::Completed, None, ctx);
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
            ctx,
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
                ctx,
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
            self.finish_audio(ResponseStatus::Completed, None, ctx);
        }
    }

    /// Ends the streaming response with `status` (and a cancel `reason`),
    /// sending the closing `.done` events in GA order.
    fn finish_audio(
        &mut self,
        status: ResponseStatus,
        reason: Option<&str>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Some(active) = self.active.take() else {
            return;
        };
        if let Some(timer) = active.timer {
            ctx.cancel_future(timer);
        }
        let Active {
            response_id,
            item_id,
            transcript,
            ..
        } = active;
        self.send(
            ctx,
            &ServerEvent::OutputAudioDone {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                output_index: 0,
                content_index: 0,
            },
        );
        self.send(
            ctx,
            &ServerEvent::OutputAudioTranscriptDone {
                response_id: Some(response_id.clone()),
                item_id: Some(item_id.clone()),
                output_index: 0,
                content_index: 0,
                transcript: Some(transcript.clone()),
            },
        );
        self.send(
            ctx,
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
            ctx,
            &ServerEvent::OutputItemDone {
                response_id: response_id.clone(),
                output_index: 0,
                item: item.clone(),
            },
        );
        self.send(
            ctx,
            &ServerEvent::ConversationItemDone {
                previous_item_id: None,
                item: item.clone(),
            },
        );
        self.send(
            ctx,
            &ServerEvent::ResponseDone {
                response: Self::response_info(&response_id, status, reason, vec![item]),
            },
        );
    }
}

impl Actor for SimSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.inner.register(self.id, ctx.address());
        let session = self.session_json();
        self.send(ctx, &ServerEvent::SessionCreated { session });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.inner.deregister(self.id);
    }
}

impl Handler<Kill> for SimSession {
    type Result = ();

    fn handle(&mut self, _msg: Kill, ctx: &mut Self::Context) {
        // Stopping without `ctx.close()` ends the stream with no close frame.
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for SimSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.send_error(
                ctx,
                "invalid_event",
                "Binary frames are not supported; send JSON text events.".into(),
                None,
                None,
            ),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Pong(_) | ws::Message::Continuation(_) | ws::Message::Nop) => {}
            Err(e) => {
                log::warn!("simulator session {}: protocol error: {e}", self.id);
                ctx.stop();
            }
        }
    }
}

//! The stamping model: a minimal realtime endpoint that `switchboard loadtest`
//! hosts in its own process, speaking the OpenAI Realtime GA events switchboard
//! relies on (docs/openai-realtime.md). It reads the stamp of every caller frame it
//! receives (`input_audio_buffer.append.audio`, or a raw Twilio `media.payload`
//! when the floor relay forwards frames untouched), records the carrier → model
//! time (frames sent before the relay's model socket was accepted are counted
//! apart: they measure the relay's connect time, not its per-frame cost), and turns the callers' speech flags into VAD turns: speech start →
//! `input_audio_buffer.speech_started`; speech end →
//! `input_audio_buffer.speech_stopped`, then a reply of [`REPLY_FRAMES`] stamped
//! 20 ms `response.output_audio.delta` frames paced in real time, then
//! `response.done`. Because callers and this endpoint share one clock
//! ([`super::clock`]), the stamps measure time spent inside the relay.
//!
//! With [`ModelOptions`] it also behaves like a provider across a network
//! (the WebSocket upgrade answered [`SimDelays::connect`] late) and greets: a
//! `response.create` before any caller turn (switchboard's greeting) is answered
//! [`SimDelays::first_audio`] later with [`GREETING_FRAMES`] paced frames and
//! `response.done`. Greeting frames are stamped with the reserved call id
//! [`GREETING_CALL`] and a per-session sequence — under pre-warm the session
//! greets before it has seen a caller frame, so it does not know the call
//! index yet; its greeting count reaches the ledger under that index once the
//! first caller frame names it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_web_actors::ws;
use bytes::BytesMut;
use bytestring::ByteString;

use super::clock::now_us;
use super::stamp::{FrameTails, SeqTracker, Stamp};
use super::stats::{Batch, SharedHistogram};
use crate::model::realtime::{self, ResponseInfo, ResponseStatus, ServerEvent};
pub use crate::model::simulator::SimDelays;

/// Frames in each reply (50 × 20 ms = 1 s of assistant audio).
pub const REPLY_FRAMES: u64 = 50;
/// Frames in the greeting (50 × 20 ms = 1 s of assistant audio).
pub const GREETING_FRAMES: u64 = 50;
/// The call id stamped on greeting frames (no caller has it: call indices are
/// below the call count, which is at most `u32::MAX − 1`).
pub const GREETING_CALL: u32 = u32::MAX;
/// Slack a listening caller adds after the greeting's worst-case end (cold
/// start: connect + first audio + the greeting itself) before it speaks:
/// switchboard's play-out lead and scheduling under load.
const GREETING_SLACK: Duration = Duration::from_secs(1);
/// One frame of assistant audio.
const FRAME: Duration = Duration::from_millis(20);
/// How often a session publishes its counters to the ledger.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Largest frame accepted from the relay, bytes.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// What the model saw of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelCallStats {
    /// Order of caller frames received (carrier → model).
    pub c2m: SeqTracker,
    /// Assistant frames sent (model → carrier).
    pub m2c_sent: u64,
    /// Caller turns answered.
    pub turns: u64,
    /// Caller frames sent before this model socket was accepted: they waited
    /// for the relay to connect its model link and are kept out of the
    /// relay-time histogram.
    pub queued_at_connect: u64,
    /// Longest such wait, µs.
    pub connect_wait_max_us: u64,
    /// Greeting frames sent (stamped [`GREETING_CALL`], sequence from 0).
    pub greeting_sent: u64,
}

/// How the stamping model behaves beyond relaying stamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelOptions {
    /// Upgrade answered `connect` late; greeting audio starts `first_audio`
    /// after its `response.create`. Zero (the default): none.
    pub delays: SimDelays,
    /// Answer a `response.create` that comes before any caller turn with a
    /// greeting of [`GREETING_FRAMES`] frames. Off: ignored (as a model that
    /// is never asked to greet).
    pub greeting: bool,
    /// Speak OpenAI GPT-Live instead of Realtime: `session.start` answered
    /// `session.started`, the greeting asked by `session.instructions.append`,
    /// replies as `session.output_audio.delta` with no VAD or `response.*`
    /// events, and between replies the continuous silent track GPT-Live sends
    /// (one [`LIVE_SILENCE`] delta per 100 ms).
    pub live: bool,
}

/// GPT-Live's silent track between replies: 100 ms of µ-law silence per delta
/// (observed pacing of OpenAI's primary WebSocket).
const LIVE_SILENCE: Duration = Duration::from_millis(100);

/// The stamping model's answer to `session.start` (checked against the
/// `openai` package's `SessionStartedEvent` by tests/it/live.rs).
pub const LIVE_SESSION_STARTED: &str = r#"{"type":"session.started","event_id":"ev_started","session":{"id":"live_stamping","expires_at":4102444800,"model":"gpt-live-1.1","status":"active"}}"#;

/// One delta of the stamping model's silent track (100 ms of µ-law silence).
pub fn live_silence_frame() -> String {
    let silence = crate::audio::format::encode_base64(&[0xFF; 800]);
    format!(r#"{{"type":"session.output_audio.delta","delta":"{silence}"}}"#)
}

impl ModelOptions {
    /// How long a caller stays silent after its stream `start` to hear the
    /// whole greeting even on a cold start (connect + first audio + greeting +
    /// 1 s slack); zero when the model does not greet.
    pub fn listen_for(&self) -> Duration {
        if !self.greeting {
            return Duration::ZERO;
        }
        self.delays.connect
            + self.delays.first_audio
            + FRAME * GREETING_FRAMES as u32
            + GREETING_SLACK
    }
}

/// Everything the model's sessions report, shared with the load generator.
#[derive(Debug, Default)]
pub struct ModelLedger {
    calls: Mutex<HashMap<u32, ModelCallStats>>,
    live: AtomicUsize,
    /// Greeting frames sent by sessions that ended without a caller frame
    /// (their call index never became known).
    orphan_greeting: AtomicU64,
    /// Carrier → model time of every stamped caller frame, µs.
    pub c2m_latency: SharedHistogram,
}

impl ModelLedger {
    fn lock(&self) -> MutexGuard<'_, HashMap<u32, ModelCallStats>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every call and sample (between runs).
    pub fn reset(&self) {
        self.lock().clear();
        self.c2m_latency.reset();
        self.orphan_greeting.store(0, Ordering::SeqCst);
    }

    /// Greeting frames sent by sessions that never learnt their call index
    /// (no caller frame reached them): all lost to the callers.
    pub fn orphan_greeting_frames(&self) -> u64 {
        self.orphan_greeting.load(Ordering::SeqCst)
    }

    /// What the model saw of call `idx`.
    pub fn call(&self, idx: u32) -> Option<ModelCallStats> {
        self.lock().get(&idx).cloned()
    }

    /// Sessions currently connected.
    pub fn live_sessions(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    fn publish(&self, idx: u32, stats: &ModelCallStats) {
        self.lock().insert(idx, stats.clone());
    }
}

/// A running stamping model.
pub struct StampingModel {
    addr: SocketAddr,
    handle: ServerHandle,
    ledger: Arc<ModelLedger>,
    options: ModelOptions,
}

impl StampingModel {
    /// Serves on `bind` with `workers` threads (any path upgrades to the model
    /// socket), without delays or greeting. Must be called inside an actix
    /// system; the server runs until [`StampingModel::stop`].
    ///
    /// # Errors
    /// The listener cannot be bound or the server cannot start.
    pub fn start(bind: &str, workers: usize) -> std::io::Result<StampingModel> {
        Self::start_with(bind, workers, ModelOptions::default())
    }

    /// [`StampingModel::start`] with provider delays and the greeting.
    ///
    /// # Errors
    /// The listener cannot be bound or the server cannot start.
    pub fn start_with(
        bind: &str,
        workers: usize,
        options: ModelOptions,
    ) -> std::io::Result<StampingModel> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let ledger = Arc::new(ModelLedger::default());
        let data = web::Data::from(ledger.clone());
        let opts = web::Data::new(options);
        let server: Server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(opts.clone())
                .default_service(web::get().to(upgrade))
        })
        .workers(workers.max(1))
        .backlog(4096)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(StampingModel {
            addr,
            handle,
            ledger,
            options,
        })
    }

    /// Its delays and whether it greets.
    pub fn options(&self) -> ModelOptions {
        self.options
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/v1/realtime`: what switchboard's `model.url` must be.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// Per-call observations and the carrier → model histogram.
    pub fn ledger(&self) -> &Arc<ModelLedger> {
        &self.ledger
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    ledger: web::Data<ModelLedger>,
    options: web::Data<ModelOptions>,
) -> HttpResponse {
    // A provider across a network: the handshake completes `connect` late.
    if !options.delays.connect.is_zero() {
        actix_rt::time::sleep(options.delays.connect).await;
    }
    let session = ModelSession::new(ledger.into_inner(), **options);
    match ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
    {
        Ok(resp) => resp,
        Err(e) => HttpResponse::from_error(e),
    }
}

/// What the session is saying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// The greeting (before any caller turn).
    Greeting,
    /// The answer to caller turn `turns`.
    Turn,
}

/// One relay connection (one call).
struct ModelSession {
    ledger: Arc<ModelLedger>,
    options: ModelOptions,
    tails: FrameTails,
    accepted_us: u64,
    call: Option<u32>,
    stats: ModelCallStats,
    latency: Batch,
    speaking: bool,
    /// The running reply's timer (or the greeting's first-audio wait).
    reply: Option<SpawnHandle>,
    reply_kind: Reply,
    reply_sent: u64,
    /// A greeting has been asked for (only the first is answered).
    greeting_asked: bool,
    audio_ms: u32,
    buf: BytesMut,
}

impl ModelSession {
    fn new(ledger: Arc<ModelLedger>, options: ModelOptions) -> Self {
        let latency = ledger.c2m_latency.batch();
        ModelSession {
            ledger,
            options,
            tails: FrameTails::new(),
            accepted_us: now_us(),
            call: None,
            stats: ModelCallStats::default(),
            latency,
            speaking: false,
            reply: None,
            reply_kind: Reply::Turn,
            reply_sent: 0,
            greeting_asked: false,
            audio_ms: 0,
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// A `response.create` from the relay: before any caller turn it asks for
    /// the greeting, which starts `first_audio` later; otherwise ignored (this
    /// model answers caller turns by itself, on `speech_stopped`).
    /// GPT-Live: `session.start` is answered `session.started`, and the
    /// silent track starts.
    fn on_session_start(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.text(LIVE_SESSION_STARTED);
        let frame: ByteString = live_silence_frame().into();
        ctx.run_interval(LIVE_SILENCE, move |act, ctx| {
            if act.reply.is_none() {
                ctx.text(frame.clone());
            }
        });
    }

    fn on_response_create(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if !self.options.greeting || self.greeting_asked || self.stats.turns > 0 || self.speaking {
            return;
        }
        self.greeting_asked = true;
        self.stop_reply(ctx);
        self.reply = Some(ctx.run_later(self.options.delays.first_audio, |act, ctx| {
            act.reply = None;
            act.start_reply(Reply::Greeting, ctx);
        }));
    }

    fn publish(&mut self) {
        self.latency.flush();
        if let Some(idx) = self.call {
            self.ledger.publish(idx, &self.stats);
        }
    }

    fn send_event(&mut self, event: &ServerEvent<'_>, ctx: &mut ws::WebsocketContext<Self>) {
        let id = format!("ev_{}", self.audio_ms);
        if let Ok(text) = realtime::server_event_json(&id, event) {
            ctx.text(text);
        }
    }

    fn on_caller_frame(&mut self, stamp: Stamp, ctx: &mut ws::WebsocketContext<Self>) {
        let waited = now_us().saturating_sub(stamp.sent_us);
        if stamp.sent_us < self.accepted_us {
            self.stats.queued_at_connect += 1;
            self.stats.connect_wait_max_us = self.stats.connect_wait_max_us.max(waited);
        } else {
            self.latency.record(waited);
        }
        self.stats.c2m.observe(stamp.seq);
        self.audio_ms += 20;
        if self.call.is_none() {
            self.call = Some(stamp.call);
        }
        let turn = self.stats.turns;
        match (self.speaking, stamp.speech) {
            (false, true) if self.options.live => {
                self.speaking = true;
                self.stop_reply(ctx);
            }
            (true, false) if self.options.live => {
                self.speaking = false;
                self.stats.turns += 1;
                self.start_reply(Reply::Turn, ctx);
            }
            (false, true) => {
                self.speaking = true;
                self.stop_reply(ctx);
                self.send_event(
                    &ServerEvent::SpeechStarted {
                        audio_start_ms: Some(self.audio_ms),
                        item_id: Some(format!("item_u{turn}")),
                    },
                    ctx,
                );
            }
            (true, false) => {
                self.speaking = false;
                self.send_event(
                    &ServerEvent::SpeechStopped {
                        audio_end_ms: Some(self.audio_ms),
                        item_id: Some(format!("item_u{turn}")),
                    },
                    ctx,
                );
                self.stats.turns += 1;
                self.start_reply(Reply::Turn, ctx);
            }
            _ => {}
        }
    }

    fn start_reply(&mut self, kind: Reply, ctx: &mut ws::WebsocketContext<Self>) {
        self.stop_reply(ctx);
        self.reply_kind = kind;
        self.reply_sent = 0;
        self.send_reply_frame(ctx);
        self.reply = Some(ctx.run_interval(FRAME, |act, ctx| act.send_reply_frame(ctx)));
    }

    fn stop_reply(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(handle) = self.reply.take() {
            ctx.cancel_future(handle);
        }
    }

    fn send_reply_frame(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let (call, seq, frames) = match self.reply_kind {
            Reply::Greeting => (GREETING_CALL, self.stats.greeting_sent, GREETING_FRAMES),
            Reply::Turn => match self.call {
                Some(call) => (call, self.stats.m2c_sent, REPLY_FRAMES),
                None => return,
            },
        };
        let name = ReplyName {
            kind: self.reply_kind,
            turn: self.stats.turns,
        };
        if self.reply_sent >= frames && self.options.live {
            self.stop_reply(ctx);
            return;
        }
        if self.reply_sent >= frames {
            self.stop_reply(ctx);
            self.send_event(
                &ServerEvent::ResponseDone {
                    response: ResponseInfo {
                        id: Some(format!("resp_{name}")),
                        object: Some("realtime.response".into()),
                        status: ResponseStatus::Completed,
                        status_details: None,
                        output: Vec::new(),
                        usage: None,
                        metadata: None,
                    },
                },
                ctx,
            );
            return;
        }
        let stamp = Stamp {
            call,
            seq,
            sent_us: now_us(),
            speech: true,
        };
        if self.options.live {
            live_delta_json(stamp, &self.tails, &mut self.buf);
        } else {
            delta_json(name, stamp, &self.tails, &mut self.buf);
        }
        let frame = self.buf.split().freeze();
        if let Ok(text) = ByteString::try_from(frame) {
            ctx.text(text);
            match self.reply_kind {
                Reply::Greeting => self.stats.greeting_sent += 1,
                Reply::Turn => self.stats.m2c_sent += 1,
            }
        }
        self.reply_sent += 1;
    }
}

/// The suffix of a reply's response and item ids: the turn number, or
/// `greeting` (written in place, no allocation per frame).
#[derive(Debug, Clone, Copy)]
struct ReplyName {
    kind: Reply,
    turn: u64,
}

impl std::fmt::Display for ReplyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Reply::Greeting => f.write_str("greeting"),
            Reply::Turn => write!(f, "{}", self.turn),
        }
    }
}

/// Writes `{"type":"response.output_audio.delta",…,"delta":B64}` for reply
/// `name` (response `resp_{name}`, item `item_a{name}`) carrying one stamped
/// 20 ms frame into `out`.
fn delta_json(name: ReplyName, stamp: Stamp, tails: &FrameTails, out: &mut BytesMut) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        r#"{{"type":"response.output_audio.delta","event_id":"ev_d{seq}","response_id":"resp_{name}","item_id":"item_a{name}","output_index":0,"content_index":0,"delta":""#,
        seq = stamp.seq
    );
    tails.push_frame(stamp, out);
    out.extend_from_slice(br#""}"#);
}

/// Writes GPT-Live's `{"type":"session.output_audio.delta","delta":B64}` (no
/// ids: the track is one stream) carrying one stamped 20 ms frame into `out`.
fn live_delta_json(stamp: Stamp, tails: &FrameTails, out: &mut BytesMut) {
    out.extend_from_slice(br#"{"type":"session.output_audio.delta","delta":""#);
    tails.push_frame(stamp, out);
    out.extend_from_slice(br#""}"#);
}

/// The base64 audio of a caller frame as the relay delivers it: the `audio` of
/// `input_audio_buffer.append` (switchboard) or the `payload` of a Twilio
/// `media` frame (the floor relay forwards carrier frames untouched).
pub(crate) fn audio_field(text: &str) -> Option<&str> {
    for key in [r#""audio":""#, r#""payload":""#, r#""delta":""#] {
        if let Some(start) = text.find(key).map(|i| i + key.len()) {
            let len = text[start..].find('"')?;
            return Some(&text[start..start + len]);
        }
    }
    None
}

impl Actor for ModelSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.ledger.live.fetch_add(1, Ordering::SeqCst);
        ctx.run_interval(PUBLISH_EVERY, |act, _| act.publish());
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.publish();
        if self.call.is_none() {
            self.ledger
                .orphan_greeting
                .fetch_add(self.stats.greeting_sent, Ordering::SeqCst);
        }
        self.ledger.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ModelSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) => {
                if let Some(audio) = audio_field(&text) {
                    if let Some(stamp) = Stamp::from_base64(audio) {
                        self.on_caller_frame(stamp, ctx);
                    }
                } else {
                    match realtime::event_type(&text).as_deref() {
                        Some("response.create") if !self.options.live => {
                            self.on_response_create(ctx)
                        }
                        Some("session.instructions.append") if self.options.live => {
                            self.on_response_create(ctx)
                        }
                        Some("session.start") if self.options.live => self.on_session_start(ctx),
                        _ => {}
                    }
                }
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_frames_parse_as_realtime_audio_deltas() {
        let tails = FrameTails::new();
        let stamp = Stamp {
            call: 3,
            seq: 7,
            sent_us: 1234,
            speech: true,
        };
        let mut buf = BytesMut::new();
        let name = ReplyName {
            kind: Reply::Turn,
            turn: 2,
        };
        delta_json(name, stamp, &tails, &mut buf);
        let text = std::str::from_utf8(&buf).unwrap();
        match realtime::parse_server_event(text).unwrap() {
            ServerEvent::OutputAudioDelta { item_id, delta, .. } => {
                assert_eq!(item_id.as_deref(), Some("item_a2"));
                assert_eq!(Stamp::from_base64(&delta), Some(stamp));
            }
            other => panic!("not a delta: {other:?}"),
        }
    }

    #[test]
    fn greeting_frames_carry_the_reserved_call_and_their_own_ids() {
        let tails = FrameTails::new();
        let stamp = Stamp {
            call: GREETING_CALL,
            seq: 0,
            sent_us: 99,
            speech: true,
        };
        let mut buf = BytesMut::new();
        let name = ReplyName {
            kind: Reply::Greeting,
            turn: 0,
        };
        delta_json(name, stamp, &tails, &mut buf);
        let text = std::str::from_utf8(&buf).unwrap();
        match realtime::parse_server_event(text).unwrap() {
            ServerEvent::OutputAudioDelta {
                item_id,
                response_id,
                delta,
                ..
            } => {
                assert_eq!(item_id.as_deref(), Some("item_agreeting"));
                assert_eq!(response_id.as_deref(), Some("resp_greeting"));
                assert_eq!(Stamp::from_base64(&delta), Some(stamp));
            }
            other => panic!("not a delta: {other:?}"),
        }
    }

    #[test]
    fn callers_listen_through_a_cold_greeting() {
        let options = ModelOptions {
            delays: SimDelays {
                connect: Duration::from_millis(400),
                first_audio: Duration::from_millis(500),
            },
            greeting: true,
            live: false,
        };
        // 400 ms connect + 500 ms first audio + 1 s greeting + 1 s slack.
        assert_eq!(options.listen_for(), Duration::from_millis(2900));
        let silent = ModelOptions {
            greeting: false,
            ..options
        };
        assert_eq!(silent.listen_for(), Duration::ZERO);
    }

    #[test]
    fn audio_field_finds_append_media_and_delta_audio() {
        let append = r#"{"type":"input_audio_buffer.append","audio":"QUJD"}"#;
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","payload":"REVG"}}"#;
        assert_eq!(audio_field(append), Some("QUJD"));
        assert_eq!(audio_field(media), Some("REVG"));
        assert_eq!(audio_field(r#"{"type":"session.update"}"#), None);
    }
}

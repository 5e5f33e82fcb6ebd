//! `ModelLinkActor`: one WebSocket to the realtime model per call (per link
//! generation). It configures the session (`session.update`), replays the
//! conversation after a restart, relays caller audio (`input_audio_buffer.append`
//! with the carrier's base64 passed through), and turns server events into typed
//! [`ModelEvent`]s for the call. Any abnormal end — connect error, close, stream
//! error, missed heartbeat, session cap — is reported once as [`LinkDown`]; the
//! Supervisor decides whether a new link follows.

pub mod socket;

use std::cell::RefCell;
use std::collections::HashSet;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, Frame, Message, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;

use crate::actor_messages::{AudioFrame, LinkDown};
use crate::audio::format::AudioFormat;
use crate::model::api::ModelApi;
use crate::model::command::LinkCommand;
use crate::model::event::ModelEvent;
use crate::model::live;
use crate::model::live_tracker::{AudioRoute, LiveTracker};
use crate::model::realtime::{self, AudioEncoding, ClientEvent, ServerEvent};
use crate::model::session::{self, HistoryItem, SessionSpec};
use crate::model::tracker::ResponseTracker;
use socket::{self as model_socket, ModelSocket};

/// How long a normal close waits for the server's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How long a stopping link stays alive to write its close frame.
const CLOSE_FLUSH: Duration = Duration::from_millis(200);

/// Largest server frame accepted, bytes (session objects and audio deltas are far smaller).
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Initial capacity of the reused append buffer (about 16 Twilio frames).
const APPEND_BUF_BYTES: usize = 4096;

/// GPT-Live: milliseconds between checks of turns and asks against the
/// clock, and of the silence feed; also the silence fed per check.
const LIVE_TICK_MS: u64 = 250;

/// GPT-Live: silence is fed when no caller audio came for this long (the
/// session's clock runs on input audio; a pre-warmed call has none yet).
const LIVE_SILENCE_AFTER: Duration = Duration::from_millis(200);

/// Distinct ignored event types remembered per link for log-once (bounds memory
/// against a server inventing types).
const MAX_UNKNOWN_TYPES_LOGGED: usize = 64;

/// Most server text a recording link keeps for a hand-over, bytes (a greeting is
/// tens of KiB at 8 kHz µ-law, a few hundred at 24 kHz PCM); past it the
/// session can no longer be handed over and stays where it is.
const MAX_RECORDED_BYTES: usize = 4 * 1024 * 1024;

/// An open model session leaving its link for a new one on another thread
/// ([`TakeSession`]): the socket (re-registered by the new link) and every
/// server text frame the session has received so far, in order, which the new
/// link replays so the new call actor rebuilds the same state.
pub struct LinkHandover {
    pub socket: ModelSocket,
    pub received: Vec<ByteString>,
}

/// Call → its pre-warm link: give up the open session for a hand-over. `None`
/// when the link is not open, is closing, or stopped recording (too much
/// received, or told to stop): the session then stays with this link.
#[derive(Message)]
#[rtype(result = "Option<LinkHandover>")]
pub struct TakeSession;

/// Everything one link needs.
pub struct LinkSetup {
    pub call_id: String,
    /// 0 for the first link of a call, +1 per restart.
    pub generation: u32,
    /// `ws://` or `wss://` endpoint of `api`: Realtime (`?model=` is added
    /// when missing) or GPT-Live (used as is).
    pub url: String,
    /// The protocol this link speaks.
    pub api: ModelApi,
    /// GPT-Live's backend Responses model (`delegation.responses.model`).
    pub backend_model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    pub session: SessionSpec,
    /// Conversation so far, replayed as `conversation.item.create` after `session.update`.
    pub history: Vec<HistoryItem>,
    /// Where the model's events go (the call).
    pub events: Recipient<ModelEvent>,
    /// Told once when the link ends abnormally (the call).
    pub down: Recipient<LinkDown>,
    /// TLS connector for `wss://`.
    pub tls: Option<openssl::ssl::SslConnector>,
    pub connect_timeout: Duration,
    /// Ping interval; silence for three intervals counts as a dropped link.
    pub heartbeat: Duration,
    pub counters: LinkCounters,
    /// Keep every server text frame for a hand-over ([`TakeSession`]): set for
    /// a pre-warmed call, whose stream may land on another worker thread.
    pub record: bool,
    /// An open session to continue instead of connecting: no `session.update`
    /// or history is sent again, its received frames are replayed first.
    pub adopt: Option<LinkHandover>,
}

/// Counters a link bumps (shared with `/metrics`).
#[derive(Clone)]
pub struct LinkCounters {
    /// Server events of types not modelled here.
    pub unknown: prometheus::IntCounter,
    /// Server frames that could not be read.
    pub unparsable: prometheus::IntCounter,
}

/// The open socket, shared by the link actor (writes), its reader stream and
/// its writer future on the link's own thread; taken out whole for a hand-over.
#[derive(Default)]
struct SocketSlot {
    socket: Option<ModelSocket>,
    /// The writer future, parked until something is written.
    writer: Option<Waker>,
}

type SharedSocket = Rc<RefCell<SocketSlot>>;

/// One realtime model connection for one call.
pub struct ModelLinkActor {
    setup: LinkSetup,
    socket: Option<SharedSocket>,
    /// Server text frames kept for a hand-over (`None`: not recording).
    recorded: Option<Vec<ByteString>>,
    recorded_bytes: usize,
    /// The session went to another link: leave without a close frame or `LinkDown`.
    handed_over: bool,
    /// Reused for `input_audio_buffer.append` frames: each frame is split off
    /// and frozen, and the space is reclaimed once the socket has written it.
    append_buf: BytesMut,
    last_rx: Instant,
    down_reported: bool,
    shutting_down: bool,
    /// A close frame has been written (sent once, on any way out).
    close_sent: bool,
    /// Interprets non-audio server events.
    tracker: ResponseTracker,
    /// Reused output buffer of [`ResponseTracker::on_event`].
    events: Vec<ModelEvent>,
    warned_unparsable: bool,
    /// Event types this link ignored (each logged once).
    unknown_types: HashSet<String>,
    /// GPT-Live state (`None` on Realtime).
    live: Option<LiveLink>,
}

/// What a GPT-Live link keeps beside the socket.
struct LiveLink {
    tracker: LiveTracker,
    /// One `session.input_audio.append` of [`LIVE_TICK_MS`] of silence in
    /// the session format, built once.
    silence: ByteString,
    /// When caller (or fed) audio last went to the model.
    last_append: Instant,
}

impl LiveLink {
    fn new(generation: u32, format: AudioFormat) -> Self {
        let (byte, samples) = match format {
            AudioFormat::Pcmu => (0xFF_u8, 8 * LIVE_TICK_MS as usize),
            AudioFormat::Pcma => (0xD5, 8 * LIVE_TICK_MS as usize),
            AudioFormat::Pcm24k => (0x00, 24 * 2 * LIVE_TICK_MS as usize),
        };
        let b64 = crate::audio::format::encode_base64(&vec![byte; samples]);
        let silence = live::append_audio_frame(&b64, &mut BytesMut::new());
        LiveLink {
            tracker: LiveTracker::new(generation, format),
            silence,
            last_append: Instant::now(),
        }
    }
}

/// The carrier-side format a session spec names.
fn spec_format(spec: &SessionSpec) -> AudioFormat {
    match spec.audio_format.encoding {
        AudioEncoding::Pcmu => AudioFormat::Pcmu,
        AudioEncoding::Pcma => AudioFormat::Pcma,
        AudioEncoding::Pcm => AudioFormat::Pcm24k,
    }
}

impl ModelLinkActor {
    /// A link that connects when started.
    pub fn new(setup: LinkSetup) -> Self {
        let recorded = setup.record.then(Vec::new);
        let live = (setup.api == ModelApi::Live)
            .then(|| LiveLink::new(setup.generation, spec_format(&setup.session)));
        ModelLinkActor {
            live,
            setup,
            socket: None,
            recorded,
            recorded_bytes: 0,
            handed_over: false,
            append_buf: BytesMut::with_capacity(APPEND_BUF_BYTES),
            last_rx: Instant::now(),
            down_reported: false,
            shutting_down: false,
            close_sent: false,
            tracker: ResponseTracker::new(),
            events: Vec::new(),
            warned_unparsable: false,
            unknown_types: HashSet::new(),
        }
    }

    fn report_down(&mut self, cause: String, ctx: &mut Context<Self>) {
        if !self.down_reported && !self.shutting_down && !self.handed_over {
            self.down_reported = true;
            self.setup.down.do_send(LinkDown {
                generation: self.setup.generation,
                cause,
                unfinished: match &mut self.live {
                    Some(live) => live.tracker.take_unfinished(),
                    None => self.tracker.take_unfinished(),
                },
            });
        }
        ctx.stop();
    }

    fn send_event(&mut self, event: &ClientEvent) {
        match serde_json::to_string(event) {
            Ok(text) => self.send_text(text),
            Err(e) => log::error!(
                "call {}: cannot encode client event: {e}",
                self.setup.call_id
            ),
        }
    }

    fn send_text(&mut self, text: String) {
        self.write(Message::Text(text.into()));
    }

    /// Encodes `msg` into the socket's write buffer and wakes the writer.
    fn write(&mut self, msg: Message) {
        let Some(shared) = &self.socket else {
            return;
        };
        let mut slot = shared.borrow_mut();
        let Some(socket) = slot.socket.as_mut() else {
            return;
        };
        if let Err(e) = Pin::new(socket).write(msg) {
            log::debug!(
                "call {}: cannot encode model frame: {e}",
                self.setup.call_id
            );
            return;
        }
        if let Some(writer) = slot.writer.take() {
            writer.wake();
        }
    }

    /// Puts an open socket to work: a reader stream and a writer future on this
    /// link's thread.
    fn install(&mut self, socket: ModelSocket, ctx: &mut Context<Self>) {
        let shared: SharedSocket = Rc::new(RefCell::new(SocketSlot {
            socket: Some(socket),
            writer: None,
        }));
        ctx.add_stream(Reader(shared.clone()));
        ctx.spawn(
            Writer(shared.clone())
                .into_actor(self)
                .map(|res, act, ctx| {
                    if let Err(e) = res {
                        act.report_down(format!("model socket write error: {e}"), ctx);
                    }
                }),
        );
        self.socket = Some(shared);
        self.last_rx = Instant::now();
    }

    fn on_connected(&mut self, ctx: &mut Context<Self>) {
        if self.live.is_some() {
            let start = live::session_start(
                &self.setup.session,
                &self.setup.backend_model,
                &self.setup.history,
            );
            self.send_live(&start);
            // Ready follows `session.started`.
            self.start_timers(ctx);
            return;
        }
        let update = session::session_update(&self.setup.session);
        self.send_event(&update);
        for item in session::history_items(&self.setup.history) {
            self.send_event(&item);
        }
        self.on_open(ctx);
    }

    /// The session is configured (by this link or the one it came from).
    fn on_open(&mut self, ctx: &mut Context<Self>) {
        self.setup.events.do_send(ModelEvent::Ready {
            generation: self.setup.generation,
        });
        self.start_timers(ctx);
    }

    fn send_live(&mut self, event: &live::ClientEvent) {
        match serde_json::to_string(event) {
            Ok(text) => self.send_text(text),
            Err(e) => log::error!(
                "call {}: cannot encode GPT-Live event: {e}",
                self.setup.call_id
            ),
        }
    }

    /// The heartbeat, and on GPT-Live the turn clock and the silence feed.
    fn start_timers(&mut self, ctx: &mut Context<Self>) {
        if self.live.is_some() {
            // One timer per call for both (timer wake-ups cost more than the checks).
            ctx.run_interval(Duration::from_millis(LIVE_TICK_MS), |act, _| {
                let Some(live) = &mut act.live else {
                    return;
                };
                let now = Instant::now();
                live.tracker.tick(now, &mut act.events);
                let feed = !act.shutting_down
                    && now.duration_since(live.last_append) >= LIVE_SILENCE_AFTER;
                let silence = feed.then(|| live.silence.clone());
                for event in act.events.drain(..) {
                    act.setup.events.do_send(event);
                }
                if let Some(frame) = silence {
                    act.write(Message::Text(frame));
                }
            });
        }
        let every = self.setup.heartbeat;
        ctx.run_interval(every, move |act, ctx| {
            if act.last_rx.elapsed() > every * 3 {
                act.report_down(
                    format!(
                        "heartbeat missed for {} ms",
                        act.last_rx.elapsed().as_millis()
                    ),
                    ctx,
                );
                return;
            }
            act.write(Message::Ping(Bytes::new()));
        });
    }

    /// Continues a session handed over from another link: re-registers its
    /// socket here and replays what it has received.
    fn adopt(&mut self, handover: LinkHandover, ctx: &mut Context<Self>) {
        let LinkHandover {
            mut socket,
            received,
        } = handover;
        if let Err(e) = socket.io_mut().rehome() {
            self.report_down(format!("model socket could not move threads: {e}"), ctx);
            return;
        }
        self.install(socket, ctx);
        if self.live.is_some() {
            // The replayed `session.started` (if it came yet) says Ready.
            self.start_timers(ctx);
        } else {
            self.on_open(ctx);
        }
        for frame in &received {
            self.on_text(frame, ctx);
        }
    }

    fn record(&mut self, frame: &ByteString) {
        let Some(recorded) = &mut self.recorded else {
            return;
        };
        self.recorded_bytes += frame.len();
        if self.recorded_bytes > MAX_RECORDED_BYTES {
            log::info!(
                "call {}: over {MAX_RECORDED_BYTES} bytes from the model before the stream; \
                 the session stays on this thread",
                self.setup.call_id
            );
            self.recorded = None;
        } else {
            recorded.push(frame.clone());
        }
    }

    fn on_text(&mut self, frame: &ByteString, ctx: &mut Context<Self>) {
        self.record(frame);
        if self.live.is_some() {
            self.on_live_text(frame, ctx);
            return;
        }
        let text: &str = frame;
        let event = match realtime::parse_server_event(text) {
            Ok(event) => event,
            Err(e) => {
                // Only a frame that is not JSON, or whose audio has no `delta`,
                // gets here: every other field is optional.
                self.unparsable("model", &e);
                return;
            }
        };
        match event {
            ServerEvent::OutputAudioDelta {
                item_id,
                response_id,
                delta,
                ..
            } => {
                let item_id = self
                    .tracker
                    .audio_key(item_id.as_deref(), response_id.as_deref());
                self.setup.events.do_send(ModelEvent::Audio {
                    item_id,
                    delta: share(frame, &delta),
                });
            }
            ServerEvent::Error {
                ref error,
                ref code,
                ref message,
            } => {
                let (code, message) = ServerEvent::error_summary(error, code, message);
                if code == "session_expired" {
                    // Provider session cap: roll over to a fresh session like a restart.
                    self.report_down(format!("session expired: {message}"), ctx);
                    return;
                }
                self.setup
                    .events
                    .do_send(ModelEvent::Error { code, message });
            }
            ServerEvent::Unknown => self.unknown(text),
            other => {
                self.tracker.on_event(other, &mut self.events);
                for event in self.events.drain(..) {
                    self.setup.events.do_send(event);
                }
            }
        }
    }
}

impl ModelLinkActor {
    /// A server frame that could not be read: counted, logged once per link
    /// at WARN (further ones at debug).
    fn unparsable(&mut self, protocol: &str, e: &dyn std::fmt::Display) {
        self.setup.counters.unparsable.inc();
        if !self.warned_unparsable {
            self.warned_unparsable = true;
            log::warn!(
                "call {}: unparsable {protocol} event (further ones logged at debug): {e}",
                self.setup.call_id
            );
        } else {
            log::debug!(
                "call {}: unparsable {protocol} event: {e}",
                self.setup.call_id
            );
        }
    }

    /// An event type this link does not act on: counted, each type logged once.
    fn unknown(&mut self, text: &str) {
        self.setup.counters.unknown.inc();
        if let Some(kind) = realtime::event_type(text) {
            if self.unknown_types.len() < MAX_UNKNOWN_TYPES_LOGGED
                && self.unknown_types.insert(kind.clone())
            {
                log::debug!(
                    "call {}: ignoring model events of type {kind:?}",
                    self.setup.call_id
                );
            }
        }
    }

    /// One GPT-Live server frame: audio routed by the tracker (zero-copy),
    /// everything else through it; a closed session ends the link.
    fn on_live_text(&mut self, frame: &ByteString, ctx: &mut Context<Self>) {
        let text: &str = frame;
        let event = match live::parse_server_event(text) {
            Ok(event) => event,
            Err(e) => {
                self.unparsable("GPT-Live", &e);
                return;
            }
        };
        let Some(live) = &mut self.live else {
            return;
        };
        let now = Instant::now();
        let end = match event {
            live::ServerEvent::OutputAudioDelta { delta } => {
                let route = live.tracker.on_audio(&delta, now, &mut self.events);
                let delta = share(frame, &delta);
                for event in self.events.drain(..) {
                    self.setup.events.do_send(event);
                }
                self.setup.events.do_send(match route {
                    AudioRoute::Speech { item_id } => ModelEvent::Audio { item_id, delta },
                    AudioRoute::Quiet => ModelEvent::QuietAudio { delta },
                });
                return;
            }
            live::ServerEvent::SessionStarted { ref session } => {
                let asked = live::LiveAudioFormat::from(self.setup.session.audio_format);
                if let Some(got) = live::started_format(session) {
                    if got != asked {
                        self.report_down(
                            format!(
                                "GPT-Live started the session with audio {:?} at {} Hz, not the {:?} at {} Hz asked for",
                                got.encoding, got.rate, asked.encoding, asked.rate
                            ),
                            ctx,
                        );
                        return;
                    }
                }
                live.tracker.on_event(event, now, &mut self.events)
            }
            live::ServerEvent::Unknown => {
                self.unknown(text);
                None
            }
            other => live.tracker.on_event(other, now, &mut self.events),
        };
        for event in self.events.drain(..) {
            self.setup.events.do_send(event);
        }
        if let Some(end) = end {
            if self.shutting_down {
                // Our `session.close` was answered: close the socket now.
                if !self.close_sent {
                    self.close_sent = true;
                    self.write(Message::Close(Some(CloseCode::Normal.into())));
                }
                ctx.run_later(CLOSE_FLUSH, |_, ctx| ctx.stop());
            } else {
                self.report_down(format!("GPT-Live session closed: {}", end.reason), ctx);
            }
        }
    }
}

/// `part` as a zero-copy slice of `frame` when it points into it (an unescaped
/// JSON string borrowed by the parser); a copy otherwise.
fn share(frame: &ByteString, part: &str) -> ByteString {
    let start = frame.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    if at >= start && at + part.len() <= start + frame.len() {
        frame.slice_ref(part)
    } else {
        ByteString::from(part)
    }
}

impl Actor for ModelLinkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(handover) = self.setup.adopt.take() {
            self.adopt(handover, ctx);
            return;
        }
        let url = match self.setup.api {
            ModelApi::Realtime => session::connect_url(&self.setup.url, &self.setup.session),
            // GPT-Live takes no query: the model goes in `session.start`.
            ModelApi::Live => self.setup.url.clone(),
        };
        let key = self.setup.api_key.clone();
        let timeout = self.setup.connect_timeout;
        let tls = self.setup.tls.clone();
        let connect = async move {
            model_socket::open(&url, key.as_deref(), tls.as_ref(), MAX_FRAME_BYTES, timeout)
                .await
                .map_err(|e| format!("connect to {url}: {e}"))
        };
        // Caller audio that arrives while connecting waits in the mailbox.
        ctx.wait(connect.into_actor(self).map(|res, act, ctx| match res {
            Ok(socket) => {
                act.install(socket, ctx);
                act.on_connected(ctx);
            }
            Err(e) => {
                act.report_down(e, ctx);
            }
        }));
    }

    /// Every way out closes the socket with a close frame (1000), so the peer
    /// never sees an abnormal 1006: the actor lives on briefly to flush it.
    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        // Dropped with its arbiter (server teardown): no runtime left to time
        // the close flush on, and nobody to hear it.
        if self.close_sent
            || self.handed_over
            || tokio::runtime::Handle::try_current().is_err()
            || !self.is_open()
        {
            return Running::Stop;
        }
        self.close_sent = true;
        self.write(Message::Close(Some(CloseCode::Normal.into())));
        ctx.run_later(CLOSE_FLUSH, |_, ctx| ctx.stop());
        Running::Continue
    }
}

impl Handler<AudioFrame> for ModelLinkActor {
    type Result = ();

    fn handle(&mut self, frame: AudioFrame, _: &mut Context<Self>) {
        if self.socket.is_none() {
            return;
        }
        let text = match &mut self.live {
            Some(live) => {
                live.last_append = Instant::now();
                live::append_audio_frame(&frame.payload, &mut self.append_buf)
            }
            None => realtime::append_audio_frame(&frame.payload, &mut self.append_buf),
        };
        self.write(Message::Text(text));
    }
}

impl Handler<LinkCommand> for ModelLinkActor {
    type Result = ();

    fn handle(&mut self, cmd: LinkCommand, ctx: &mut Context<Self>) {
        if self.live.is_some() {
            self.live_command(cmd, ctx);
            return;
        }
        match cmd {
            LinkCommand::Truncate { .. }
            | LinkCommand::CancelResponse
            | LinkCommand::ToolOutput { .. }
            | LinkCommand::CreateResponse
            | LinkCommand::CallerEvent { .. } => {
                for event in cmd.realtime_events() {
                    self.send_event(&event);
                }
            }
            LinkCommand::UpdateSession(spec) => {
                self.setup.session = *spec;
                self.send_event(&session::session_update(&self.setup.session));
            }
            LinkCommand::Shutdown => {
                self.shutting_down = true;
                // Close handshake: the server answers our close frame and ends the
                // stream (`finished`); a server that does not is cut off.
                if self.is_open() {
                    self.write(Message::Close(Some(CloseCode::Normal.into())));
                    self.close_sent = true;
                    ctx.run_later(CLOSE_HANDSHAKE, |_, ctx| ctx.stop());
                } else {
                    ctx.stop();
                }
            }
            LinkCommand::StopRecording => {
                self.recorded = None;
            }
        }
    }
}

impl ModelLinkActor {
    /// A call's command on GPT-Live: tool results and continuations through
    /// the tracker; a session edit only for later sessions (GPT-Live fixes
    /// prompt and voice at start); shutdown by `session.close`, answered
    /// with `session.closed`, then the close frame.
    fn live_command(&mut self, cmd: LinkCommand, ctx: &mut Context<Self>) {
        match cmd {
            LinkCommand::UpdateSession(spec) => {
                self.setup.session = *spec;
                log::info!(
                    "call {}: session edit kept for the next GPT-Live session (prompt and voice are fixed at start)",
                    self.setup.call_id
                );
            }
            LinkCommand::StopRecording => self.recorded = None,
            LinkCommand::Shutdown => {
                self.shutting_down = true;
                if self.is_open() {
                    self.send_live(&live::ClientEvent::SessionClose {});
                    ctx.run_later(CLOSE_HANDSHAKE, |act, ctx| {
                        if !act.close_sent {
                            act.close_sent = true;
                            act.write(Message::Close(Some(CloseCode::Normal.into())));
                        }
                        ctx.run_later(CLOSE_FLUSH, |_, ctx| ctx.stop());
                    });
                } else {
                    ctx.stop();
                }
            }
            other => {
                let Some(live) = &mut self.live else {
                    return;
                };
                let sent = live
                    .tracker
                    .on_command(&other, Instant::now(), &mut self.events);
                for event in self.events.drain(..) {
                    self.setup.events.do_send(event);
                }
                for event in &sent {
                    self.send_live(event);
                }
            }
        }
    }
}

impl Handler<TakeSession> for ModelLinkActor {
    type Result = Option<LinkHandover>;

    fn handle(&mut self, _: TakeSession, ctx: &mut Context<Self>) -> Option<LinkHandover> {
        if self.shutting_down || self.close_sent || self.down_reported {
            return None;
        }
        let received = self.recorded.take()?;
        let socket = self.socket.as_ref()?.borrow_mut().socket.take()?;
        self.handed_over = true;
        ctx.stop();
        Some(LinkHandover { socket, received })
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for ModelLinkActor {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_rx = Instant::now();
        match item {
            Ok(Frame::Text(bytes)) => match ByteString::try_from(bytes) {
                Ok(text) => self.on_text(&text, ctx),
                Err(_) => log::warn!("call {}: model sent non-UTF-8 text", self.setup.call_id),
            },
            Ok(Frame::Ping(payload)) => self.write(Message::Pong(payload)),
            Ok(Frame::Close(reason)) => {
                let cause = match reason {
                    Some(r) => format!(
                        "model closed the socket: {:?} {}",
                        r.code,
                        r.description.unwrap_or_default()
                    ),
                    None => "model closed the socket".into(),
                };
                self.report_down(cause, ctx);
            }
            Ok(_) => {}
            Err(e) => self.report_down(format!("model socket error: {e}"), ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.report_down("model socket ended without a close frame".into(), ctx);
    }
}

impl ModelLinkActor {
    /// The socket is here and not handed over.
    fn is_open(&self) -> bool {
        self.socket
            .as_ref()
            .is_some_and(|shared| shared.borrow().socket.is_some())
    }
}

/// Server frames, read from the shared socket; ends when it is handed over.
struct Reader(SharedSocket);

impl Stream for Reader {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        match self.0.borrow_mut().socket.as_mut() {
            Some(socket) => Pin::new(socket).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// Flushes the shared socket's write buffer whenever the link writes; ends
/// with the socket's first write error, or quietly when it is handed over.
struct Writer(SharedSocket);

impl std::future::Future for Writer {
    type Output = Result<(), ProtocolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.borrow_mut();
        let Some(socket) = slot.socket.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match Pin::new(socket).flush::<Message>(cx) {
            Poll::Ready(Ok(())) => {
                slot.writer = Some(cx.waker().clone());
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

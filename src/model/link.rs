//! `ModelLinkActor`: one WebSocket to the realtime model per call (per link
//! generation). It configures the session (`session.update`), replays the
//! conversation after a restart, relays caller audio (`input_audio_buffer.append`
//! with the carrier's base64 passed through), and turns server events into typed
//! [`ModelEvent`]s for the call. Any abnormal end — connect error, close, stream
//! error, missed heartbeat, session cap — is reported once as [`LinkDown`]; the
//! Supervisor decides whether a new link follows.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use actix_codec::Framed;
use awc::error::WsProtocolError;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::stream::{SplitSink, StreamExt};

use crate::messages::{AudioFrame, LinkCommand, LinkDown, ModelEvent};
use crate::model::realtime::{self, ClientEvent, ServerEvent};
use crate::model::session::{self, HistoryItem, SessionSpec};
use crate::model::tracker::ResponseTracker;

/// How long a normal close waits for the server's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How long a stopping link stays alive to write its close frame.
const CLOSE_FLUSH: Duration = Duration::from_millis(200);

/// Largest server frame accepted, bytes (session objects and audio deltas are far smaller).
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Initial capacity of the reused append buffer (about 16 Twilio frames).
const APPEND_BUF_BYTES: usize = 4096;

/// Distinct ignored event types remembered per link for log-once (bounds memory
/// against a server inventing types).
const MAX_UNKNOWN_TYPES_LOGGED: usize = 64;

/// Why a link could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("connect to {url}: timed out after {ms} ms")]
    Timeout { url: String, ms: u128 },
}

/// Everything one link needs.
pub struct LinkSetup {
    pub call_id: String,
    /// 0 for the first link of a call, +1 per restart.
    pub generation: u32,
    /// `ws://` or `wss://` realtime endpoint.
    pub url: String,
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
}

/// Counters a link bumps (shared with `/metrics`).
#[derive(Clone)]
pub struct LinkCounters {
    /// Server events of types not modelled here.
    pub unknown: prometheus::IntCounter,
    /// Server frames that could not be read.
    pub unparsable: prometheus::IntCounter,
}

type WsSink = SplitSink<Framed<BoxedSocket, Codec>, Message>;

/// One realtime model connection for one call.
pub struct ModelLinkActor {
    setup: LinkSetup,
    sink: Option<SinkWrite<Message, WsSink>>,
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
}

impl ModelLinkActor {
    /// A link that connects when started.
    pub fn new(setup: LinkSetup) -> Self {
        ModelLinkActor {
            setup,
            sink: None,
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
        if !self.down_reported && !self.shutting_down {
            self.down_reported = true;
            self.setup.down.do_send(LinkDown {
                generation: self.setup.generation,
                cause,
                unfinished: self.tracker.take_unfinished(),
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
        if let Some(sink) = &mut self.sink {
            if sink.write(Message::Text(text.into())).is_err() {
                log::debug!("call {}: model sink closed", self.setup.call_id);
            }
        }
    }

    fn on_connected(&mut self, ctx: &mut Context<Self>) {
        let update = session::session_update(&self.setup.session);
        self.send_event(&update);
        for item in session::history_items(&self.setup.history) {
            self.send_event(&item);
        }
        self.setup.events.do_send(ModelEvent::Ready {
            generation: self.setup.generation,
        });
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
            if let Some(sink) = &mut act.sink {
                let _ = sink.write(Message::Ping(Bytes::new()));
            }
        });
    }

    fn on_text(&mut self, frame: &ByteString, ctx: &mut Context<Self>) {
        let text: &str = frame;
        let event = match realtime::parse_server_event(text) {
            Ok(event) => event,
            Err(e) => {
                // Only a frame that is not JSON, or whose audio has no `delta`,
                // gets here: every other field is optional. Logged once per link.
                self.setup.counters.unparsable.inc();
                if !self.warned_unparsable {
                    self.warned_unparsable = true;
                    log::warn!(
                        "call {}: unparsable model event (further ones logged at debug): {e}",
                        self.setup.call_id
                    );
                } else {
                    log::debug!("call {}: unparsable model event: {e}", self.setup.call_id);
                }
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
            ServerEvent::Unknown => {
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
            other => {
                self.tracker.on_event(other, &mut self.events);
                for event in self.events.drain(..) {
                    self.setup.events.do_send(event);
                }
            }
        }
    }
}

thread_local! {
    /// One HTTP client per arbiter thread, shared by every link started on it.
    /// Building an awc connector creates an OpenSSL context (with the system CA
    /// store) — milliseconds of CPU and hundreds of KiB per call if done per link.
    static CLIENT: RefCell<Option<awc::Client>> = const { RefCell::new(None) };
}

/// This thread's model client; the first link on a thread builds it with its
/// `connect_timeout` and TLS connector (both are process-wide configuration).
/// No connection limit: each link holds its WebSocket for the whole call.
fn thread_client(timeout: Duration, tls: Option<&openssl::ssl::SslConnector>) -> awc::Client {
    CLIENT.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let mut connector = awc::Connector::new().timeout(timeout).limit(0);
                if let Some(tls) = tls {
                    connector = connector.openssl(tls.clone());
                }
                awc::Client::builder()
                    .connector(connector)
                    .timeout(timeout)
                    .finish()
            })
            .clone()
    })
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
        let url = session::connect_url(&self.setup.url, &self.setup.session);
        let key = self.setup.api_key.clone();
        let timeout = self.setup.connect_timeout;
        let client = thread_client(timeout, self.setup.tls.as_ref());
        let connect = async move {
            let mut req = client.ws(url.as_str()).max_frame_size(MAX_FRAME_BYTES);
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            match tokio::time::timeout(timeout, req.connect()).await {
                Ok(Ok((_, framed))) => Ok(framed),
                Ok(Err(e)) => Err(LinkError::Connect {
                    url,
                    detail: e.to_string(),
                }),
                Err(_) => Err(LinkError::Timeout {
                    url,
                    ms: timeout.as_millis(),
                }),
            }
        };
        // Caller audio that arrives while connecting waits in the mailbox.
        ctx.wait(connect.into_actor(self).map(|res, act, ctx| match res {
            Ok(framed) => {
                let (sink, stream) = framed.split();
                act.sink = Some(SinkWrite::new(sink, ctx));
                ctx.add_stream(stream);
                act.last_rx = Instant::now();
                act.on_connected(ctx);
            }
            Err(e) => {
                act.report_down(e.to_string(), ctx);
            }
        }));
    }

    /// Every way out closes the socket with a close frame (1000), so the peer
    /// never sees an abnormal 1006: the actor lives on briefly to flush it.
    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        // Dropped with its arbiter (server teardown): no runtime left to time
        // the close flush on, and nobody to hear it.
        if self.close_sent || tokio::runtime::Handle::try_current().is_err() {
            return Running::Stop;
        }
        self.close_sent = true;
        let Some(sink) = &mut self.sink else {
            return Running::Stop;
        };
        if sink
            .write(Message::Close(Some(awc::ws::CloseCode::Normal.into())))
            .is_err()
        {
            return Running::Stop;
        }
        ctx.run_later(CLOSE_FLUSH, |_, ctx| ctx.stop());
        Running::Continue
    }
}

impl Handler<AudioFrame> for ModelLinkActor {
    type Result = ();

    fn handle(&mut self, frame: AudioFrame, _: &mut Context<Self>) {
        let Some(sink) = &mut self.sink else {
            return;
        };
        let text = realtime::append_audio_frame(&frame.payload, &mut self.append_buf);
        if sink.write(Message::Text(text)).is_err() {
            log::debug!("call {}: model sink closed", self.setup.call_id);
        }
    }
}

impl Handler<LinkCommand> for ModelLinkActor {
    type Result = ();

    fn handle(&mut self, cmd: LinkCommand, ctx: &mut Context<Self>) {
        match cmd {
            LinkCommand::Truncate {
                item_id,
                audio_end_ms,
            } => self.send_event(&ClientEvent::truncate(item_id, audio_end_ms)),
            LinkCommand::CancelResponse => self.send_event(&ClientEvent::response_cancel()),
            LinkCommand::ToolOutput { call_id, output } => {
                self.send_event(&ClientEvent::function_call_output(call_id, output))
            }
            LinkCommand::CreateResponse => self.send_event(&ClientEvent::response_create()),
            LinkCommand::UpdateSession(spec) => {
                self.setup.session = *spec;
                self.send_event(&session::session_update(&self.setup.session));
            }
            LinkCommand::Shutdown => {
                self.shutting_down = true;
                match &mut self.sink {
                    // Close handshake: the server answers our close frame and ends the
                    // stream (`finished`); a server that does not is cut off.
                    Some(sink) => {
                        let _ = sink.write(Message::Close(Some(awc::ws::CloseCode::Normal.into())));
                        self.close_sent = true;
                        ctx.run_later(CLOSE_HANDSHAKE, |_, ctx| ctx.stop());
                    }
                    None => ctx.stop(),
                }
            }
        }
    }
}

impl StreamHandler<Result<Frame, WsProtocolError>> for ModelLinkActor {
    fn handle(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        self.last_rx = Instant::now();
        match item {
            Ok(Frame::Text(bytes)) => match ByteString::try_from(bytes) {
                Ok(text) => self.on_text(&text, ctx),
                Err(_) => log::warn!("call {}: model sent non-UTF-8 text", self.setup.call_id),
            },
            Ok(Frame::Ping(payload)) => {
                if let Some(sink) = &mut self.sink {
                    let _ = sink.write(Message::Pong(payload));
                }
            }
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

impl WriteHandler<WsProtocolError> for ModelLinkActor {
    fn error(&mut self, err: WsProtocolError, ctx: &mut Context<Self>) -> Running {
        self.report_down(format!("model socket write error: {err}"), ctx);
        Running::Stop
    }
}

//! `ModelLinkActor`: one WebSocket to the realtime model per call (per link
//! generation). It configures the session (`session.update`), replays the
//! conversation after a restart, relays caller audio (`input_audio_buffer.append`
//! with the carrier's base64 passed through), and turns server events into typed
//! [`ModelEvent`]s for the call. Any abnormal end — connect error, close, stream
//! error, missed heartbeat, session cap — is reported once as [`LinkDown`]; the
//! Supervisor decides whether a new link follows.

use std::cell::RefCell;
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

use crate::call::CallActor;
use crate::messages::{AudioFrame, LinkCommand, LinkDown, ModelEvent};
use crate::model::realtime::{self, ClientEvent, ServerEvent};
use crate::model::session::{self, Role, SessionSpec};

/// How long a normal close waits for the server's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// Largest server frame accepted, bytes (session objects and audio deltas are far smaller).
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Initial capacity of the reused append buffer (about 16 Twilio frames).
const APPEND_BUF_BYTES: usize = 4096;

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
    pub history: Vec<(Role, String)>,
    pub call: Addr<CallActor>,
    /// TLS connector for `wss://`.
    pub tls: Option<openssl::ssl::SslConnector>,
    pub connect_timeout: Duration,
    /// Ping interval; silence for three intervals counts as a dropped link.
    pub heartbeat: Duration,
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
        }
    }

    fn report_down(&mut self, cause: String, ctx: &mut Context<Self>) {
        if !self.down_reported && !self.shutting_down {
            self.down_reported = true;
            self.setup.call.do_send(LinkDown {
                generation: self.setup.generation,
                cause,
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
        self.setup.call.do_send(ModelEvent::Ready {
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
                log::warn!("call {}: unparsable model event: {e}", self.setup.call_id);
                return;
            }
        };
        let call = &self.setup.call;
        match event {
            ServerEvent::OutputAudioDelta { item_id, delta, .. } => {
                call.do_send(ModelEvent::Audio {
                    item_id: item_id.into_owned(),
                    delta: share(frame, &delta),
                });
            }
            ServerEvent::SpeechStarted { audio_start_ms, .. } => {
                call.do_send(ModelEvent::SpeechStarted { audio_start_ms });
            }
            ServerEvent::SpeechStopped { audio_end_ms, .. } => {
                call.do_send(ModelEvent::SpeechStopped { audio_end_ms });
            }
            ServerEvent::InputTranscriptionCompleted {
                item_id,
                transcript,
                ..
            } => {
                call.do_send(ModelEvent::UserTranscript {
                    item_id,
                    text: transcript,
                });
            }
            ServerEvent::OutputAudioTranscriptDone {
                item_id,
                transcript,
                ..
            } => {
                call.do_send(ModelEvent::AssistantTranscript {
                    item_id,
                    text: transcript,
                });
            }
            ServerEvent::FunctionCallArgumentsDone {
                call_id,
                name,
                arguments,
                ..
            } => {
                call.do_send(ModelEvent::ToolCallRequested {
                    call_id,
                    name,
                    arguments,
                });
            }
            ServerEvent::ResponseDone { response, .. } => {
                call.do_send(ModelEvent::ResponseDone {
                    status: response.status.as_str().to_string(),
                });
            }
            ServerEvent::Error { error, .. } => {
                let code = error.code.clone().unwrap_or_default();
                let message = error.message.to_string();
                if code == "session_expired" {
                    // Provider session cap: roll over to a fresh session like a restart.
                    self.report_down(format!("session expired: {message}"), ctx);
                    return;
                }
                call.do_send(ModelEvent::Error { code, message });
            }
            _ => {}
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
        let url = self.setup.url.clone();
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

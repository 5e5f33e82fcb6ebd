//! [`TwilioCall`]: Twilio's side of one bidirectional Media Stream. It opens the
//! WebSocket, sends `connected` and `start`, streams caller audio as 20 ms µ-law
//! frames paced on a monotonic clock, and — like a phone — plays the server's
//! outbound `media` out in real time ([`super::playout`]), echoing each `mark` when
//! play-out reaches it and every pending mark at once on `clear`. Facts: Twilio
//! "Media Streams - WebSocket Messages", restated in docs/twilio.md.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use awc::ws::{self, CloseCode, CloseReason, Frame};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::playout::Playout;
use super::{open_ws, ClientError, WsFramed, BYTES_PER_MS, FRAME, FRAME_BYTES, SILENCE};
use crate::carrier::twilio::signature;
use crate::carrier::twilio::wire::{self, OutboundEvent};

type WsSink = SplitSink<WsFramed, ws::Message>;
type WsStream = SplitStream<WsFramed>;

/// How a Twilio call's stream is opened: where, with which ids, parameters and
/// upgrade headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSetup {
    /// `ws://` or `wss://` URL of the media-stream endpoint.
    pub url: String,
    /// `AC` + 32 hex.
    pub account_sid: String,
    /// `CA` + 32 hex.
    pub call_sid: String,
    /// `MZ` + 32 hex.
    pub stream_sid: String,
    /// Sent as `start.customParameters`, in order.
    pub custom_parameters: Vec<(String, String)>,
    /// Extra HTTP headers on the upgrade request (e.g. `X-Twilio-Signature`).
    pub headers: Vec<(String, String)>,
}

impl CallSetup {
    /// A setup for `url` with fresh random, realistic sids (`AC`/`CA`/`MZ` + 32
    /// lowercase hex), no parameters and no headers.
    pub fn new(url: impl Into<String>) -> Self {
        CallSetup {
            url: url.into(),
            account_sid: random_sid("AC"),
            call_sid: random_sid("CA"),
            stream_sid: random_sid("MZ"),
            custom_parameters: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a custom parameter (as TwiML `<Parameter name value>` would).
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_parameters.push((name.into(), value.into()));
        self
    }

    /// Adds an upgrade request header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Signs the upgrade like Twilio: `X-Twilio-Signature` over [`CallSetup::url`]
    /// with no parameters (Twilio "Webhook security"; docs/twilio.md §Signatures). `url` must be the public `wss://` URL
    /// the server validates against.
    pub fn signed(self, auth_token: &str) -> Self {
        let sig = signature::compute(auth_token, &self.url, &[]);
        self.with_header("X-Twilio-Signature", sig)
    }
}

/// `prefix` + 32 lowercase hex digits, like a Twilio sid.
pub fn random_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Our side of the socket's write half plus the counters every Twilio frame carries.
struct Writer {
    sink: WsSink,
    /// Last sequence number used (`start` is 1).
    seq: u64,
    closed: bool,
}

impl Writer {
    async fn send(&mut self, msg: ws::Message) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        self.sink
            .send(msg)
            .await
            .map_err(|e| ClientError::Send(e.to_string()))
    }

    async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.send(ws::Message::Text(text.into())).await
    }

    /// Sends a frame built with the next sequence number, so numbers on the wire
    /// are in order across all event kinds.
    async fn send_sequenced(
        &mut self,
        build: impl FnOnce(u64) -> String,
    ) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        self.seq += 1;
        let text = build(self.seq);
        self.send_text(text).await
    }
}

/// What the reader task learned, shared with the handle (single-threaded).
#[derive(Default)]
struct CallState {
    received: Vec<u8>,
    /// When the first outbound `media` frame arrived.
    first_audio_at: Option<Instant>,
    playout: Playout,
    /// Every outbound `media` and `clear`, with when it arrived.
    timeline: Vec<Outbound>,
    marks_echoed: u32,
    echoed_names: Vec<String>,
    clears: u32,
    close: Option<(u16, String)>,
    closed: bool,
    errors: Vec<String>,
}

/// One outbound frame as the phone received it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// A `media` frame's decoded µ-law bytes.
    Media { at: Instant, audio: Vec<u8> },
    /// A `clear`: unplayed audio dropped.
    Clear { at: Instant },
}

/// The longest stretch between `from` and `to` in which the phone had nothing
/// to play, given every outbound frame (`timeline`, in arrival order): audio
/// plays from its arrival (or the end of what was queued before it) at 8 bytes
/// per ms, and a `clear` drops what was still queued. Dead air as the caller
/// hears it.
pub fn longest_silence(timeline: &[Outbound], from: Instant, to: Instant) -> Duration {
    let mut longest = Duration::ZERO;
    // When the phone runs out of what it was given so far (`None`: nothing yet).
    let mut playing_until: Option<Instant> = None;
    for frame in timeline {
        match frame {
            Outbound::Clear { at } if *at <= to => {
                playing_until = playing_until.map(|until| until.min(*at));
            }
            Outbound::Media { at, audio } if *at <= to => {
                let idle_from = playing_until.unwrap_or(from).max(from);
                if *at > idle_from {
                    longest = longest.max(*at - idle_from);
                }
                let start = playing_until.map_or(*at, |until| until.max(*at));
                playing_until =
                    Some(start + Duration::from_micros(audio.len() as u64 * 1000 / BYTES_PER_MS));
            }
            _ => break,
        }
    }
    let idle_from = playing_until.unwrap_or(from).max(from);
    if to > idle_from {
        longest = longest.max(to - idle_from);
    }
    longest
}

#[cfg(test)]
mod silence_tests {
    use super::*;

    fn media(at: Instant, ms: u64) -> Outbound {
        Outbound::Media {
            at,
            audio: vec![0xFF; (ms * BYTES_PER_MS) as usize],
        }
    }

    #[test]
    fn longest_silence_follows_the_phone_buffer() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // 1 s of audio at t0 (plays to t0+1000), the next 100 ms at t0+1700.
        let timeline = [media(t0, 1000), media(t0 + ms(1700), 100)];
        assert_eq!(longest_silence(&timeline, t0, t0 + ms(1800)), ms(700));
        // Counted only inside the window.
        assert_eq!(
            longest_silence(&timeline, t0 + ms(1500), t0 + ms(1800)),
            ms(200)
        );
        // Audio sent ahead queues: no gap.
        let ahead = [
            media(t0, 300),
            media(t0 + ms(100), 300),
            media(t0 + ms(200), 300),
        ];
        assert_eq!(longest_silence(&ahead, t0, t0 + ms(900)), ms(0));
        // A clear drops what was queued; the silence starts there.
        let cleared = [
            media(t0, 1000),
            Outbound::Clear { at: t0 + ms(200) },
            media(t0 + ms(600), 100),
        ];
        assert_eq!(longest_silence(&cleared, t0, t0 + ms(700)), ms(400));
        // Nothing at all: the whole window.
        assert_eq!(longest_silence(&[], t0, t0 + ms(500)), ms(500));
    }
}

/// A live imitation of Twilio on one Media Stream. Dropping it aborts the reader
/// and drops the TCP connection (as [`TwilioCall::close_abruptly`]).
pub struct TwilioCall {
    setup: CallSetup,
    writer: Rc<Mutex<Writer>>,
    state: Rc<RefCell<CallState>>,
    changed: Rc<Notify>,
    reader: JoinHandle<()>,
    /// When the `start` frame was sent: media timestamps count ms from here.
    started: Instant,
    /// Media chunks sent (the next chunk is `chunk + 1`).
    chunk: u64,
    /// Next paced frame's deadline, for drift-free pacing across calls.
    next_frame_at: Option<Instant>,
}

impl TwilioCall {
    /// Opens the stream socket and sends `connected`, then `start` (sequence number
    /// 1, `tracks` `["inbound"]`, µ-law 8000 Hz mono, the setup's custom
    /// parameters). Errors: [`ClientError::Connect`], [`ClientError::Refused`],
    /// [`ClientError::Timeout`], [`ClientError::Send`].
    pub async fn connect(setup: CallSetup) -> Result<TwilioCall, ClientError> {
        Self::open(setup, true).await
    }

    /// Opens the stream socket without sending `connected` or `start`, for tests of
    /// what a server does with frames out of order.
    pub async fn connect_without_start(setup: CallSetup) -> Result<TwilioCall, ClientError> {
        Self::open(setup, false).await
    }

    async fn open(setup: CallSetup, send_start: bool) -> Result<TwilioCall, ClientError> {
        let framed = open_ws(&setup.url, &setup.headers, None).await?;
        let (sink, stream) = framed.split();
        let mut writer = Writer {
            sink,
            seq: 0,
            closed: false,
        };
        if send_start {
            writer.send_text(wire::connected_json()).await?;
            writer
                .send_sequenced(|seq| {
                    wire::start_json(
                        seq,
                        &setup.stream_sid,
                        &setup.account_sid,
                        &setup.call_sid,
                        &setup.custom_parameters,
                    )
                })
                .await?;
        }
        let started = Instant::now();
        let writer = Rc::new(Mutex::new(writer));
        let state = Rc::new(RefCell::new(CallState::default()));
        let changed = Rc::new(Notify::new());
        let reader = actix_rt::spawn(read_call(
            stream,
            setup.stream_sid.clone(),
            Rc::clone(&writer),
            Rc::clone(&state),
            Rc::clone(&changed),
        ));
        Ok(TwilioCall {
            setup,
            writer,
            state,
            changed,
            reader,
            started,
            chunk: 0,
            next_frame_at: None,
        })
    }

    /// The ids and parameters this call was opened with.
    pub fn setup(&self) -> &CallSetup {
        &self.setup
    }

    /// The stream's `MZ…` sid.
    pub fn stream_sid(&self) -> &str {
        &self.setup.stream_sid
    }

    /// The call's `CA…` sid.
    pub fn call_sid(&self) -> &str {
        &self.setup.call_sid
    }

    /// Sends one `media` frame now, unpaced: `frame` is raw µ-law (160 bytes = 20 ms
    /// is what Twilio sends; any length is sent as given). `chunk` counts from 1;
    /// `timestamp` is ms since `start` was sent.
    pub async fn send_mulaw_frame(&mut self, frame: &[u8]) -> Result<(), ClientError> {
        self.chunk += 1;
        let chunk = self.chunk;
        let ts = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let payload = B64.encode(frame);
        let sid = &self.setup.stream_sid;
        self.writer
            .lock()
            .await
            .send_sequenced(|seq| wire::media_frame_json(seq, sid, chunk, ts, &payload))
            .await
    }

    /// Streams `mulaw` (raw µ-law 8 kHz) in real time: one 160-byte frame per 20 ms
    /// on absolute monotonic deadlines, so it does not drift; the last frame is
    /// padded with silence (0xFF) to 160 bytes. Back-to-back calls (with
    /// [`TwilioCall::send_silence`]) continue the same schedule.
    pub async fn stream_mulaw(&mut self, mulaw: &[u8]) -> Result<(), ClientError> {
        self.begin_pacing();
        for chunk in mulaw.chunks(FRAME_BYTES) {
            self.wait_frame_slot().await;
            if chunk.len() == FRAME_BYTES {
                self.send_mulaw_frame(chunk).await?;
            } else {
                let mut padded = [SILENCE; FRAME_BYTES];
                padded[..chunk.len()].copy_from_slice(chunk);
                self.send_mulaw_frame(&padded).await?;
            }
        }
        Ok(())
    }

    /// Streams `ms` of µ-law silence (0xFF), paced like [`TwilioCall::stream_mulaw`];
    /// rounded up to whole 20 ms frames.
    pub async fn send_silence(&mut self, ms: u32) -> Result<(), ClientError> {
        let frames = ms.div_ceil(20);
        let silence = [SILENCE; FRAME_BYTES];
        self.begin_pacing();
        for _ in 0..frames {
            self.wait_frame_slot().await;
            self.send_mulaw_frame(&silence).await?;
        }
        Ok(())
    }

    /// Starts a fresh schedule unless the previous paced send's next slot is still
    /// ahead (back-to-back calls).
    fn begin_pacing(&mut self) {
        let now = Instant::now();
        if self.next_frame_at.is_none_or(|t| t < now) {
            self.next_frame_at = Some(now);
        }
    }

    async fn wait_frame_slot(&mut self) {
        let at = self.next_frame_at.unwrap_or_else(Instant::now);
        sleep_until(at).await;
        self.next_frame_at = Some(at + FRAME);
    }

    /// Sends a `dtmf` event for `digit` (`0`–`9`, `*`, `#`; track `inbound_track`).
    pub async fn send_dtmf(&mut self, digit: char) -> Result<(), ClientError> {
        if !(digit.is_ascii_digit() || digit == '*' || digit == '#') {
            return Err(ClientError::InvalidDigit(digit));
        }
        let sid = &self.setup.stream_sid;
        self.writer
            .lock()
            .await
            .send_sequenced(|seq| wire::dtmf_json(seq, sid, digit))
            .await
    }

    /// Sends `text` as one text frame, as is (no sequence number used): for
    /// bad-input tests.
    pub async fn send_raw(&mut self, text: &str) -> Result<(), ClientError> {
        self.writer.lock().await.send_text(text.to_owned()).await
    }

    /// Ends the stream like a caller hanging up: sends `stop`, then a WebSocket
    /// close frame (1000). The server's close is then seen by
    /// [`TwilioCall::wait_closed`].
    pub async fn stop(&mut self) -> Result<(), ClientError> {
        let setup = &self.setup;
        let mut writer = self.writer.lock().await;
        writer
            .send_sequenced(|seq| {
                wire::stop_json(seq, &setup.stream_sid, &setup.account_sid, &setup.call_sid)
            })
            .await?;
        writer
            .send(ws::Message::Close(Some(CloseReason {
                code: CloseCode::Normal,
                description: None,
            })))
            .await?;
        writer.closed = true;
        Ok(())
    }

    /// Drops the TCP connection without `stop` or a close frame (Twilio does this
    /// when its side fails).
    pub async fn close_abruptly(mut self) {
        self.reader.abort();
        // Wait until the aborted reader has been dropped with its half of the socket;
        // dropping `self` then drops the write half, and with it the TCP stream.
        let _ = (&mut self.reader).await;
        drop(self);
    }

    /// Greeting latency: from the `start` frame sent to the first outbound
    /// `media` frame received; `None` before any audio (or without a `start`).
    pub fn first_audio_latency(&self) -> Option<Duration> {
        self.state
            .borrow()
            .first_audio_at
            .map(|at| at.saturating_duration_since(self.started))
    }

    /// Every outbound audio byte received (raw µ-law, decoded from `media`).
    pub fn received_audio(&self) -> Vec<u8> {
        self.state.borrow().received.clone()
    }

    /// The bytes the phone has played so far (received minus unplayed and cleared).
    pub fn played_audio(&self) -> Vec<u8> {
        let mut state = self.state.borrow_mut();
        state.playout.advance(Instant::now());
        state.playout.played.clone()
    }

    /// Every outbound `media` and `clear` so far, in arrival order.
    pub fn timeline(&self) -> Vec<Outbound> {
        self.state.borrow().timeline.clone()
    }

    /// `clear` events received.
    pub fn clears(&self) -> u32 {
        self.state.borrow().clears
    }

    /// `mark` echoes sent back to the server.
    pub fn marks_echoed(&self) -> u32 {
        self.state.borrow().marks_echoed
    }

    /// Names of the echoed marks, in echo order.
    pub fn echoed_marks(&self) -> Vec<String> {
        self.state.borrow().echoed_names.clone()
    }

    /// Frames from the server that were not valid outbound Media Streams messages
    /// (unparseable, binary, wrong `streamSid`), described.
    pub fn protocol_errors(&self) -> Vec<String> {
        self.state.borrow().errors.clone()
    }

    /// True once the socket is closed (by the server, by us, or by a transport error).
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Waits until at least `min_ms` of outbound audio (`min_ms` × 8 bytes) has been
    /// received; false on timeout.
    pub async fn wait_for_audio(&self, min_ms: u32, timeout: Duration) -> bool {
        let want = u64::from(min_ms) * BYTES_PER_MS;
        self.wait_until(timeout, |s| s.received.len() as u64 >= want)
            .await
            .is_some()
    }

    /// Waits until at least `count` marks have been echoed; false on timeout.
    pub async fn wait_for_marks(&self, count: u32, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.marks_echoed >= count)
            .await
            .is_some()
    }

    /// Waits for the socket to close; returns the server's close code and reason
    /// (`(1006, "")` when it closed without a close frame), or `None` on timeout.
    pub async fn wait_closed(&self, timeout: Duration) -> Option<(u16, String)> {
        self.wait_until(timeout, |s| s.closed).await?;
        Some(
            self.state
                .borrow()
                .close
                .clone()
                .unwrap_or((u16::from(CloseCode::Abnormal), String::new())),
        )
    }

    async fn wait_until(&self, timeout: Duration, cond: impl Fn(&CallState) -> bool) -> Option<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if cond(&self.state.borrow()) {
                return Some(());
            }
            timeout_at(deadline, notified).await.ok()?;
        }
    }
}

impl Drop for TwilioCall {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reader task: applies the server's frames to the play-out model and echoes marks
/// when play-out reaches them.
async fn read_call(
    mut stream: WsStream,
    stream_sid: String,
    writer: Rc<Mutex<Writer>>,
    state: Rc<RefCell<CallState>>,
    changed: Rc<Notify>,
) {
    loop {
        let deadline = state.borrow().playout.next_mark_deadline();
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let due = state.borrow_mut().playout.due_marks(Instant::now());
                echo_marks(due, &stream_sid, &writer, &state, &changed).await;
                continue;
            }
        };
        let now = Instant::now();
        match frame {
            Some(Ok(Frame::Text(bytes))) => {
                let echo = apply_text(&bytes, now, &stream_sid, &state);
                changed.notify_waiters();
                echo_marks(echo, &stream_sid, &writer, &state, &changed).await;
            }
            Some(Ok(Frame::Binary(_))) => {
                state
                    .borrow_mut()
                    .errors
                    .push("binary frame (Twilio accepts JSON text only)".to_owned());
                changed.notify_waiters();
            }
            Some(Ok(Frame::Ping(payload))) => {
                // A failed pong surfaces as a read error next.
                let _ = writer.lock().await.send(ws::Message::Pong(payload)).await;
            }
            Some(Ok(Frame::Pong(_))) | Some(Ok(Frame::Continuation(_))) => {}
            Some(Ok(Frame::Close(reason))) => {
                let (code, text) = match reason {
                    Some(r) => (u16::from(r.code), r.description.unwrap_or_default()),
                    None => (u16::from(CloseCode::Normal), String::new()),
                };
                state.borrow_mut().close = Some((code, text));
                let mut w = writer.lock().await;
                if !w.closed {
                    // Answer the close handshake; the socket is going away either way.
                    let _ = w.send(ws::Message::Close(None)).await;
                    w.closed = true;
                }
                break;
            }
            Some(Err(e)) => {
                state
                    .borrow_mut()
                    .errors
                    .push(format!("protocol error: {e}"));
                break;
            }
            None => break,
        }
    }
    writer.lock().await.closed = true;
    state.borrow_mut().closed = true;
    changed.notify_waiters();
}

/// Applies one text frame; returns marks to echo right away.
fn apply_text(
    bytes: &[u8],
    now: Instant,
    stream_sid: &str,
    state: &RefCell<CallState>,
) -> Vec<String> {
    let mut st = state.borrow_mut();
    let Ok(text) = std::str::from_utf8(bytes) else {
        st.errors.push("text frame is not UTF-8".to_owned());
        return Vec::new();
    };
    let event = match wire::parse_outbound(text) {
        Ok(event) => event,
        Err(e) => {
            st.errors.push(e.to_string());
            return Vec::new();
        }
    };
    let sid = match &event {
        OutboundEvent::Media { stream_sid, .. }
        | OutboundEvent::Mark { stream_sid, .. }
        | OutboundEvent::Clear { stream_sid } => stream_sid,
    };
    if sid != stream_sid {
        st.errors.push(format!("wrong streamSid `{sid}`"));
        return Vec::new();
    }
    match event {
        OutboundEvent::Media { media, .. } => match B64.decode(media.payload.as_bytes()) {
            Ok(audio) => {
                st.first_audio_at.get_or_insert(now);
                st.received.extend_from_slice(&audio);
                st.playout.push_audio(now, &audio);
                st.timeline.push(Outbound::Media { at: now, audio });
                Vec::new()
            }
            Err(e) => {
                st.errors.push(format!("media payload is not base64: {e}"));
                Vec::new()
            }
        },
        OutboundEvent::Mark { mark, .. } => st
            .playout
            .push_mark(now, mark.name.into_owned())
            .into_iter()
            .collect(),
        OutboundEvent::Clear { .. } => {
            st.clears += 1;
            st.timeline.push(Outbound::Clear { at: now });
            st.playout.clear(now)
        }
    }
}

/// Echoes `names` as Twilio `mark` events, each with the next sequence number.
async fn echo_marks(
    names: Vec<String>,
    stream_sid: &str,
    writer: &Mutex<Writer>,
    state: &RefCell<CallState>,
    changed: &Notify,
) {
    if names.is_empty() {
        return;
    }
    let mut w = writer.lock().await;
    for name in names {
        if w.send_sequenced(|seq| wire::mark_echo_json(seq, stream_sid, &name))
            .await
            .is_err()
        {
            break;
        }
        let mut st = state.borrow_mut();
        st.marks_echoed += 1;
        st.echoed_names.push(name);
    }
    drop(w);
    changed.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carrier::twilio::wire::{
        clear_json, mark_json, media_json, parse_inbound, InboundEvent,
    };
    use actix::{Actor, ActorContext, StreamHandler};
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use actix_web_actors::ws as sws;
    use std::sync::{Arc, Mutex as StdMutex};

    /// One frame the test server received: when, which event, its sequence number.
    #[derive(Debug, Clone)]
    struct Seen {
        at: std::time::Instant,
        event: String,
        seq: Option<u64>,
    }

    type Log = Arc<StdMutex<Vec<Seen>>>;

    /// A tiny Media Streams server: echoes each caller frame back as outbound media
    /// followed by a mark `m<chunk>`, sends `clear` on dtmf, closes on `stop`.
    struct EchoServer {
        log: Log,
        sid: String,
    }

    impl EchoServer {
        fn record(&self, event: &str, seq: Option<u64>) {
            self.log.lock().unwrap().push(Seen {
                at: std::time::Instant::now(),
                event: event.to_owned(),
                seq,
            });
        }
    }

    impl Actor for EchoServer {
        type Context = sws::WebsocketContext<Self>;

        fn stopped(&mut self, _ctx: &mut Self::Context) {
            self.record("ended", None);
        }
    }

    impl StreamHandler<Result<sws::Message, sws::ProtocolError>> for EchoServer {
        fn handle(
            &mut self,
            msg: Result<sws::Message, sws::ProtocolError>,
            ctx: &mut Self::Context,
        ) {
            match msg {
                Ok(sws::Message::Text(text)) => {
                    let Ok(event) = parse_inbound(&text) else {
                        self.record("invalid", None);
                        return;
                    };
                    self.record(event.name(), event.sequence_number());
                    let mut out = String::new();
                    match event {
                        InboundEvent::Start { stream_sid, .. } => {
                            self.sid = stream_sid.into_owned()
                        }
                        InboundEvent::Media { media, .. } => {
                            media_json(&self.sid, &media.payload, &mut out);
                            ctx.text(out.clone());
                            mark_json(&self.sid, &format!("m{}", media.chunk), &mut out);
                            ctx.text(out);
                        }
                        InboundEvent::Dtmf { .. } => {
                            clear_json(&self.sid, &mut out);
                            ctx.text(out);
                        }
                        InboundEvent::Stop { .. } => {
                            ctx.close(Some(sws::CloseReason {
                                code: sws::CloseCode::Normal,
                                description: Some("stream stopped".into()),
                            }));
                            ctx.stop();
                        }
                        InboundEvent::Connected { .. } | InboundEvent::Mark { .. } => {}
                    }
                }
                Ok(sws::Message::Close(_)) => {
                    self.record("close", None);
                    ctx.stop();
                }
                Ok(sws::Message::Ping(p)) => ctx.pong(&p),
                _ => {}
            }
        }

        fn finished(&mut self, ctx: &mut Self::Context) {
            ctx.stop();
        }
    }

    async fn media_stream(
        req: HttpRequest,
        body: web::Payload,
        log: web::Data<Log>,
    ) -> Result<HttpResponse, actix_web::Error> {
        let server = EchoServer {
            log: log.get_ref().clone(),
            sid: String::new(),
        };
        sws::start(server, &req, body)
    }

    /// Starts the echo server on an ephemeral port; returns its ws:// base and log.
    fn start_server() -> (String, Log) {
        let log = Log::default();
        let data = web::Data::new(log.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/media-stream", web::get().to(media_stream))
                .route(
                    "/refuse",
                    web::get().to(|| async { HttpResponse::Forbidden().finish() }),
                )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        (format!("ws://127.0.0.1:{port}"), log)
    }

    async fn wait_log(log: &Log, pred: impl Fn(&[Seen]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&log.lock().unwrap()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    fn ramp(frames: usize) -> Vec<u8> {
        (0..frames * FRAME_BYTES).map(|i| (i % 251) as u8).collect()
    }

    #[actix_rt::test]
    async fn marks_come_back_only_after_playout_and_sequence_is_shared() {
        let (base, log) = start_server();
        let mut call = TwilioCall::connect(CallSetup::new(format!("{base}/media-stream")))
            .await
            .unwrap();
        let audio = ramp(25); // 500 ms, sent faster than real time
        let t0 = Instant::now();
        for frame in audio.chunks(FRAME_BYTES) {
            call.send_mulaw_frame(frame).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let early = call.marks_echoed();
        assert!(early <= 12, "{early} marks echoed after 200 ms of play-out");
        assert!(call.wait_for_marks(25, Duration::from_secs(3)).await);
        assert!(
            t0.elapsed() >= Duration::from_millis(480),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(call.echoed_marks().first().map(String::as_str), Some("m1"));
        assert_eq!(call.received_audio(), audio);
        assert_eq!(call.played_audio(), audio);
        call.send_dtmf('1').await.unwrap();
        call.stop().await.unwrap();
        assert_eq!(
            call.wait_closed(Duration::from_secs(2)).await,
            Some((1000, "stream stopped".to_owned()))
        );
        assert!(
            wait_log(
                &log,
                |l| l.iter().any(|s| s.event == "stop"),
                Duration::from_secs(2)
            )
            .await
        );
        let log = log.lock().unwrap();
        let seqs: Vec<u64> = log.iter().filter_map(|s| s.seq).collect();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(
            seqs, expected,
            "one counter across start, media, mark, dtmf, stop"
        );
        let kinds: std::collections::BTreeSet<_> = log.iter().map(|s| s.event.as_str()).collect();
        for kind in ["connected", "start", "media", "mark", "dtmf", "stop"] {
            assert!(kinds.contains(kind), "missing {kind}: {kinds:?}");
        }
        assert!(
            call.protocol_errors().is_empty(),
            "{:?}",
            call.protocol_errors()
        );
    }

    #[actix_rt::test]
    async fn clear_drops_unplayed_audio_and_echoes_pending_marks_at_once() {
        let (base, _log) = start_server();
        let mut call = TwilioCall::connect(CallSetup::new(format!("{base}/media-stream")))
            .await
            .unwrap();
        for frame in ramp(50).chunks(FRAME_BYTES) {
            call.send_mulaw_frame(frame).await.unwrap();
        }
        assert!(call.wait_for_audio(1000, Duration::from_secs(2)).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = call.marks_echoed();
        assert!(before < 20, "{before}");
        let t = Instant::now();
        call.send_dtmf('#').await.unwrap();
        assert!(call.wait_for_marks(50, Duration::from_millis(400)).await);
        assert!(t.elapsed() < Duration::from_millis(400));
        assert_eq!(call.clears(), 1);
        let played = call.played_audio().len();
        assert!((1000..4000).contains(&played), "played {played} bytes");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            call.played_audio().len(),
            played,
            "nothing plays after clear"
        );
        assert_eq!(call.received_audio().len(), 8000);
    }

    #[actix_rt::test]
    async fn streamed_audio_is_paced_at_fifty_frames_per_second() {
        let (base, log) = start_server();
        let mut call = TwilioCall::connect(CallSetup::new(format!("{base}/media-stream")))
            .await
            .unwrap();
        call.stream_mulaw(&ramp(30)).await.unwrap();
        call.send_silence(400).await.unwrap();
        assert!(
            wait_log(
                &log,
                |l| l.iter().filter(|s| s.event == "media").count() == 50,
                Duration::from_secs(2)
            )
            .await
        );
        let times: Vec<std::time::Instant> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.event == "media")
            .map(|s| s.at)
            .collect();
        let span = times[49].duration_since(times[0]).as_secs_f64();
        let rate = 49.0 / span;
        assert!(
            (45.0..=55.0).contains(&rate),
            "{rate:.1} frames/s over {span:.3} s"
        );
        call.close_abruptly().await;
        assert!(
            wait_log(
                &log,
                |l| l.iter().any(|s| s.event == "ended"),
                Duration::from_secs(2)
            )
            .await
        );
        let log = log.lock().unwrap();
        assert!(!log.iter().any(|s| s.event == "stop" || s.event == "close"));
    }

    #[actix_rt::test]
    async fn refused_upgrade_reports_the_status() {
        let (base, _log) = start_server();
        match TwilioCall::connect(CallSetup::new(format!("{base}/refuse"))).await {
            Err(ClientError::Refused { status }) => assert_eq!(status, 403),
            Err(e) => panic!("expected Refused, got {e}"),
            Ok(_) => panic!("expected Refused, got a call"),
        }
    }

    #[test]
    fn setup_has_realistic_sids_and_signs_the_wss_url() {
        let setup = CallSetup::new("wss://sb.example.net/media-stream").signed("12345");
        for (sid, prefix) in [
            (&setup.account_sid, "AC"),
            (&setup.call_sid, "CA"),
            (&setup.stream_sid, "MZ"),
        ] {
            assert_eq!(sid.len(), 34);
            assert!(sid.starts_with(prefix));
            assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let (name, sig) = &setup.headers[0];
        assert_eq!(name, "X-Twilio-Signature");
        assert!(signature::validate("12345", &setup.url, &[], sig));
    }
}

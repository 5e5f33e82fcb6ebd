//! One load-test caller: Twilio's side of a bidirectional Media Stream with the
//! same wire behaviour as [`crate::far_end::TwilioCall`]
//! (`connected`, `start` with custom parameters, 20 ms µ-law `media` frames
//! paced on a monotonic clock, outbound audio "played" at 8 bytes per ms with
//! each `mark` echoed when play-out reaches it, every pending mark echoed on
//! `clear`, `stop` at the end), reduced to what thousands of calls per thread
//! need: one actor per call, frames written synchronously into the socket's
//! buffer, stamps instead of recordings.
//!
//! The caller alternates speech and silence ([`Plan::speech_frames`],
//! [`Plan::silence_frames`]) so the model hears turns; every frame carries a
//! [`Stamp`]. Received assistant audio is checked for order and its relay time
//! recorded; the first one after the first utterance gives the call's
//! first-audio latency.
//!
//! Two options make it a caller who rings and listens first. With
//! [`Plan::webhook`] it first posts Twilio's voice webhook (the form Twilio
//! sends for a ringing inbound call), reads the `<Connect><Stream>` answer,
//! waits the webhook → stream gap Twilio takes, and opens the stream that
//! answer names with its `<Parameter>`s. With [`Plan::listen_frames`] it stays
//! silent (stamped silence) at the start so it hears the whole greeting, whose
//! frames ([`GREETING_CALL`] stamps) are counted for loss and order apart from
//! the replies; `start` sent → first greeting frame is its greeting latency.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use actix_codec::Framed;
use awc::error::WsProtocolError;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use bytes::BytesMut;
use bytestring::ByteString;
use futures_util::stream::{SplitSink, StreamExt as _};
use tokio::sync::oneshot;

use super::clock::now_us;
use super::model::{audio_field, GREETING_CALL};
use super::stamp::{FrameTails, SeqTracker, Stamp};
use super::stats::Batch;
use crate::audio::format::base64_decoded_len;
use crate::carrier::twilio::twiml::{self, StreamAnswer, TwimlError};
use crate::carrier::twilio::wire;
use crate::far_end::random_sid;

/// One caller frame.
const FRAME: Duration = Duration::from_millis(20);
/// After the last frame, how long the caller stays on the line (silent) before `stop`.
const HANG_UP_AFTER: Duration = Duration::from_millis(500);
/// How long to wait for the server to close after `stop`.
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// WebSocket handshake timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted from the relay, bytes.
const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// µ-law bytes played per millisecond.
const BYTES_PER_MS: u64 = 8;
/// WebSocket close code for "try again later" (switchboard's capacity refusal).
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// Largest voice webhook answer read, bytes (TwiML is a few hundred).
const MAX_TWIML_BYTES: usize = 64 * 1024;

/// The voice webhook a caller posts before it opens its stream.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// `http://HOST:PORT/twiml`.
    pub url: String,
    /// Webhook answered → stream opened (Twilio's is about a second).
    pub gap: Duration,
    /// The caller's number (`From`, `Caller`).
    pub from: String,
    /// The dialled number (`To`, `Called`; routes to a tenant).
    pub to: String,
}

/// Why a caller got no stream from the voice webhook.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook refused with HTTP {0}")]
    Status(u16),
    #[error("webhook request: {0}")]
    Send(#[from] awc::error::SendRequestError),
    #[error("webhook answer unreadable: {0}")]
    Body(#[from] awc::error::PayloadError),
    #[error("webhook: no answer within {} s", CONNECT_TIMEOUT.as_secs())]
    Timeout,
    #[error("webhook answer: {0}")]
    Twiml(#[from] TwimlError),
}

impl WebhookError {
    /// The service declined the call (an HTTP error status, or TwiML without a
    /// stream, such as switchboard's `<Say>` + `<Hangup/>`), as opposed to a
    /// transport failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            WebhookError::Status(_) | WebhookError::Twiml(TwimlError::NoStream { .. })
        )
    }
}

/// The form Twilio posts to a voice webhook for a ringing inbound call
/// (`application/x-www-form-urlencoded`; parameter names as in Twilio's
/// "TwiML Voice: Twilio's request to your application").
pub fn webhook_form(call_sid: &str, account_sid: &str, from: &str, to: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("CallSid", call_sid),
            ("AccountSid", account_sid),
            ("From", from),
            ("To", to),
            ("Called", to),
            ("Caller", from),
            ("Direction", "inbound"),
            ("CallStatus", "ringing"),
            ("ApiVersion", "2010-04-01"),
        ])
        .finish()
}

/// What one caller does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Index in the run (stamped into every frame).
    pub idx: u32,
    /// `ws://HOST/media-stream` (with [`Plan::webhook`], the webhook's answer
    /// names the stream instead).
    pub url: String,
    /// Post this voice webhook first and open the stream its TwiML names.
    pub webhook: Option<Webhook>,
    /// Silent frames at the start (listening to the greeting), before the
    /// first speech + silence cycle; counted in [`Plan::frames`].
    pub listen_frames: u64,
    /// Delay before dialling (ramp).
    pub start_after: Duration,
    /// Frames to stream (`listen_frames` + a whole number of speech + silence cycles).
    pub frames: u64,
    /// Speech frames at the start of each cycle.
    pub speech_frames: u64,
    /// Silence frames after them.
    pub silence_frames: u64,
    /// `start.customParameters` (with a webhook: its TwiML's `<Parameter>`s).
    pub custom_parameters: Vec<(String, String)>,
}

/// Counters shared by every caller, read by the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub connected: AtomicU64,
    pub ended: AtomicU64,
    pub failed: AtomicU64,
    pub c2m_sent: AtomicU64,
    pub m2c_received: AtomicU64,
    /// Calls that heard the first frame of a greeting.
    pub greeted: AtomicU64,
}

/// What one caller observed.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub idx: u32,
    /// The WebSocket opened.
    pub connected: bool,
    /// Refused: an HTTP status on upgrade or a 1013 close.
    pub refused: bool,
    /// Why the call failed, if it did (connect error, early close).
    pub error: Option<String>,
    /// Streamed every frame, sent `stop`, and the stream ended cleanly.
    pub completed: bool,
    /// Stamped caller frames sent.
    pub c2m_sent: u64,
    /// Order of stamped assistant frames received.
    pub m2c: SeqTracker,
    /// Marks echoed.
    pub marks_echoed: u64,
    /// `clear`s received.
    pub clears: u64,
    /// End of the first utterance → first assistant audio frame received, µs.
    pub first_audio_us: Option<u64>,
    /// Order of greeting frames received ([`GREETING_CALL`] stamps).
    pub greeting: SeqTracker,
    /// Stream `start` sent → first greeting frame received, µs.
    pub greeting_latency_us: Option<u64>,
    /// Voice webhook posted → its TwiML read, µs.
    pub webhook_answer_us: Option<u64>,
}

type WsSink = SplitSink<Framed<BoxedSocket, Codec>, Message>;

enum Phase {
    Streaming,
    Lingering { until: Instant },
    Stopped,
}

struct Caller {
    plan: Plan,
    sink: SinkWrite<Message, WsSink>,
    tails: Rc<FrameTails>,
    progress: Arc<Progress>,
    latency: Batch,
    stream_sid: String,
    account_sid: String,
    call_sid: String,
    twilio_seq: u64,
    frame: u64,
    started: Instant,
    /// When `start` was sent, µs on the generator clock.
    start_sent_us: u64,
    buf: BytesMut,
    phase: Phase,
    playout_end: Option<Instant>,
    marks: VecDeque<(Instant, String)>,
    speech_end_us: Option<u64>,
    outcome: Outcome,
    done: Option<oneshot::Sender<Outcome>>,
}

impl Caller {
    fn send(&mut self, text: ByteString) {
        if self.sink.write(Message::Text(text)).is_err() {
            self.outcome
                .error
                .get_or_insert_with(|| "socket closed while sending".into());
        }
    }

    fn send_media(&mut self) {
        use std::fmt::Write as _;
        let n = self.frame;
        let cycle = (self.plan.speech_frames + self.plan.silence_frames).max(1);
        // Position in the speech + silence cycle; none while listening first.
        let at = n.checked_sub(self.plan.listen_frames).map(|k| k % cycle);
        let speech = at.is_some_and(|at| at < self.plan.speech_frames);
        if at == Some(self.plan.speech_frames) && self.speech_end_us.is_none() {
            self.speech_end_us = Some(now_us());
        }
        self.twilio_seq += 1;
        let stamp = Stamp {
            call: self.plan.idx,
            seq: n,
            sent_us: now_us(),
            speech,
        };
        let _ = write!(
            self.buf,
            r#"{{"event":"media","sequenceNumber":"{}","streamSid":"{}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":""#,
            self.twilio_seq,
            self.stream_sid,
            n + 1,
            n * 20,
        );
        self.tails.push_frame(stamp, &mut self.buf);
        self.buf.extend_from_slice(br#""}}"#);
        let frame = self.buf.split().freeze();
        if let Ok(text) = ByteString::try_from(frame) {
            self.send(text);
        }
        self.frame += 1;
        self.outcome.c2m_sent += 1;
        self.progress.c2m_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn echo_due_marks(&mut self, now: Instant, all: bool) {
        while let Some((due, _)) = self.marks.front() {
            if !all && *due > now {
                break;
            }
            if let Some((_, name)) = self.marks.pop_front() {
                self.twilio_seq += 1;
                let text = wire::mark_echo_json(self.twilio_seq, &self.stream_sid, &name);
                self.send(text.into());
                self.outcome.marks_echoed += 1;
            }
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.echo_due_marks(now, false);
        match self.phase {
            Phase::Streaming => {
                // Catch up if the timer fired late, so the frame rate stays 50/s.
                let due = (now.duration_since(self.started).as_millis() / 20) as u64 + 1;
                while self.frame < due.min(self.plan.frames) {
                    self.send_media();
                }
                if self.frame >= self.plan.frames {
                    self.phase = Phase::Lingering {
                        until: now + HANG_UP_AFTER,
                    };
                }
            }
            Phase::Lingering { until } if now >= until => {
                self.twilio_seq += 1;
                let stop = wire::stop_json(
                    self.twilio_seq,
                    &self.stream_sid,
                    &self.account_sid,
                    &self.call_sid,
                );
                self.send(stop.into());
                self.phase = Phase::Stopped;
                self.outcome.completed = self.outcome.error.is_none();
                ctx.run_later(CLOSE_WAIT, |act, ctx| {
                    act.sink.close();
                    ctx.stop();
                });
            }
            _ => {}
        }
    }

    fn on_text(&mut self, text: &str) {
        let now = Instant::now();
        if text.starts_with(r#"{"event":"media""#)
            || text.starts_with(r#"{"type":"response.output_audio.delta""#)
        {
            let Some(audio) = audio_field(text) else {
                return;
            };
            let bytes = base64_decoded_len(audio) as u64;
            let start = self.playout_end.filter(|e| *e > now).unwrap_or(now);
            self.playout_end = Some(start + Duration::from_micros(bytes * 1000 / BYTES_PER_MS));
            if let Some(stamp) = Stamp::from_base64(audio) {
                let at = now_us();
                if stamp.call == GREETING_CALL {
                    // Held by the relay until the stream attached: not relay time.
                    self.outcome.greeting.observe(stamp.seq);
                    if self.outcome.greeting_latency_us.is_none() {
                        self.outcome.greeting_latency_us =
                            Some(at.saturating_sub(self.start_sent_us));
                        self.progress.greeted.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                self.latency.record(at.saturating_sub(stamp.sent_us));
                self.outcome.m2c.observe(stamp.seq);
                self.progress.m2c_received.fetch_add(1, Ordering::Relaxed);
                if self.outcome.first_audio_us.is_none() {
                    if let Some(end) = self.speech_end_us {
                        self.outcome.first_audio_us = Some(at.saturating_sub(end));
                    }
                }
            }
        } else if text.starts_with(r#"{"event":"mark""#) {
            if let Some(name) = field(text, r#""name":""#) {
                let due = self.playout_end.filter(|e| *e > now).unwrap_or(now);
                self.marks.push_back((due, name.to_string()));
                self.echo_due_marks(now, false);
            }
        } else if text.starts_with(r#"{"event":"clear""#) {
            self.outcome.clears += 1;
            self.playout_end = None;
            self.echo_due_marks(now, true);
        }
    }

    fn fail(&mut self, why: String) {
        if !matches!(self.phase, Phase::Stopped) {
            self.outcome.completed = false;
            self.outcome.error.get_or_insert(why);
        }
    }
}

/// The string value after `key` (which ends with the opening quote).
fn field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

impl Actor for Caller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.send(wire::connected_json().into());
        self.twilio_seq += 1;
        let start = wire::start_json(
            self.twilio_seq,
            &self.stream_sid,
            &self.account_sid,
            &self.call_sid,
            &self.plan.custom_parameters,
        );
        self.send(start.into());
        self.start_sent_us = now_us();
        self.started = Instant::now();
        ctx.run_interval(FRAME, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.latency.flush();
        self.progress.ended.fetch_add(1, Ordering::Relaxed);
        if !self.outcome.completed {
            self.progress.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(std::mem::take(&mut self.outcome));
        }
    }
}

impl StreamHandler<Result<Frame, WsProtocolError>> for Caller {
    fn handle(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(Frame::Text(bytes)) => {
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    self.on_text(text);
                }
            }
            Ok(Frame::Ping(p)) => {
                let _ = self.sink.write(Message::Pong(p));
            }
            Ok(Frame::Close(reason)) => {
                let code = reason.as_ref().map(|r| u16::from(r.code));
                if code == Some(CLOSE_TRY_AGAIN_LATER) {
                    self.outcome.refused = true;
                }
                let detail = reason
                    .and_then(|r| r.description)
                    .unwrap_or_else(|| "no reason".into());
                self.fail(format!("server closed the stream early: {code:?} {detail}"));
                self.sink.close();
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                self.fail(format!("protocol error: {e}"));
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.fail("socket ended without a close frame".into());
        ctx.stop();
    }
}

impl WriteHandler<WsProtocolError> for Caller {
    fn error(&mut self, err: WsProtocolError, _: &mut Context<Self>) -> Running {
        self.fail(format!("write error: {err}"));
        Running::Stop
    }
}

thread_local! {
    /// One client per generator thread (an awc connector builds an OpenSSL
    /// context; per call that would dominate the generator's own cost).
    static CLIENT: std::cell::RefCell<Option<awc::Client>> = const { std::cell::RefCell::new(None) };
}

fn thread_client() -> awc::Client {
    CLIENT.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                awc::Client::builder()
                    .connector(awc::Connector::new().limit(0).timeout(CONNECT_TIMEOUT))
                    .max_http_version(awc::http::Version::HTTP_11)
                    .timeout(CONNECT_TIMEOUT)
                    .finish()
            })
            .clone()
    })
}

/// Posts Twilio's voice webhook for this call and reads the stream its TwiML
/// names.
///
/// # Errors
/// A transport error or timeout, an HTTP error status, or an answer that is not
/// `<Connect><Stream>` TwiML ([`WebhookError::is_refusal`] tells refusals apart).
pub async fn post_webhook(
    hook: &Webhook,
    call_sid: &str,
    account_sid: &str,
) -> Result<StreamAnswer, WebhookError> {
    let post = async {
        let mut resp = thread_client()
            .post(hook.url.as_str())
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body(webhook_form(call_sid, account_sid, &hook.from, &hook.to))
            .await?;
        if !resp.status().is_success() {
            return Err(WebhookError::Status(resp.status().as_u16()));
        }
        let body = resp.body().limit(MAX_TWIML_BYTES).await?;
        Ok(twiml::parse_connect_stream(&String::from_utf8_lossy(
            &body,
        ))?)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, post)
        .await
        .map_err(|_| WebhookError::Timeout)?
}

/// Dials per `plan` (after its ramp delay; with a webhook, after posting it and
/// waiting its gap), streams, hangs up, and returns what it saw. Runs on the
/// current actix system; never fails — errors are in the [`Outcome`].
pub async fn run(
    mut plan: Plan,
    tails: Rc<FrameTails>,
    progress: Arc<Progress>,
    latency: Batch,
) -> Outcome {
    tokio::time::sleep(plan.start_after).await;
    let mut outcome = Outcome {
        idx: plan.idx,
        ..Outcome::default()
    };
    let account_sid = random_sid("AC");
    let call_sid = random_sid("CA");
    if let Some(hook) = plan.webhook.take() {
        let posted = now_us();
        match post_webhook(&hook, &call_sid, &account_sid).await {
            Ok(answer) => {
                outcome.webhook_answer_us = Some(now_us().saturating_sub(posted));
                plan.url = answer.url;
                plan.custom_parameters = answer.parameters;
                tokio::time::sleep(hook.gap).await;
            }
            Err(e) => {
                outcome.refused = e.is_refusal();
                outcome.error = Some(e.to_string());
                progress.failed.fetch_add(1, Ordering::Relaxed);
                return outcome;
            }
        }
    }
    let connect = thread_client()
        .ws(plan.url.as_str())
        .max_frame_size(MAX_FRAME_BYTES)
        .connect();
    let framed = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((_, framed))) => framed,
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            outcome.refused = true;
            outcome.error = Some(format!("upgrade refused with HTTP {status}"));
            progress.failed.fetch_add(1, Ordering::Relaxed);
            return outcome;
        }
        Ok(Err(e)) => {
            outcome.error = Some(format!("connect: {e}"));
            progress.failed.fetch_add(1, Ordering::Relaxed);
            return outcome;
        }
        Err(_) => {
            outcome.error = Some("connect: timed out".into());
            progress.failed.fetch_add(1, Ordering::Relaxed);
            return outcome;
        }
    };
    progress.connected.fetch_add(1, Ordering::Relaxed);
    outcome.connected = true;
    let idx = plan.idx;
    let (tx, rx) = oneshot::channel();
    Caller::create(move |ctx| {
        let (sink, stream) = framed.split();
        ctx.add_stream(stream);
        Caller {
            sink: SinkWrite::new(sink, ctx),
            tails,
            progress,
            latency,
            stream_sid: random_sid("MZ"),
            account_sid,
            call_sid,
            twilio_seq: 0,
            frame: 0,
            started: Instant::now(),
            start_sent_us: 0,
            buf: BytesMut::with_capacity(8 * 1024),
            phase: Phase::Streaming,
            playout_end: None,
            marks: VecDeque::new(),
            speech_end_us: None,
            outcome,
            done: Some(tx),
            plan,
        }
    });
    rx.await.unwrap_or_else(|_| Outcome {
        idx,
        connected: true,
        error: Some("caller actor vanished".into()),
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_reads_a_json_string_value() {
        let mark = r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"17"}}"#;
        assert_eq!(field(mark, r#""name":""#), Some("17"));
        assert_eq!(field(mark, r#""absent":""#), None);
    }

    #[test]
    fn webhook_form_carries_twilios_parameter_names() {
        let form = webhook_form("CA1", "AC2", "+15550100001", "+15550100000");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CallSid"), Some("CA1"));
        assert_eq!(get("AccountSid"), Some("AC2"));
        assert_eq!(get("From"), Some("+15550100001"), "{form}");
        assert_eq!(get("Caller"), Some("+15550100001"));
        assert_eq!(get("To"), Some("+15550100000"));
        assert_eq!(get("Called"), Some("+15550100000"));
        assert_eq!(get("Direction"), Some("inbound"));
        assert_eq!(get("CallStatus"), Some("ringing"));
        assert_eq!(get("ApiVersion"), Some("2010-04-01"));
        assert!(
            form.contains("From=%2B15550100001"),
            "'+' is escaped: {form}"
        );
    }

    #[test]
    fn refusals_are_told_apart_from_transport_failures() {
        assert!(WebhookError::Status(503).is_refusal());
        assert!(WebhookError::Twiml(TwimlError::NoStream {
            verbs: "Say, Hangup".into()
        })
        .is_refusal());
        assert!(!WebhookError::Timeout.is_refusal());
        assert!(!WebhookError::Twiml(TwimlError::StreamWithoutUrl).is_refusal());
    }
}

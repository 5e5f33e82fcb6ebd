//! The Twilio Media Streams WebSocket edge (`GET /media-stream`): parses Twilio's
//! frames (see [`super::wire`]), enforces their order, and hands typed messages to
//! the call's `CallActor`; sends `media`/`mark`/`clear` back, and carries out the
//! call's Twilio-side actions (a transfer through the REST API, reported back as a
//! [`TransferOutcome`]). Thin on purpose: no call state lives here beyond the
//! stream binding.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws;
use base64::Engine;
use bytestring::ByteString;

use crate::actor_messages::{
    AudioFrame, CarrierCommand, CarrierHangup, DtmfReceived, MarkEchoed, TransferError,
    TransferOutcome, VoicemailHandedOff,
};
use crate::audio::format::AudioFormat;
use crate::call_tree::call::prewarm::AttachEdge;
use crate::call_tree::call::route::{route_call, RouteKeys, RouteRefusal};
use crate::call_tree::call::{CallActor, CallSetup};
use crate::call_tree::supervisor::{claim_prewarmed, ClaimPrewarm, StartCall};
use crate::carrier::env::CarrierEnv;
use crate::carrier::twilio::grant::StreamGrant;
use crate::carrier::twilio::twiml;
use crate::carrier::twilio::wire::{self, InboundEvent, WireError};
use crate::lifecycle::{Carrier, EndReason};
use crate::rest::twilio::TwilioRest;
use crate::tenant::TenantConfig;

/// Largest inbound WebSocket frame, bytes. Twilio's 20 ms media frames are ~330 bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest decoded media payload accepted in one frame, bytes (1 s of µ-law).
pub const MAX_MEDIA_BYTES: usize = 8000;
/// Invalid frames tolerated before the stream is closed (1008).
const MAX_BAD_FRAMES: u32 = 50;
/// µ-law bytes per millisecond of audio (8 kHz, 1 byte per sample).
const PCMU_BYTES_PER_MS: u64 = 8;
/// How often the idle timeout is checked.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// What Twilio says before the voicemail beep (the words of the shipped
/// `assets/audio/voicemail-prompt.wav`, which switchboard plays itself when it
/// records the voicemail).
pub const VOICEMAIL_PROMPT: &str =
    "Sorry, the receptionist can't take your call right now. Please leave a message after the tone.";

enum State {
    AwaitingStart,
    Started {
        call: Addr<CallActor>,
        stream_sid: String,
        /// Twilio `CallSid` (`CA…`), for REST actions on the call.
        call_sid: String,
    },
    Ended,
}

/// The call of Twilio call `call_sid` (µ-law) to `tenant`; `edge` is `None`
/// when it is pre-warmed at the voice webhook. No stream id yet.
pub fn twilio_call_setup(
    call_sid: &str,
    from: Option<String>,
    to: Option<String>,
    tenant: Arc<TenantConfig>,
    edge: Option<Recipient<CarrierCommand>>,
) -> CallSetup {
    CallSetup {
        call_id: uuid::Uuid::new_v4().to_string(),
        carrier: Carrier::Twilio,
        call_sid: Some(call_sid.to_string()),
        stream_sid: None,
        from,
        to,
        tenant,
        format: AudioFormat::Pcmu,
        edge,
    }
}

/// One Twilio media stream.
pub struct MediaStreamSession {
    env: Arc<CarrierEnv>,
    state: State,
    last_rx: Instant,
    bad_frames: u32,
    scratch: Vec<u8>,
    out: String,
    conn_id: String,
    /// Decoded audio bytes written to the carrier so far.
    sent_audio: u64,
    /// Decoded audio bytes the carrier has confirmed by echoing a later mark.
    acked_audio: u64,
    /// Marks written and not yet echoed, with `sent_audio` when each was written.
    marks_in_flight: VecDeque<(String, u64)>,
    /// `calls.max_unacked_audio_ms` in bytes: past it the carrier is not reading.
    max_unacked_audio: u64,
    /// What the signed voice webhook said about this stream's call (its
    /// per-call URL); `None` when no Twilio auth token is configured.
    grant: Option<StreamGrant>,
    /// The call asked for a transfer: Twilio ends this stream (`stop`, close)
    /// once the call's TwiML is replaced, and that end is not the caller's.
    transferring: bool,
}

impl MediaStreamSession {
    /// A session waiting for Twilio's `start`; with a `grant` (the stream's
    /// per-call URL, checked at the upgrade) its `start` must name the
    /// grant's CallSid, and tenant, caller and dialled number come from it.
    pub fn new(env: Arc<CarrierEnv>, grant: Option<StreamGrant>) -> Self {
        MediaStreamSession {
            grant,
            transferring: false,
            state: State::AwaitingStart,
            last_rx: Instant::now(),
            bad_frames: 0,
            scratch: Vec::with_capacity(MAX_MEDIA_BYTES),
            out: String::with_capacity(512),
            conn_id: uuid::Uuid::new_v4().to_string(),
            sent_audio: 0,
            acked_audio: 0,
            marks_in_flight: VecDeque::with_capacity(64),
            max_unacked_audio: u64::from(env.config.calls.max_unacked_audio_ms) * PCMU_BYTES_PER_MS,
            env,
        }
    }

    fn label(&self) -> String {
        match &self.state {
            State::Started { stream_sid, .. } => stream_sid.clone(),
            _ => format!("conn {}", self.conn_id),
        }
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    /// The stream ended (`reason`): the call hears it, unless the stream
    /// ends because the call is being transferred (its TwiML replaced).
    fn hang_up(&mut self, reason: EndReason) {
        if let State::Started { call, .. } = std::mem::replace(&mut self.state, State::Ended) {
            if self.transferring {
                log::info!(
                    "twilio {}: stream ended for the transfer ({reason})",
                    self.conn_id
                );
                return;
            }
            call.do_send(CarrierHangup { reason });
        }
    }

    fn bad_frame(&mut self, ctx: &mut ws::WebsocketContext<Self>, detail: &str) {
        self.bad_frames += 1;
        self.env.metrics.carrier_bad_frames.inc();
        // One log line per power of two keeps a flood of garbage from flooding the log.
        if self.bad_frames.is_power_of_two() {
            log::warn!(
                "twilio {}: bad frame #{}: {detail}",
                self.label(),
                self.bad_frames
            );
        }
        if self.bad_frames > MAX_BAD_FRAMES {
            self.hang_up(EndReason::CarrierProtocolError);
            self.close(ctx, ws::CloseCode::Policy, "too many invalid frames");
        }
    }

    fn on_start(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        stream_sid: String,
        start: wire::StartMeta<'_>,
    ) {
        if let Some(grant) = &self.grant {
            if grant.call_sid != start.call_sid.as_ref() {
                log::warn!(
                    "twilio {stream_sid}: start for call {:?} on the stream URL of call {}; refused",
                    start.call_sid.as_ref(),
                    grant.call_sid
                );
                self.close(ctx, ws::CloseCode::Policy, "stream is not for this call");
                return;
            }
        }
        let granted = self.grant.clone();
        let param = |name: &str| {
            // With a grant, who the call is for and from is what the signed
            // webhook said, never the stream's unsigned parameters.
            if let Some(grant) = &granted {
                let value = match name {
                    "tenant" => Some(grant.tenant.clone()),
                    "from" => grant.from.clone(),
                    "to" => grant.to.clone(),
                    _ => None,
                };
                if matches!(name, "tenant" | "from" | "to") {
                    return value.filter(|v| !v.is_empty());
                }
            }
            start
                .custom_parameters
                .get(name)
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty())
        };
        let routed = route_call(
            &self.env.tenants,
            &self.env.metrics,
            &format!("twilio {stream_sid}: call {}", start.call_sid),
            RouteKeys {
                tenant: param("tenant").as_deref(),
                dialled: param("to").as_deref(),
                account_sid: Some(start.account_sid.as_ref()),
            },
            Some(self.env.config.model.provider),
        );
        let tenant = match routed {
            Ok(t) => t,
            Err(RouteRefusal::NoTenant(e)) => {
                self.close(ctx, ws::CloseCode::Policy, &format!("no tenant: {e}"));
                return;
            }
            Err(RouteRefusal::NoDirectLink(_)) => {
                self.close(
                    ctx,
                    ws::CloseCode::Policy,
                    "tenant served through jambonz only",
                );
                return;
            }
        };
        let mut setup = twilio_call_setup(
            start.call_sid.as_ref(),
            param("from"),
            param("to"),
            tenant,
            Some(ctx.address().recipient()),
        );
        setup.stream_sid = Some(stream_sid.clone());
        let call_sid = start.call_sid.to_string();
        let Some(token) = param("prewarm") else {
            let (start_call, call) = StartCall::<CallActor>::new(setup.call_id.clone(), setup);
            self.env.supervisor.do_send(start_call);
            self.state = State::Started {
                call,
                stream_sid,
                call_sid,
            };
            return;
        };
        // A stream naming its pre-warmed call attaches to it; any other (unknown,
        // used, expired or foreign token, or the call just ended) is started the
        // normal way. Frames wait (unread) for the answer.
        let claim = ClaimPrewarm {
            token,
            call_sid: call_sid.clone(),
        };
        let attach = AttachEdge {
            edge: ctx.address().recipient(),
            stream_sid: Some(stream_sid.clone()),
        };
        let claimed = claim_prewarmed(self.env.supervisor.clone(), claim, attach);
        ctx.wait(claimed.into_actor(self).map(move |claimed, act, _| {
            let call = claimed.unwrap_or_else(|| {
                let (start_call, call) = StartCall::<CallActor>::new(setup.call_id.clone(), setup);
                act.env.supervisor.do_send(start_call);
                call
            });
            act.state = State::Started {
                call,
                stream_sid,
                call_sid,
            };
        }));
    }

    fn on_text(&mut self, frame: &ByteString, ctx: &mut ws::WebsocketContext<Self>) {
        let text: &str = frame;
        let event = match wire::parse_inbound(text) {
            Ok(event) => event,
            Err(WireError::UnknownEvent(name)) => {
                // Twilio adds events over time; unknown ones are logged and skipped.
                log::debug!("twilio {}: unknown event {name:?} ignored", self.label());
                return;
            }
            Err(e) => {
                self.bad_frame(ctx, &e.to_string());
                return;
            }
        };
        match (event, &self.state) {
            (InboundEvent::Connected { .. }, _) => {}
            (
                InboundEvent::Start {
                    stream_sid, start, ..
                },
                State::AwaitingStart,
            ) => {
                self.on_start(ctx, stream_sid.into_owned(), start);
            }
            (InboundEvent::Start { .. }, _) => {
                log::warn!("twilio {}: second start; closing", self.label());
                self.hang_up(EndReason::CarrierProtocolError);
                self.close(ctx, ws::CloseCode::Policy, "duplicate start");
            }
            (InboundEvent::Media { .. }, State::AwaitingStart) => {
                log::warn!("twilio {}: media before start; closing", self.label());
                self.env.metrics.carrier_bad_frames.inc();
                self.close(ctx, ws::CloseCode::Policy, "media before start");
            }
            (InboundEvent::Media { media, .. }, State::Started { call, .. }) => {
                let payload = media.payload;
                if payload.len() > MAX_MEDIA_BYTES * 4 / 3 + 4 {
                    self.bad_frame(ctx, "media payload too large");
                    return;
                }
                self.scratch.clear();
                self.scratch.resize(payload.len() * 3 / 4 + 3, 0);
                match base64::engine::general_purpose::STANDARD
                    .decode_slice(payload.as_bytes(), &mut self.scratch)
                {
                    Ok(_) => call.do_send(AudioFrame {
                        payload: share(frame, &payload),
                    }),
                    Err(e) => self.bad_frame(ctx, &format!("invalid base64 payload: {e}")),
                }
            }
            (InboundEvent::Mark { mark, .. }, State::Started { call, .. }) => {
                ack_mark(&mut self.marks_in_flight, &mut self.acked_audio, &mark.name);
                call.do_send(MarkEchoed {
                    name: mark.name.into_owned(),
                });
            }
            (InboundEvent::Dtmf { dtmf, .. }, State::Started { call, .. }) => {
                call.do_send(DtmfReceived {
                    digit: dtmf.digit.to_string(),
                });
            }
            (InboundEvent::Stop { .. }, State::Started { .. }) => {
                self.hang_up(EndReason::CallerHangup);
                self.close(ctx, ws::CloseCode::Normal, "stream stopped");
            }
            (InboundEvent::Stop { .. }, _) => {
                self.close(ctx, ws::CloseCode::Normal, "stream stopped");
            }
            (_, State::Ended) => {}
            (other, State::AwaitingStart) => {
                self.bad_frame(ctx, &format!("{} before start", other.name()));
            }
        }
    }
}

/// Marks echo in order: everything written before mark `name` has played, so
/// `acked` becomes the byte count recorded with it (earlier marks are dropped).
fn ack_mark(in_flight: &mut VecDeque<(String, u64)>, acked: &mut u64, name: &str) {
    while let Some((sent_name, sent_at)) = in_flight.pop_front() {
        if sent_name == name {
            *acked = sent_at;
            return;
        }
    }
}

impl MediaStreamSession {
    /// Transfers the call: replaces its TwiML through the REST API (Calls
    /// resource, `Twiml` field) with [`twiml::dial_with_screening`]; Twilio
    /// then ends this stream (`stop`, close), which the call does not take for
    /// a hang-up. The request runs on the arbiter, not in this actor, so its
    /// [`TransferOutcome`] reaches the call even when the stream has already
    /// gone.
    fn transfer(
        &mut self,
        number: &str,
        screen_url: &str,
        action_url: &str,
        ring_secs: u32,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let State::Started { call, call_sid, .. } = &self.state else {
            return;
        };
        let call = call.clone();
        let rest = match TwilioRest::from_config(&self.env.config.twilio, self.env.tls.clone()) {
            Ok(rest) => rest,
            Err(e) => {
                call.do_send(TransferOutcome(Err(TransferError::Impossible(
                    e.to_string(),
                ))));
                return;
            }
        };
        self.transferring = true;
        let call_sid = call_sid.clone();
        let document = twiml::dial_with_screening(number, action_url, ring_secs, screen_url);
        let edge = ctx.address();
        actix::spawn(async move {
            let result = rest.update_call_twiml(&call_sid, &document).await;
            edge.do_send(TransferRefusedByTwilio(result.is_err()));
            call.do_send(TransferOutcome(
                result.map_err(|e| TransferError::Failed(e.to_string())),
            ));
        });
    }

    /// Takes the caller's voicemail on Twilio's side: replaces the call's TwiML
    /// through the REST API with [`twiml::voicemail`] (the prompt, the beep,
    /// `<Record>` whose status callback names `call_id`); Twilio then ends this
    /// stream with `stop`. The call hears whether it worked as
    /// [`VoicemailHandedOff`].
    fn record_voicemail(&mut self, call_id: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let State::Started { call, call_sid, .. } = &self.state else {
            return;
        };
        let call = call.clone();
        let rest = match TwilioRest::from_config(&self.env.config.twilio, self.env.tls.clone()) {
            Ok(rest) => rest,
            Err(e) => {
                call.do_send(VoicemailHandedOff(Err(e.to_string())));
                return;
            }
        };
        let base = self.env.calls.tools.public_base();
        let query = serde_urlencoded::to_string([("call", call_id)]).unwrap_or_default();
        let calls = &self.env.config.calls;
        let document = twiml::voicemail(&twiml::VoicemailRecord {
            prompt: VOICEMAIL_PROMPT,
            action_url: &format!("{base}/twiml/voicemail/done?{query}"),
            status_url: &format!("{base}/twiml/voicemail/recording?{query}"),
            max_secs: calls.voicemail_max_secs,
            silence_secs: calls.voicemail_end_silence_ms.div_ceil(1000),
        });
        let call_sid = call_sid.clone();
        ctx.spawn(
            async move { rest.update_call_twiml(&call_sid, &document).await }
                .into_actor(self)
                .map(move |result, _, _| {
                    call.do_send(VoicemailHandedOff(result.map_err(|e| e.to_string())));
                }),
        );
    }

    /// Decoded bytes written and not confirmed; past the limit the carrier has
    /// stopped reading (a healthy one confirms within the playout lead), so the
    /// call ends instead of buffering without bound.
    fn check_unacked(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        let unacked = self.sent_audio - self.acked_audio;
        if unacked <= self.max_unacked_audio {
            return true;
        }
        log::warn!(
            "twilio {}: {} ms of audio written and unconfirmed; carrier is not reading, ending call",
            self.label(),
            unacked / PCMU_BYTES_PER_MS
        );
        self.hang_up(EndReason::CarrierSlowConsumer);
        self.close(ctx, ws::CloseCode::Policy, "carrier not reading");
        false
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

impl Actor for MediaStreamSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let idle = Duration::from_secs(self.env.config.calls.carrier_idle_timeout_secs);
        ctx.run_interval(IDLE_CHECK, move |act, ctx| {
            if act.last_rx.elapsed() > idle {
                log::warn!(
                    "twilio {}: no frames for {} s; ending call",
                    act.label(),
                    idle.as_secs()
                );
                act.hang_up(EndReason::CarrierTimeout);
                act.close(ctx, ws::CloseCode::Away, "idle timeout");
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        // Still started here means the connection went away under a live call
        // (no `stop`, no close frame): the same end as a reset, whichever layer
        // noticed it first.
        self.hang_up(EndReason::CarrierReset);
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for MediaStreamSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_rx = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => {
                self.bad_frame(ctx, "binary frame (Twilio sends JSON text)")
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                // Ends without a close frame are `carrier_reset` (TCP RST, EOF,
                // the connection dropped under the actor): which of those the
                // server sees first depends on timing, so they share one reason.
                self.hang_up(EndReason::CarrierClosed);
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("twilio {}: protocol error: {e}", self.label());
                // A socket reset is the carrier vanishing, not a malformed frame.
                let reason = match e {
                    ws::ProtocolError::Io(_) => EndReason::CarrierReset,
                    _ => EndReason::CarrierProtocolError,
                };
                self.hang_up(reason);
                let code = match e {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                self.close(ctx, code, &e.to_string());
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // EOF without a close frame (after one, the call is already hung up).
        self.hang_up(EndReason::CarrierReset);
        ctx.stop();
    }
}

impl Handler<CarrierCommand> for MediaStreamSession {
    type Result = ();

    fn handle(&mut self, cmd: CarrierCommand, ctx: &mut Self::Context) {
        let stream_sid = match &self.state {
            State::Started { stream_sid, .. } => stream_sid.as_str(),
            _ => {
                if let CarrierCommand::Close { code, reason } = cmd {
                    self.close(ctx, ws::CloseCode::from(code), &reason);
                }
                return;
            }
        };
        self.out.clear();
        match cmd {
            CarrierCommand::Media(payload) => {
                wire::media_json(stream_sid, &payload, &mut self.out);
                self.sent_audio += (payload.len() as u64) * 3 / 4;
            }
            CarrierCommand::Mark(name) => {
                wire::mark_json(stream_sid, &name, &mut self.out);
                self.marks_in_flight.push_back((name, self.sent_audio));
            }
            CarrierCommand::Clear => {
                wire::clear_json(stream_sid, &mut self.out);
                // Twilio drops unplayed audio on `clear` and echoes the pending marks.
                self.marks_in_flight.clear();
                self.acked_audio = self.sent_audio;
            }
            CarrierCommand::Close { code, reason } => {
                // The call ended on our side: it is already finalised.
                self.state = State::Ended;
                self.close(ctx, ws::CloseCode::from(code), &reason);
                return;
            }
            CarrierCommand::Transfer {
                number,
                screen_url,
                action_url,
                ring_secs,
            } => {
                self.transfer(&number, &screen_url, &action_url, ring_secs, ctx);
                return;
            }
            CarrierCommand::RecordVoicemail { call_id } => {
                self.record_voicemail(&call_id, ctx);
                return;
            }
        }
        if self.check_unacked(ctx) {
            ctx.text(self.out.as_str());
        }
    }
}

/// The REST update of a transfer came back; `true` when Twilio refused it (or
/// did not answer): the stream stays the call's, and its end is the caller's
/// again.
#[derive(Message)]
#[rtype(result = "()")]
struct TransferRefusedByTwilio(bool);

impl Handler<TransferRefusedByTwilio> for MediaStreamSession {
    type Result = ();

    fn handle(
        &mut self,
        TransferRefusedByTwilio(refused): TransferRefusedByTwilio,
        _: &mut Self::Context,
    ) {
        if refused {
            self.transferring = false;
        }
    }
}

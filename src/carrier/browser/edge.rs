//! The browser softphone WebSocket (`GET /browser`, after the token and origin
//! checks in `http::browser`): binary PCM16 mono 24 kHz frames go to the call's
//! `CallActor` (base64 at the model boundary, `audio/pcm` 24 kHz session) and
//! assistant audio comes back the same way; `mark`/`clear` work as on Twilio so
//! barge-in knows what the caller heard. The call's live events (transcripts, tool
//! calls) are forwarded as JSON text frames.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws;
use base64::Engine;
use tokio::sync::broadcast::error::RecvError;

use crate::actor_messages::{
    AudioFrame, CarrierCommand, CarrierHangup, DtmfReceived, MarkEchoed, TransferError,
    TransferOutcome, VoicemailHandedOff,
};
use crate::audio::format::AudioFormat;
use crate::call_tree::call::prewarm::AttachEdge;
use crate::call_tree::call::{CallActor, CallSetup};
use crate::call_tree::supervisor::{claim_prewarmed, ClaimPrewarm, StartCall};
use crate::carrier::browser::token::BrowserSession;
use crate::carrier::browser::wire::{self, Control, ServerMessage, WireError, MAX_AUDIO_BYTES};
use crate::carrier::env::CarrierEnv;
use crate::events::CallEvent;
use crate::lifecycle::{Carrier, EndReason};
use crate::tenant::TenantConfig;

/// Invalid control messages tolerated before the socket is closed (1008).
const MAX_BAD_FRAMES: u32 = 20;
/// How often the idle timeout is checked.
const IDLE_CHECK: Duration = Duration::from_secs(1);

#[derive(Message)]
#[rtype(result = "()")]
struct Forward(CallEvent);

/// One browser softphone call.
pub struct BrowserSocket {
    env: Arc<CarrierEnv>,
    session: BrowserSession,
    tenant: Arc<TenantConfig>,
    call: Option<Addr<CallActor>>,
    last_rx: Instant,
    bad_frames: u32,
    scratch: Vec<u8>,
}

impl BrowserSocket {
    /// A socket for a redeemed session, routed to `tenant`.
    pub fn new(env: Arc<CarrierEnv>, session: BrowserSession, tenant: Arc<TenantConfig>) -> Self {
        BrowserSocket {
            env,
            session,
            tenant,
            call: None,
            last_rx: Instant::now(),
            bad_frames: 0,
            scratch: Vec::with_capacity(MAX_AUDIO_BYTES),
        }
    }

    fn hang_up(&mut self, reason: EndReason) {
        if let Some(call) = self.call.take() {
            call.do_send(CarrierHangup { reason });
        }
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match wire::parse_control(text) {
            Ok(Control::Mark { name }) => {
                if let Some(call) = &self.call {
                    call.do_send(MarkEchoed { name });
                }
            }
            Ok(Control::Dtmf { digit }) => {
                if let Some(call) = &self.call {
                    call.do_send(DtmfReceived {
                        digit: digit.to_string(),
                    });
                }
            }
            Ok(Control::Hangup) => {
                self.hang_up(EndReason::CallerHangup);
                self.close(ctx, ws::CloseCode::Normal, "hung up");
            }
            Err(WireError::TooLarge) => {
                self.hang_up(EndReason::CarrierProtocolError);
                self.close(ctx, ws::CloseCode::Size, "control message over 10 KB");
            }
            Err(e) => {
                self.bad_frames += 1;
                let detail = e.to_string();
                ctx.text(wire::to_json(&ServerMessage::Error { message: &detail }));
                if self.bad_frames > MAX_BAD_FRAMES {
                    self.hang_up(EndReason::CarrierProtocolError);
                    self.close(ctx, ws::CloseCode::Policy, "too many invalid messages");
                }
            }
        }
    }

    fn on_audio(&mut self, bytes: &[u8], ctx: &mut ws::WebsocketContext<Self>) {
        if bytes.len() > MAX_AUDIO_BYTES {
            self.hang_up(EndReason::CarrierProtocolError);
            self.close(ctx, ws::CloseCode::Size, "audio frame over 100 KB");
            return;
        }
        if !bytes.len().is_multiple_of(2) {
            self.bad_frames += 1;
            ctx.text(wire::to_json(&ServerMessage::Error {
                message: "audio frames are PCM16: an even number of bytes",
            }));
            return;
        }
        if let Some(call) = &self.call {
            call.do_send(AudioFrame {
                payload: base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            });
        }
    }
}

/// The call of browser session `session_id` to `tenant`; `edge` is `None` when
/// it is pre-warmed at `POST /api/sessions`.
pub fn browser_call_setup(
    session_id: &str,
    tenant: Arc<TenantConfig>,
    edge: Option<Recipient<CarrierCommand>>,
) -> CallSetup {
    CallSetup {
        call_id: uuid::Uuid::new_v4().to_string(),
        carrier: Carrier::Browser,
        call_sid: Some(session_id.to_string()),
        stream_sid: None,
        from: Some("browser".into()),
        to: None,
        tenant,
        format: AudioFormat::Pcm24k,
        edge,
    }
}

impl Actor for BrowserSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let setup = browser_call_setup(
            &self.session.session_id,
            self.tenant.clone(),
            Some(ctx.address().recipient()),
        );
        match self.session.prewarm.clone() {
            None => {
                let (start_call, call) = StartCall::<CallActor>::new(setup.call_id.clone(), setup);
                self.env.supervisor.do_send(start_call);
                self.call = Some(call);
            }
            Some(token) => {
                // The session's pre-warmed call if it is still waiting; else a new
                // one. Audio waits (unread) for the answer.
                let claim = ClaimPrewarm {
                    token,
                    call_sid: self.session.session_id.clone(),
                };
                let attach = AttachEdge {
                    edge: ctx.address().recipient(),
                    stream_sid: None,
                };
                let claimed = claim_prewarmed(self.env.supervisor.clone(), claim, attach);
                ctx.wait(claimed.into_actor(self).map(move |claimed, act, _| {
                    act.call = Some(claimed.unwrap_or_else(|| {
                        let (start_call, call) =
                            StartCall::<CallActor>::new(setup.call_id.clone(), setup);
                        act.env.supervisor.do_send(start_call);
                        call
                    }));
                }));
            }
        }
        let rx = self.env.events.subscribe();
        let events = futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(heard) => return Some((Forward(heard.event), rx)),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        ctx.add_message_stream(events);
        let idle = Duration::from_secs(self.env.config.calls.carrier_idle_timeout_secs);
        ctx.run_interval(IDLE_CHECK, move |act, ctx| {
            if act.last_rx.elapsed() > idle {
                act.hang_up(EndReason::CarrierTimeout);
                act.close(ctx, ws::CloseCode::Away, "idle timeout");
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.hang_up(EndReason::CarrierClosed);
        Running::Stop
    }
}

impl Handler<Forward> for BrowserSocket {
    type Result = ();

    fn handle(&mut self, Forward(event): Forward, ctx: &mut Self::Context) {
        if event.call_sid() != Some(self.session.session_id.as_str()) {
            return;
        }
        if let Ok(text) = serde_json::to_string(&event) {
            ctx.text(text);
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for BrowserSocket {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_rx = Instant::now();
        match msg {
            Ok(ws::Message::Binary(bytes)) => self.on_audio(&bytes, ctx),
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                self.hang_up(EndReason::CallerHangup);
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                self.hang_up(EndReason::CarrierProtocolError);
                let code = match e {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                self.close(ctx, code, &e.to_string());
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.hang_up(EndReason::CarrierClosed);
        ctx.stop();
    }
}

impl Handler<CarrierCommand> for BrowserSocket {
    type Result = ();

    fn handle(&mut self, cmd: CarrierCommand, ctx: &mut Self::Context) {
        match cmd {
            CarrierCommand::Media(payload) => {
                self.scratch.clear();
                self.scratch.resize(payload.len() * 3 / 4 + 3, 0);
                match base64::engine::general_purpose::STANDARD
                    .decode_slice(payload.as_bytes(), &mut self.scratch)
                {
                    Ok(n) => ctx.binary(bytes::Bytes::copy_from_slice(&self.scratch[..n])),
                    Err(e) => {
                        log::warn!("browser {}: bad model audio: {e}", self.session.session_id)
                    }
                }
            }
            CarrierCommand::Mark(name) => {
                ctx.text(wire::to_json(&ServerMessage::Mark { name: &name }))
            }
            CarrierCommand::Clear => ctx.text(wire::to_json(&ServerMessage::Clear)),
            CarrierCommand::Close { code, reason } => {
                // The call ended on our side and is already finalised.
                self.call = None;
                self.close(ctx, ws::CloseCode::from(code), &reason);
            }
            CarrierCommand::Transfer { .. } => {
                if let Some(call) = &self.call {
                    call.do_send(TransferOutcome(Err(TransferError::Impossible(
                        "a browser call has no phone line to transfer".into(),
                    ))));
                }
            }
            CarrierCommand::RecordVoicemail { .. } => {
                if let Some(call) = &self.call {
                    call.do_send(VoicemailHandedOff(Err(
                        "a browser call has no carrier to record it".into(),
                    )));
                }
            }
        }
    }
}

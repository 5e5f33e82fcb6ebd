//! `SipCall`: one call OpenAI answers over SIP. OpenAI carries the audio and
//! runs the model; this actor holds what switchboard owns — the call's
//! lifecycle (a [`CallLedger`]: admission, the row, transcripts, tool runs,
//! events), its `ToolActor`, and the sideband WebSocket it steers the call
//! over. Admitted, it accepts the call with the tenant's session (refused,
//! it rejects it with a SIP status), attaches the sideband, asks for the
//! greeting, stores what is said, runs tool calls once each and answers
//! them, presses the keypad logic on DTMF, and carries out hang-ups and
//! transfers with `/hangup` and `/refer` once the goodbye has been spoken. A
//! sideband that drops is re-attached with backoff while OpenAI still
//! carries the call; a re-attach answered 404 means the call is over.

use std::time::{Duration, Instant};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use actix_http::ws::{Frame, Message, ProtocolError};
use bytestring::ByteString;
use chrono::Utc;
use futures_util::stream::{SplitSink, StreamExt};
use std::sync::Arc;

use crate::actor_messages::{CallAction, EndCall, OperatorTransfer, ToolCall, ToolResult};
use crate::audio::format::AudioFormat;
use crate::call_tree::call::env::{CallEnv, CallTenancy, SupervisedCall, Supervision};
use crate::call_tree::call::ledger::{CallIdentity, CallLedger};
use crate::call_tree::link::socket::{self, ModelSocket, SocketError};
use crate::call_tree::tool::ToolActor;
use crate::lifecycle::{AdmitAnswer, Carrier, EndReason, Refusal, Refused};
use crate::model::api::ModelApi;
use crate::model::command::LinkCommand;
use crate::model::event::ModelEvent;
use crate::model::live;
use crate::model::live_tracker::{LiveTracker, TURN_GAP};
use crate::model::provider::Provider;
use crate::model::realtime;
use crate::model::session::{Role, SessionSpec};
use crate::model::tracker::ResponseTracker;
use crate::rest::openai_calls::{OpenAiCallError, OpenAiCalls, Surface};
use crate::session_settings::{ApplySessionSettings, SessionSettings};
use crate::tenant::keypad::{caller_event_text, KeypadAction, KeypadKey};
use crate::tenant::TenantConfig;

use super::accept;

/// SIP status for a call turned away at capacity (RFC 3261 §21.4.24).
pub const SIP_BUSY: u16 = 486;

/// SIP status for a number no tenant owns (RFC 3261 §21.4.5).
pub const SIP_NOT_FOUND: u16 = 404;

/// SIP status when the tenant cannot take calls now (RFC 3261 §21.4.18).
pub const SIP_UNAVAILABLE: u16 = 480;

/// Largest sideband frame accepted, bytes.
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// A GPT-Live turn check runs this long after the turn could have ended.
const TICK_SLACK: Duration = Duration::from_millis(20);

/// Audio the sideband may reflect, ignored unparsed.
const AUDIO_EVENTS: &[&str] = &[
    "session.output_audio.delta",
    "session.input_audio.append",
    "response.output_audio.delta",
];

/// First re-attach delay; doubles per attempt up to [`REATTACH_MAX`].
const REATTACH_FIRST: Duration = Duration::from_millis(200);

/// Longest re-attach delay.
const REATTACH_MAX: Duration = Duration::from_secs(5);

type SidebandSink = SplitSink<ModelSocket, Message>;

/// Everything an OpenAI SIP call needs to start.
pub struct SipCallSetup {
    /// switchboard's call id (UUID v4).
    pub call_id: String,
    pub surface: Surface,
    /// OpenAI's id of the pending call: `session_id` (Live) or `call_id` (Realtime).
    pub openai_id: String,
    /// The caller (SIP `From`).
    pub from: Option<String>,
    /// The number dialled (SIP `To`).
    pub to: Option<String>,
    pub tenant: Arc<TenantConfig>,
    /// OpenAI's call controls with the tenant's key.
    pub controls: OpenAiCalls,
}

/// How the sideband's server events are read.
enum Tracker {
    Live(LiveTracker),
    Realtime(ResponseTracker),
}

/// A hang-up or transfer waiting for the goodbye to be spoken.
struct Pending {
    action: CallAction,
    /// Realtime: the response speaking the goodbye is done; the call goes
    /// once its audio has played (`output_audio_buffer.stopped`).
    response_done: bool,
}

/// One OpenAI SIP call.
pub struct SipCall {
    setup: SipCallSetup,
    env: Arc<CallEnv>,
    ledger: CallLedger,
    admission: Option<AdmitAnswer>,
    tools: Option<Addr<ToolActor>>,
    settings: SessionSettings,
    tracker: Tracker,
    sink: Option<SinkWrite<Message, SidebandSink>>,
    /// Bumped per attach: a closed socket's late events are ignored.
    attach: u32,
    /// Re-attaches tried since the sideband was last up.
    reattempts: u32,
    /// The greeting was asked for (on the first attach only).
    greeted: bool,
    /// Final transcript lines so far, for tools that reason over the conversation.
    conversation: Vec<(Role, String)>,
    pending: Option<Pending>,
    /// Why the call will end once OpenAI says it has (after `/refer`, `/hangup`).
    action_reason: Option<EndReason>,
    /// A hang-up or transfer has been sent: the sideband's end is expected.
    leaving: bool,
    /// When the sideband last said something (GPT-Live turn checks).
    last_event: Instant,
    /// A turn check is scheduled.
    tick_due: bool,
}

impl SipCall {
    fn new(setup: SipCallSetup, supervision: Supervision) -> Self {
        let Supervision {
            env,
            admission,
            finished,
            ..
        } = supervision;
        let settings = env.session_overrides.get(&setup.tenant.id);
        let ledger = CallLedger::new(
            CallIdentity {
                call_id: setup.call_id.clone(),
                carrier: Carrier::OpenAiSip,
                call_sid: Some(setup.openai_id.clone()),
                stream_sid: None,
                from: setup.from.clone(),
                to: setup.to.clone(),
                tenant: setup.tenant.clone(),
                model_provider: format!("openai-{}", setup.surface.as_str()),
            },
            &env,
            Some(finished),
        );
        let tracker = match setup.surface {
            Surface::Live => Tracker::Live(LiveTracker::new(0, AudioFormat::Pcmu)),
            Surface::Realtime => Tracker::Realtime(ResponseTracker::new()),
        };
        SipCall {
            setup,
            env,
            ledger,
            admission: Some(admission),
            tools: None,
            settings,
            tracker,
            sink: None,
            attach: 0,
            reattempts: 0,
            greeted: false,
            conversation: Vec::new(),
            pending: None,
            action_reason: None,
            leaving: false,
            last_event: Instant::now(),
            tick_due: false,
        }
    }

    fn label(&self) -> String {
        format!(
            "openai-sip call {} ({})",
            self.setup.call_id, self.setup.openai_id
        )
    }

    /// The tenant's session for this call (operator edits applied).
    fn session_spec(&self) -> SessionSpec {
        let model = &self.env.config.model;
        let tenant = self.settings.apply(&self.setup.tenant);
        let api = match self.setup.surface {
            Surface::Live => ModelApi::Live,
            Surface::Realtime => ModelApi::Realtime,
        };
        let mut spec = SessionSpec::for_call(
            Provider::OpenAi,
            api,
            model,
            tenant.instructions(self.setup.from.as_deref(), Utc::now()),
            tenant
                .voice
                .clone()
                .unwrap_or_else(|| model.voice_for(Provider::OpenAi)),
            self.env.tools.registry.schemas_for(&tenant),
            AudioFormat::Pcmu,
        );
        spec.turn_detection.eagerness = self.settings.eagerness;
        spec
    }

    fn accept_body(&self) -> Result<serde_json::Value, accept::AcceptError> {
        let spec = self.session_spec();
        match self.setup.surface {
            Surface::Live => accept::live_body(&spec, &self.env.config.model.live.backend_model),
            Surface::Realtime => accept::realtime_body(&spec),
        }
    }

    /// Admitted: accept the call with the tenant's session; once OpenAI has
    /// taken it, the row, the tools and the sideband.
    fn on_admitted(&mut self, ctx: &mut Context<Self>) {
        let body = match self.accept_body() {
            Ok(body) => body,
            Err(e) => {
                log::error!("{}: no session to accept with: {e}", self.label());
                self.reject(SIP_UNAVAILABLE);
                self.finish(EndReason::ModelUnavailable(e.to_string()), ctx);
                return;
            }
        };
        let controls = self.setup.controls.clone();
        let (surface, id) = (self.setup.surface, self.setup.openai_id.clone());
        let accepting = async move { controls.accept(surface, &id, &body).await };
        ctx.wait(accepting.into_actor(self).map(|res, act, ctx| match res {
            Ok(()) => {
                act.ledger.start();
                act.tools = Some(ToolActor::start_for(
                    &act.ledger,
                    act.env.tools.clone(),
                    ctx.address().recipient(),
                ));
                log::info!(
                    "{} accepted for tenant {} ({})",
                    act.label(),
                    act.setup.tenant.id,
                    act.setup.surface.as_str()
                );
                act.attach(ctx);
            }
            Err(e) if e.decision_already_made() => {
                // Answered on the other surface or by another node: not ours.
                log::info!("{}: already answered elsewhere ({e})", act.label());
                act.finish(EndReason::CallActorStopped, ctx);
            }
            Err(e) => {
                log::error!("{}: accept failed: {e}", act.label());
                act.ledger.start();
                act.finish(EndReason::ModelUnavailable(format!("accept: {e}")), ctx);
            }
        }));
    }

    /// Turned away by the Supervisor: a `refused` row and a SIP rejection
    /// (486 at capacity, 480 otherwise).
    fn on_refused(&mut self, refused: Refused, ctx: &mut Context<Self>) {
        let status = if matches!(refused.refusal, Refusal::Capacity | Refusal::TenantCapacity) {
            SIP_BUSY
        } else {
            SIP_UNAVAILABLE
        };
        self.ledger.refuse(&refused);
        self.reject(status);
        ctx.stop();
    }

    fn reject(&self, status: u16) {
        let controls = self.setup.controls.clone();
        let (surface, id, label) = (
            self.setup.surface,
            self.setup.openai_id.clone(),
            self.label(),
        );
        actix_rt::spawn(async move {
            if let Err(e) = controls.reject(surface, &id, status).await {
                log_control_error(&label, "reject", &e);
            }
        });
    }

    /// Opens the sideband (again); the first time, asks for the greeting.
    fn attach(&mut self, ctx: &mut Context<Self>) {
        self.attach += 1;
        let attach = self.attach;
        let url = self
            .setup
            .controls
            .sideband_url(self.setup.surface, &self.setup.openai_id);
        let key = self.setup.controls.api_key().to_string();
        let tls = self.env.tls.clone();
        let timeout = Duration::from_secs(self.env.config.model.connect_timeout_secs);
        let open = async move {
            socket::open(&url, Some(&key), tls.as_ref(), MAX_FRAME_BYTES, timeout).await
        };
        ctx.spawn(open.into_actor(self).map(move |res, act, ctx| {
            if act.attach != attach || act.ledger.is_finished() {
                return;
            }
            match res {
                Ok(socket) => {
                    let (sink, stream) = socket.split();
                    act.sink = Some(SinkWrite::new(sink, ctx));
                    let attach = act.attach;
                    ctx.add_stream(stream.map(move |frame| (attach, frame)));
                    act.reattempts = 0;
                    log::info!("{}: sideband attached", act.label());
                    if !act.greeted {
                        act.greeted = true;
                        act.command(LinkCommand::CreateResponse, ctx);
                    }
                }
                Err(SocketError::Status(status)) if status.as_u16() == 404 => {
                    // The call is over at OpenAI.
                    let reason = act.action_reason.clone().unwrap_or(EndReason::CallerHangup);
                    act.finish(reason, ctx);
                }
                Err(e) => {
                    log::warn!("{}: sideband attach failed: {e}", act.label());
                    act.sideband_lost(ctx);
                }
            }
        }));
    }

    /// The sideband is gone: re-attach with backoff, or give the call up.
    fn sideband_lost(&mut self, ctx: &mut Context<Self>) {
        self.sink = None;
        if self.ledger.is_finished() {
            return;
        }
        if self.leaving {
            let reason = self
                .action_reason
                .clone()
                .unwrap_or(EndReason::CallerHangup);
            self.finish(reason, ctx);
            return;
        }
        let attempts = self.env.config.openai.sideband_reattach_attempts;
        if self.reattempts >= attempts {
            log::error!(
                "{}: sideband lost after {attempts} re-attaches; hanging up",
                self.label()
            );
            self.hang_up_now();
            self.finish(EndReason::CarrierReset, ctx);
            return;
        }
        let delay = REATTACH_FIRST
            .saturating_mul(1 << self.reattempts.min(5))
            .min(REATTACH_MAX);
        self.reattempts += 1;
        ctx.run_later(delay, |act, ctx| {
            if !act.ledger.is_finished() {
                act.attach(ctx);
            }
        });
    }

    fn send_text(&mut self, text: String) {
        if let Some(sink) = &mut self.sink {
            if sink.write(Message::Text(ByteString::from(text))).is_err() {
                log::warn!("{}: sideband write failed", self.setup.call_id);
            }
        }
    }

    /// A call's command as sideband client events.
    fn command(&mut self, cmd: LinkCommand, ctx: &mut Context<Self>) {
        let mut out = Vec::new();
        let texts: Vec<String> = match &mut self.tracker {
            Tracker::Live(tracker) => tracker
                .on_command(&cmd, Instant::now(), &mut out)
                .iter()
                .filter_map(|e| serde_json::to_string(e).ok())
                .collect(),
            Tracker::Realtime(_) => cmd
                .realtime_events()
                .iter()
                .filter_map(|e| e.to_json().ok())
                .collect(),
        };
        for text in texts {
            self.send_text(text);
        }
        self.on_model_events(out, ctx);
    }

    /// GPT-Live: a turn ends [`TURN_GAP`] after its last fragment, so the
    /// turns are checked once the sideband has been quiet that long — one
    /// wake-up per pause, none on a quiet call.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.tick_due = false;
        let quiet = self.last_event.elapsed();
        if quiet < TURN_GAP {
            self.tick_due = true;
            ctx.run_later(TURN_GAP - quiet + TICK_SLACK, |act, ctx| act.tick(ctx));
            return;
        }
        let mut out = Vec::new();
        if let Tracker::Live(tracker) = &mut self.tracker {
            tracker.tick(Instant::now(), &mut out);
        }
        self.on_model_events(out, ctx);
    }

    fn schedule_tick(&mut self, ctx: &mut Context<Self>) {
        if self.tick_due || !matches!(self.tracker, Tracker::Live(_)) {
            return;
        }
        self.tick_due = true;
        ctx.run_later(TURN_GAP + TICK_SLACK, |act, ctx| act.tick(ctx));
    }

    /// One sideband text frame.
    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let kind = realtime::event_type(text).unwrap_or_default();
        if AUDIO_EVENTS.contains(&kind.as_str()) {
            // Reflected audio: the call's audio is OpenAI's to play.
            return;
        }
        self.last_event = Instant::now();
        self.schedule_tick(ctx);
        match kind.as_str() {
            // GPT-Live SIP and Realtime SIP report key presses under these names.
            "transport.dtmf.received" | "input_audio_buffer.dtmf_event_received" => {
                let digit = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v["event"].as_str().map(str::to_string))
                    .unwrap_or_default();
                self.dtmf(&digit, ctx);
                return;
            }
            "output_audio_buffer.stopped" => {
                if self.pending.as_ref().is_some_and(|p| p.response_done) {
                    self.carry_out(ctx);
                }
                return;
            }
            _ => {}
        }
        let mut out = Vec::new();
        let mut closed = None;
        match &mut self.tracker {
            Tracker::Live(tracker) => match live::parse_server_event(text) {
                Ok(event) => closed = tracker.on_event(event, Instant::now(), &mut out),
                Err(e) => log::warn!("{}: sideband event not read: {e}", self.setup.call_id),
            },
            Tracker::Realtime(tracker) => match realtime::parse_server_event(text) {
                Ok(event) => tracker.on_event(event, &mut out),
                Err(e) => log::warn!("{}: sideband event not read: {e}", self.setup.call_id),
            },
        }
        self.on_model_events(out, ctx);
        if let Some(end) = closed {
            log::info!("{}: session closed ({})", self.label(), end.reason);
            let reason = self
                .action_reason
                .clone()
                .unwrap_or(EndReason::CallerHangup);
            self.finish(reason, ctx);
        }
    }

    fn on_model_events(&mut self, events: Vec<ModelEvent>, ctx: &mut Context<Self>) {
        for event in events {
            match event {
                ModelEvent::UserTranscript { item_id, text } => {
                    self.record_line(Role::User, text, item_id)
                }
                ModelEvent::AssistantTranscript { item_id, text } => {
                    self.record_line(Role::Assistant, text, Some(item_id))
                }
                ModelEvent::ToolCallRequested {
                    call_id,
                    name,
                    arguments,
                } => self.on_tool_call(call_id, name, arguments),
                ModelEvent::ResponseDone { .. } => {
                    if let Some(pending) = &mut self.pending {
                        pending.response_done = true;
                        if matches!(self.tracker, Tracker::Live(_)) {
                            // GPT-Live reports a reply done once it has been spoken.
                            self.carry_out(ctx);
                        }
                    }
                }
                ModelEvent::Error { code, message } => {
                    log::warn!("{}: model error {code}: {message}", self.label())
                }
                ModelEvent::Ready { .. }
                | ModelEvent::Audio { .. }
                | ModelEvent::QuietAudio { .. }
                | ModelEvent::SpeechStarted { .. }
                | ModelEvent::SpeechStopped { .. }
                | ModelEvent::ResponseStarted => {}
            }
        }
    }

    fn record_line(&mut self, role: Role, text: String, item_id: Option<String>) {
        if text.trim().is_empty() {
            return;
        }
        self.conversation.push((role, text.clone()));
        self.ledger.record_line(role, text, item_id, false);
    }

    fn on_tool_call(&mut self, call_id: String, name: String, arguments: String) {
        match &self.tools {
            Some(tools) => tools.do_send(ToolCall {
                call_id,
                name,
                arguments,
                conversation: self.conversation.clone(),
            }),
            None => log::warn!(
                "{}: tool call {call_id} before the call was accepted",
                self.label()
            ),
        }
    }

    /// A key the caller pressed.
    fn dtmf(&mut self, digit: &str, ctx: &mut Context<Self>) {
        let Ok(key) = digit.parse::<KeypadKey>() else {
            log::info!("{}: DTMF {digit:?} ignored", self.label());
            return;
        };
        let action = self.setup.tenant.keypad.get(&key).copied();
        log::info!("{}: caller pressed {key}", self.label());
        if action == Some(KeypadAction::Transfer) {
            match self.plan_transfer(format!("caller pressed {key} on the keypad")) {
                Ok(action) => {
                    self.pending = Some(Pending {
                        action,
                        response_done: true,
                    });
                    self.carry_out(ctx);
                    return;
                }
                Err(e) => log::warn!("{}: key {key} cannot transfer ({e})", self.label()),
            }
        }
        self.command(
            LinkCommand::CallerEvent {
                text: caller_event_text(key, action),
                respond: true,
            },
            ctx,
        );
    }

    fn plan_transfer(&self, reason: String) -> Result<CallAction, String> {
        crate::tools::builtin::plan_transfer(&self.env.tools, &self.ledger.tool_context(), reason)
            .map(CallAction::from)
            .map_err(|e| e.to_string())
    }

    /// Sends the pending action: `/hangup`, or `/refer` to the on-call number.
    fn carry_out(&mut self, ctx: &mut Context<Self>) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        self.leaving = true;
        let controls = self.setup.controls.clone();
        let (surface, id) = (self.setup.surface, self.setup.openai_id.clone());
        match pending.action {
            CallAction::HangUp { reason } => {
                self.action_reason = Some(EndReason::AssistantHangup(reason));
                let hangup = async move { controls.hangup(surface, &id).await };
                ctx.spawn(hangup.into_actor(self).map(|res, act, ctx| {
                    if let Err(e) = &res {
                        log_control_error(&act.label(), "hangup", e);
                    }
                    let reason = act.action_reason.clone().unwrap_or(EndReason::CallerHangup);
                    act.finish(reason, ctx);
                }));
            }
            CallAction::Transfer { number, reason, .. } => {
                let target = format!("tel:{number}");
                let refer = async move { controls.refer(surface, &id, &target).await };
                ctx.spawn(refer.into_actor(self).map(move |res, act, ctx| match res {
                    Ok(()) => {
                        log::info!("{}: transferred to {number}", act.label());
                        act.finish(
                            EndReason::Transferred {
                                number: Some(number),
                                reason,
                            },
                            ctx,
                        );
                    }
                    Err(e) => {
                        log_control_error(&act.label(), "refer", &e);
                        act.leaving = false;
                        act.command(
                            LinkCommand::CallerEvent {
                                text: "The transfer to the on-call person failed. Apologise \
                                       and offer to take a message."
                                    .into(),
                                respond: true,
                            },
                            ctx,
                        );
                    }
                }));
            }
        }
    }

    /// Ends the call at OpenAI at once, without waiting (giving up on it).
    fn hang_up_now(&self) {
        let controls = self.setup.controls.clone();
        let (surface, id, label) = (
            self.setup.surface,
            self.setup.openai_id.clone(),
            self.label(),
        );
        actix_rt::spawn(async move {
            if let Err(e) = controls.hangup(surface, &id).await {
                log_control_error(&label, "hangup", &e);
            }
        });
    }

    /// Finalises the call once (row, slot, events) and stops.
    fn finish(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
        if self.ledger.finish(&reason, None) {
            self.sink = None;
            ctx.stop();
        }
    }
}

/// Logs a failed call control; a decision made elsewhere or a call already
/// gone is expected and quieter.
fn log_control_error(label: &str, what: &str, e: &OpenAiCallError) {
    if e.decision_already_made() || e.gone() {
        log::info!("{label}: {what}: {e}");
    } else {
        log::warn!("{label}: {what} failed: {e}");
    }
}

impl Actor for SipCall {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(answer) = self.admission.take() else {
            return;
        };
        match self.ledger.admission(answer) {
            Ok(()) => self.on_admitted(ctx),
            Err(refused) => self.on_refused(refused, ctx),
        }
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if !self.ledger.is_finished() {
            self.finish(EndReason::CallActorStopped, ctx);
        }
        Running::Stop
    }
}

impl StreamHandler<(u32, Result<Frame, ProtocolError>)> for SipCall {
    fn handle(
        &mut self,
        (attach, item): (u32, Result<Frame, ProtocolError>),
        ctx: &mut Context<Self>,
    ) {
        if attach != self.attach {
            return;
        }
        match item {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => log::warn!("{}: sideband sent non-UTF-8 text", self.setup.call_id),
            },
            Ok(Frame::Ping(payload)) => {
                if let Some(sink) = &mut self.sink {
                    let _ = sink.write(Message::Pong(payload));
                }
            }
            Ok(Frame::Close(reason)) => {
                log::info!("{}: sideband closed: {reason:?}", self.label());
                self.sideband_lost(ctx);
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("{}: sideband error: {e}", self.label());
                self.sideband_lost(ctx);
            }
        }
    }

    /// A stream that ends without a close frame or error: still lost.
    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.sink.is_some() {
            self.sideband_lost(ctx);
        }
    }
}

impl WriteHandler<ProtocolError> for SipCall {
    fn error(&mut self, err: ProtocolError, _: &mut Self::Context) -> Running {
        log::warn!("{}: sideband write error: {err}", self.setup.call_id);
        Running::Continue
    }
}

impl Handler<ToolResult> for SipCall {
    type Result = ();

    fn handle(&mut self, result: ToolResult, ctx: &mut Context<Self>) {
        self.ledger.tool_ran(&self.env.tools, &result);
        self.command(
            LinkCommand::ToolOutput {
                call_id: result.call_id.clone(),
                output: result.output.clone(),
            },
            ctx,
        );
        self.command(LinkCommand::CreateResponse, ctx);
        let Some(action) = result.action else {
            return;
        };
        self.pending = Some(Pending {
            action,
            response_done: false,
        });
        let wait = Duration::from_millis(self.env.config.openai.farewell_max_ms);
        ctx.run_later(wait, |act, ctx| {
            if act.pending.is_some() {
                log::info!(
                    "{}: goodbye not confirmed in time; carrying on",
                    act.label()
                );
                act.carry_out(ctx);
            }
        });
    }
}

impl Handler<OperatorTransfer> for SipCall {
    type Result = Result<(), String>;

    /// An operator's transfer: `/refer` at once.
    fn handle(&mut self, msg: OperatorTransfer, ctx: &mut Context<Self>) -> Self::Result {
        if self.ledger.is_finished() || self.leaving || !self.ledger.is_admitted() {
            return Err("the call is already ending".into());
        }
        let action = self.plan_transfer(msg.reason)?;
        self.pending = Some(Pending {
            action,
            response_done: true,
        });
        self.carry_out(ctx);
        Ok(())
    }
}

impl Handler<EndCall> for SipCall {
    type Result = ();

    fn handle(&mut self, msg: EndCall, ctx: &mut Context<Self>) {
        if self.ledger.is_admitted() && !self.leaving {
            self.leaving = true;
            self.hang_up_now();
        }
        self.finish(msg.reason, ctx);
    }
}

impl Handler<ApplySessionSettings> for SipCall {
    type Result = ();

    fn handle(&mut self, msg: ApplySessionSettings, _: &mut Context<Self>) {
        self.settings.merge(&msg.0);
        match self.setup.surface {
            // The accept's session again: formats stay as SIP negotiated them.
            Surface::Realtime => match accept::realtime_body(&self.session_spec()) {
                Ok(session) => self.send_text(
                    serde_json::json!({"type": "session.update", "session": session}).to_string(),
                ),
                Err(e) => log::warn!("{}: session edit not sent: {e}", self.label()),
            },
            Surface::Live => log::info!(
                "{}: GPT-Live fixes prompt and voice at accept; the edit applies to the \
                 tenant's next call",
                self.label()
            ),
        }
    }
}

impl SupervisedCall for SipCall {
    type Setup = SipCallSetup;

    fn supervised(setup: SipCallSetup, supervision: Supervision) -> Self {
        SipCall::new(setup, supervision)
    }

    fn tenancy(setup: &SipCallSetup) -> CallTenancy {
        CallTenancy {
            tenant: setup.tenant.id.clone(),
            carrier: Carrier::OpenAiSip,
            call_sid: Some(setup.openai_id.clone()),
        }
    }
}

//! `CallActor`: one per call, carrier-agnostic. It owns the call's state — who is
//! calling which tenant, the transcript, outbound playback and barge-in — and
//! moves typed messages between the carrier edge, the model link and the tool
//! actor. Audio goes edge → call → link and link → call → edge on one arbiter;
//! nothing on that path waits on the database, the Supervisor or a tool.

pub mod conversation;
pub mod playback;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use crate::app::Services;
use crate::audio::format::{base64_decoded_len, AudioFormat};
use crate::carrier::twilio::rest::TwilioRest;
use crate::events::CallEvent;
use crate::messages::{
    AudioFrame, CallAction, CarrierCommand, CarrierHangup, DtmfReceived, LinkCommand, LinkDown,
    MarkEchoed, ModelEvent, ToolCall, ToolResult,
};
use crate::model::link::{LinkCounters, LinkSetup, ModelLinkActor};
use crate::model::session::{HistoryItem, Provider, Role, SessionSpec};
use crate::session_settings::{ApplySessionSettings, SessionSettings};
use crate::store::calls::CallEnd;
use crate::store::models::CallStatus;
use crate::store::writer::{
    RecordCallEnded, RecordCallRefused, RecordCallStarted, RecordTranscript,
};
use crate::supervisor::{Admit, CallFinished, LinkFailed, RestartDecision};
use crate::tenant::TenantConfig;
use crate::tools::{ToolActor, ToolContext};
use conversation::{Conversation, UserLine};
use playback::{cut_to_heard, Playback, PushRefused};

/// Longest wait for goodbye or apology audio to play before the call is closed anyway.
const FAREWELL_GRACE: Duration = Duration::from_secs(10);
/// How often a call checks whether its model session is due for a roll-over.
const ROLLOVER_CHECK: Duration = Duration::from_secs(1);
/// A roll-over waits for a quiet moment at most this long past `session_max_secs`.
const ROLLOVER_GRACE: Duration = Duration::from_secs(120);

/// Everything a call needs to start; built by the carrier edge at stream start.
pub struct CallSetup {
    /// switchboard's call id (UUID v4).
    pub call_id: String,
    /// `twilio`, `jambonz` or `browser`.
    pub carrier: &'static str,
    /// Carrier call id (Twilio `CA…`).
    pub call_sid: Option<String>,
    /// Carrier stream id (Twilio `MZ…`).
    pub stream_sid: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub tenant: Arc<TenantConfig>,
    /// Audio codec on the carrier leg; the model session uses the same one.
    pub format: AudioFormat,
    /// Where outbound media, marks and clears go.
    pub edge: Recipient<CarrierCommand>,
}

/// Ends the call from outside (drain timeout, operator); `apologise` plays the
/// apology clip first.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct EndCall {
    pub reason: String,
    pub apologise: bool,
}

/// Where a caller line is stored, so a corrected transcript replaces it.
#[derive(Debug, Clone)]
struct StoredLine {
    row_id: String,
    seq: i32,
}

/// A transfer waiting for the hand-off line to play.
#[derive(Debug, Clone)]
struct PendingTransfer {
    number: String,
    /// Inline TwiML for the Calls resource `Twiml` field (`<Dial>` with a whisper).
    twiml: String,
    reason: String,
}

/// One live call.
pub struct CallActor {
    setup: CallSetup,
    services: Arc<Services>,
    started: Instant,
    link: Option<Addr<ModelLinkActor>>,
    /// When the current model session was opened (roll-over clock).
    link_opened: Instant,
    /// The caller is speaking (between the model's speech_started and speech_stopped).
    caller_speaking: bool,
    /// A caller turn ended and its response has not finished yet.
    turn_pending: bool,
    generation: u32,
    link_failures: u32,
    link_restarts: u32,
    tools: Option<Addr<ToolActor>>,
    playback: Playback,
    conversation: Conversation,
    /// Stored caller lines by user item id.
    user_rows: HashMap<String, StoredLine>,
    /// A response is in progress (`response.created` seen, `response.done` not yet).
    response_active: bool,
    /// The assistant item whose audio arrived last (its place in the conversation is held).
    speaking_item: Option<String>,
    /// Assistant transcripts received but not yet persisted (waiting for playback).
    pending_lines: Vec<(String, String)>,
    seq: i32,
    pending_tools: usize,
    awaiting_response_done: bool,
    tool_outputs_sent: bool,
    hangup: Option<String>,
    transfer: Option<PendingTransfer>,
    ending: Option<String>,
    admitted: bool,
    finished: bool,
    speech_stopped_at: Option<Instant>,
    turn_latencies_ms: Vec<u32>,
    drain_scheduled: bool,
    /// Operator session edits: the tenant's at call start, then this call's own.
    settings: SessionSettings,
}

impl CallActor {
    /// A call not yet admitted; admission happens in `started`.
    pub fn new(setup: CallSetup, services: Arc<Services>) -> Self {
        let calls = &services.config.calls;
        let playback = Playback::new(calls.playout_lead_ms, calls.max_queued_audio_ms);
        let settings = services.session_overrides.get(&setup.tenant.id);
        CallActor {
            setup,
            services,
            started: Instant::now(),
            link: None,
            link_opened: Instant::now(),
            caller_speaking: false,
            turn_pending: false,
            generation: 0,
            link_failures: 0,
            link_restarts: 0,
            tools: None,
            playback,
            conversation: Conversation::new(),
            user_rows: HashMap::new(),
            response_active: false,
            speaking_item: None,
            pending_lines: Vec::new(),
            seq: 0,
            pending_tools: 0,
            awaiting_response_done: false,
            tool_outputs_sent: false,
            hangup: None,
            transfer: None,
            ending: None,
            admitted: false,
            finished: false,
            speech_stopped_at: None,
            turn_latencies_ms: Vec::new(),
            drain_scheduled: false,
            settings,
        }
    }

    fn id(&self) -> &str {
        &self.setup.call_id
    }

    fn provider(&self) -> Provider {
        self.setup
            .tenant
            .provider
            .unwrap_or(self.services.config.model.provider)
    }

    fn session_spec(&self) -> SessionSpec {
        let model = &self.services.config.model;
        let tenant = self.settings.apply(&self.setup.tenant);
        let tools = self.services.tools.schemas_for(&tenant);
        let mut spec = SessionSpec::for_call(
            self.provider(),
            model,
            tenant.instructions(self.setup.from.as_deref(), Utc::now()),
            tenant
                .voice
                .clone()
                .unwrap_or_else(|| model.voice_for(self.provider())),
            tools,
            self.setup.format,
        );
        spec.turn_detection.eagerness = self.settings.eagerness;
        spec.keyterms = std::iter::once(tenant.name.clone())
            .chain(tenant.services.keys().cloned())
            .collect();
        spec
    }

    /// The conversation to replay into a new session: what is stored, plus
    /// answers still playing or cut short (as much as the caller heard, or will
    /// hear of audio already queued).
    fn replay_history(&self) -> Vec<HistoryItem> {
        let unfinished: Vec<(String, String)> = self
            .pending_lines
            .iter()
            .map(|(item_id, text)| {
                let text = if self.playback.was_interrupted(item_id) {
                    let (heard, total) = self.playback.progress(item_id).unwrap_or((0, 0));
                    cut_to_heard(text, heard, total)
                } else {
                    text.clone()
                };
                (item_id.clone(), text)
            })
            .collect();
        self.conversation.history(&unfinished)
    }

    fn start_link(&mut self, ctx: &mut Context<Self>) {
        let history = self.replay_history();
        let setup = LinkSetup {
            call_id: self.setup.call_id.clone(),
            generation: self.generation,
            url: self.services.model_url.clone(),
            api_key: self
                .services
                .config
                .model_key(self.provider())
                .map(str::to_string),
            session: self.session_spec(),
            history,
            call: ctx.address(),
            tls: self.services.tls.clone(),
            connect_timeout: Duration::from_secs(self.services.config.model.connect_timeout_secs),
            heartbeat: Duration::from_secs(self.services.config.model.heartbeat_secs),
            counters: LinkCounters {
                unknown: self.services.metrics.model_events_unknown.clone(),
                unparsable: self.services.metrics.model_events_unparsable.clone(),
            },
        };
        self.response_active = false;
        self.link = Some(ModelLinkActor::new(setup).start());
        self.link_opened = Instant::now();
    }

    /// Rolls the call over to a fresh model session before the provider's session
    /// cap, at a quiet moment (nothing playing, no response or tool pending), with
    /// the conversation replayed — the same mechanism as a restart, minus the failure.
    fn check_rollover(&mut self, ctx: &mut Context<Self>) {
        let max = Duration::from_secs(self.services.config.model.session_max_secs);
        let age = self.link_opened.elapsed();
        if self.link.is_none() || self.ending.is_some() || age < max {
            return;
        }
        let quiet = self.playback.is_idle()
            && !self.awaiting_response_done
            && self.pending_tools == 0
            && !self.caller_speaking
            && !self.turn_pending;
        if !quiet && age < max + ROLLOVER_GRACE {
            return;
        }
        if let Some(old) = self.link.take() {
            old.do_send(LinkCommand::Shutdown);
        }
        log::info!(
            "call {}: rolling over to a new model session after {} s",
            self.setup.call_id,
            age.as_secs()
        );
        self.generation += 1;
        self.caller_speaking = false;
        self.turn_pending = false;
        self.start_link(ctx);
    }

    fn send_carrier(&self, cmd: CarrierCommand) {
        self.setup.edge.do_send(cmd);
    }

    /// Sends every chunk the lead window allows, and schedules the next drain.
    fn drain_playback(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        loop {
            match self.playback.next_chunk(now) {
                Ok(Some(chunk)) => {
                    if let Some(stopped) = self.speech_stopped_at.take() {
                        let ms = now.duration_since(stopped).as_millis() as u32;
                        self.turn_latencies_ms.push(ms);
                        self.services
                            .metrics
                            .turn_latency
                            .observe(ms as f64 / 1000.0);
                    }
                    self.send_carrier(CarrierCommand::Media(chunk.payload));
                    self.send_carrier(CarrierCommand::Mark(chunk.mark));
                }
                Ok(None) => return,
                Err(wait) => {
                    if !self.drain_scheduled {
                        self.drain_scheduled = true;
                        ctx.run_later(wait.max(Duration::from_millis(5)), |act, ctx| {
                            act.drain_scheduled = false;
                            act.drain_playback(ctx);
                        });
                    }
                    return;
                }
            }
        }
    }

    /// Stores and publishes an assistant line and adds it to the conversation.
    fn record_line(
        &mut self,
        role: Role,
        text: String,
        item_id: Option<String>,
        interrupted: bool,
    ) {
        if text.trim().is_empty() {
            return;
        }
        self.conversation.assistant_said(item_id.as_deref(), &text);
        self.seq += 1;
        let row = StoredLine {
            row_id: uuid::Uuid::new_v4().to_string(),
            seq: self.seq,
        };
        self.store_line(&row, role, text, item_id, interrupted);
    }

    /// A caller transcript: a new line is stored in sequence; a corrected one
    /// (same item) replaces the stored text in place.
    fn record_user_line(&mut self, item_id: Option<String>, text: String) {
        if text.trim().is_empty() {
            return;
        }
        match self.conversation.user_said(item_id.as_deref(), &text) {
            UserLine::Unchanged => {}
            UserLine::Replaced => {
                if let Some(row) = item_id.as_ref().and_then(|id| self.user_rows.get(id)) {
                    let row = row.clone();
                    self.store_line(&row, Role::User, text, item_id, false);
                }
            }
            UserLine::New => {
                self.seq += 1;
                let row = StoredLine {
                    row_id: uuid::Uuid::new_v4().to_string(),
                    seq: self.seq,
                };
                if let Some(id) = &item_id {
                    self.user_rows.insert(id.clone(), row.clone());
                }
                self.store_line(&row, Role::User, text, item_id, false);
            }
        }
    }

    fn store_line(
        &mut self,
        row: &StoredLine,
        role: Role,
        text: String,
        item_id: Option<String>,
        interrupted: bool,
    ) {
        self.services.store.do_send(RecordTranscript {
            id: row.row_id.clone(),
            call_id: self.setup.call_id.clone(),
            seq: row.seq,
            role: role.as_str().to_string(),
            text: text.clone(),
            item_id,
            interrupted,
            created_at: Utc::now().naive_utc(),
        });
        self.services.events.publish(CallEvent::Transcript {
            call_id: self.setup.call_id.clone(),
            call_sid: self.setup.call_sid.clone(),
            role: role.as_str().to_string(),
            text,
            interrupted,
        });
    }

    /// Persists assistant lines whose audio the caller has heard in full.
    fn flush_heard_lines(&mut self) {
        if !self.playback.is_idle() {
            return;
        }
        let lines = std::mem::take(&mut self.pending_lines);
        for (item_id, text) in lines {
            if self.playback.was_interrupted(&item_id) {
                let (heard, total) = self.playback.progress(&item_id).unwrap_or((0, 0));
                self.record_line(
                    Role::Assistant,
                    cut_to_heard(&text, heard, total),
                    Some(item_id),
                    true,
                );
            } else {
                self.record_line(Role::Assistant, text, Some(item_id), false);
            }
        }
    }

    fn maybe_continue_after_tools(&mut self) {
        if self.pending_tools == 0 && !self.awaiting_response_done && self.tool_outputs_sent {
            self.tool_outputs_sent = false;
            if let Some(link) = &self.link {
                // The continuation's response.done is awaited before any farewell ends the call.
                self.awaiting_response_done = true;
                link.do_send(LinkCommand::CreateResponse);
            }
        }
    }

    fn maybe_finish_farewell(&mut self, ctx: &mut Context<Self>) {
        if self.playback.is_idle() && !self.awaiting_response_done && self.pending_tools == 0 {
            if let Some(reason) = self.ending.clone().or_else(|| self.hangup.clone()) {
                if self.ending.is_some() || !self.tool_outputs_sent {
                    self.finish(reason, true, ctx);
                }
            } else if self.transfer.is_some() && !self.tool_outputs_sent {
                self.start_transfer(ctx);
            }
        }
    }

    /// Hands the call to the on-call number once the hand-off line has played:
    /// replaces the call's TwiML through the Twilio REST API (Twilio "Calls resource"; docs/twilio.md §Changing a live call),
    /// then ends our side with `transferred: <reason>`. On failure the call goes
    /// on with the receptionist.
    fn start_transfer(&mut self, ctx: &mut Context<Self>) {
        if self.finished || self.ending.is_some() {
            return;
        }
        let Some(transfer) = self.transfer.take() else {
            return;
        };
        let rest =
            TwilioRest::from_config(&self.services.config.twilio, self.services.tls.clone()).ok();
        let (Some(rest), Some(call_sid)) = (rest, self.setup.call_sid.clone()) else {
            log::error!(
                "call {}: transfer impossible: no Twilio credentials or CallSid",
                self.id()
            );
            return;
        };
        log::info!(
            "call {}: transferring to {} ({})",
            self.id(),
            transfer.number,
            transfer.reason
        );
        ctx.spawn(
            async move { rest.update_call_twiml(&call_sid, &transfer.twiml).await }
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(()) => act.finish(format!("transferred: {}", transfer.reason), true, ctx),
                    Err(e) => log::error!("call {}: transfer failed: {e}", act.id()),
                }),
        );
    }

    fn barge_in(&mut self) {
        let Some(cut) = self.playback.barge_in() else {
            return;
        };
        self.services.metrics.barge_ins.inc();
        self.send_carrier(CarrierCommand::Clear);
        log::info!(
            "call {}: barge-in on {} at {} of {} ms",
            self.setup.call_id,
            cut.item_id,
            cut.heard_ms,
            cut.received_ms
        );
        if let Some(link) = &self.link {
            if crate::model::session::supports_truncate(self.provider()) {
                link.do_send(LinkCommand::Truncate {
                    item_id: cut.item_id.clone(),
                    audio_end_ms: cut.heard_ms,
                });
            } else if self.response_active {
                // No truncate on this provider: stop the answer being generated.
                // Cancelling when none is active only earns an error event.
                link.do_send(LinkCommand::CancelResponse);
            }
        }
        // A transcript that already arrived is cut and stored now; one still to come
        // is cut when it arrives (see AssistantTranscript).
        self.flush_heard_lines();
    }

    /// Plays the bundled apology, then ends the call with `reason`.
    fn apologise_and_end(&mut self, reason: String, ctx: &mut Context<Self>) {
        if self.ending.is_some() {
            return;
        }
        self.ending = Some(reason.clone());
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        self.playback.barge_in();
        self.send_carrier(CarrierCommand::Clear);
        let item = format!("apology-{}", self.generation);
        for chunk in self.services.apology.chunks(self.setup.format) {
            let _ = self
                .playback
                .push(&item, chunk.payload.as_str().into(), chunk.ms);
        }
        self.drain_playback(ctx);
        ctx.run_later(FAREWELL_GRACE, move |act, ctx| {
            act.finish(reason, true, ctx);
        });
    }

    /// Finalises the call exactly once: stores the row, releases the slot, stops
    /// the children, and (when we end it) closes the carrier stream.
    fn finish(&mut self, reason: String, close_carrier: bool, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        self.finished = true;
        // Whatever the caller heard of pending assistant lines is part of the record.
        let lines = std::mem::take(&mut self.pending_lines);
        for (item_id, text) in lines {
            let (heard, total) = self.playback.progress(&item_id).unwrap_or((0, 0));
            let interrupted = heard < total;
            self.record_line(
                Role::Assistant,
                cut_to_heard(&text, heard, total),
                Some(item_id),
                interrupted,
            );
        }
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        let duration_ms = self.started.elapsed().as_millis() as i64;
        if self.admitted {
            let (p50, max) = latency_summary(&self.turn_latencies_ms);
            self.services.store.do_send(RecordCallEnded {
                call_id: self.setup.call_id.clone(),
                end: CallEnd {
                    ended_at: Utc::now().naive_utc(),
                    duration_ms,
                    reason: reason.clone(),
                    status: CallStatus::Completed,
                    link_restarts: self.link_restarts as i32,
                    turn_latency_p50_ms: p50,
                    turn_latency_max_ms: max,
                },
            });
            self.services.supervisor.do_send(CallFinished {
                call_id: self.setup.call_id.clone(),
            });
            self.services
                .metrics
                .calls_ended
                .with_label_values(&[metric_reason(&reason)])
                .inc();
            self.services.events.publish(CallEvent::CallEnded {
                call_id: self.setup.call_id.clone(),
                call_sid: self.setup.call_sid.clone(),
                reason: reason.clone(),
                duration_ms: duration_ms as u64,
            });
        }
        log::info!(
            "call {} ({}) ended: {reason} after {duration_ms} ms",
            self.setup.call_id,
            self.setup.call_sid.as_deref().unwrap_or("-")
        );
        if close_carrier {
            self.send_carrier(CarrierCommand::Close {
                code: 1000,
                reason: reason.chars().take(120).collect(),
            });
        }
        ctx.stop();
    }
}

/// Bounded label set for `calls_ended_total`.
pub(crate) fn metric_reason(reason: &str) -> &'static str {
    match reason.split(':').next().unwrap_or_default() {
        "caller_hangup" => "caller_hangup",
        "carrier_closed" => "carrier_closed",
        "carrier_timeout" => "carrier_timeout",
        "assistant_hangup" => "assistant_hangup",
        "transferred" => "transferred",
        "model_unavailable" => "model_unavailable",
        "shutdown" => "shutdown",
        _ => "other",
    }
}

/// (p50, max) of turn latencies in ms, `None` without turns.
fn latency_summary(samples: &[u32]) -> (Option<i32>, Option<i32>) {
    if samples.is_empty() {
        return (None, None);
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let p50 = sorted[(sorted.len() - 1) / 2];
    let max = sorted[sorted.len() - 1];
    (Some(p50 as i32), Some(max as i32))
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let admit = Admit {
            call_id: self.setup.call_id.clone(),
            addr: ctx.address().recipient(),
            settings: ctx.address().recipient(),
        };
        let supervisor = self.services.supervisor.clone();
        // Frames that arrive during admission wait in the mailbox.
        ctx.wait(
            async move { supervisor.send(admit).await }
                .into_actor(self)
                .map(|res, act, ctx| {
                    let refusal = match res {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some((e.reason().to_string(), e.to_string())),
                        Err(e) => Some(("refused_supervisor".to_string(), e.to_string())),
                    };
                    if let Some((reason, detail)) = refusal {
                        log::warn!("call {} refused: {detail}", act.setup.call_id);
                        act.services.store.do_send(RecordCallRefused {
                            call_id: act.setup.call_id.clone(),
                            tenant_id: Some(act.setup.tenant.id.clone()),
                            carrier: act.setup.carrier.to_string(),
                            carrier_call_sid: act.setup.call_sid.clone(),
                            stream_sid: act.setup.stream_sid.clone(),
                            from_number: act.setup.from.clone(),
                            to_number: act.setup.to.clone(),
                            model_provider: Some(act.provider().as_str().to_string()),
                            started_at: Utc::now().naive_utc(),
                            reason: reason.clone(),
                        });
                        act.send_carrier(CarrierCommand::Close {
                            code: 1013,
                            reason: format!("call refused: {detail}"),
                        });
                        act.finished = true;
                        ctx.stop();
                        return;
                    }
                    act.admitted = true;
                    act.services.store.do_send(RecordCallStarted {
                        call_id: act.setup.call_id.clone(),
                        tenant_id: Some(act.setup.tenant.id.clone()),
                        carrier: act.setup.carrier.to_string(),
                        carrier_call_sid: act.setup.call_sid.clone(),
                        stream_sid: act.setup.stream_sid.clone(),
                        from_number: act.setup.from.clone(),
                        to_number: act.setup.to.clone(),
                        model_provider: Some(act.provider().as_str().to_string()),
                        started_at: Utc::now().naive_utc(),
                    });
                    act.services.events.publish(CallEvent::CallStarted {
                        call_id: act.setup.call_id.clone(),
                        call_sid: act.setup.call_sid.clone(),
                        tenant: Some(act.setup.tenant.id.clone()),
                        from: act.setup.from.clone(),
                        to: act.setup.to.clone(),
                        carrier: act.setup.carrier.to_string(),
                    });
                    let tool_ctx = ToolContext {
                        call_id: Some(act.setup.call_id.clone()),
                        call_sid: act.setup.call_sid.clone(),
                        tenant: act.setup.tenant.clone(),
                        caller: act.setup.from.clone(),
                        carrier: act.setup.carrier.to_string(),
                        conversation: Vec::new(),
                    };
                    act.tools = Some(
                        ToolActor::new(tool_ctx, act.services.clone(), ctx.address().recipient())
                            .start(),
                    );
                    log::info!(
                        "call {} ({}) admitted for tenant {} from {}",
                        act.setup.call_id,
                        act.setup.call_sid.as_deref().unwrap_or("-"),
                        act.setup.tenant.id,
                        act.setup.from.as_deref().unwrap_or("unknown")
                    );
                    act.start_link(ctx);
                    ctx.run_interval(ROLLOVER_CHECK, |act, ctx| act.check_rollover(ctx));
                }),
        );
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if !self.finished {
            self.finish("call_actor_stopped".into(), true, ctx);
        }
        Running::Stop
    }
}

impl Handler<AudioFrame> for CallActor {
    type Result = ();

    fn handle(&mut self, frame: AudioFrame, _: &mut Context<Self>) {
        if let Some(link) = &self.link {
            if self.ending.is_none() {
                link.do_send(frame);
            }
        }
    }
}

impl Handler<MarkEchoed> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: MarkEchoed, ctx: &mut Context<Self>) {
        if self.playback.mark_echoed(&msg.name).is_some() || self.playback.is_idle() {
            self.flush_heard_lines();
            self.maybe_finish_farewell(ctx);
        }
    }
}

impl Handler<DtmfReceived> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: DtmfReceived, _: &mut Context<Self>) {
        log::info!("call {}: DTMF {}", self.setup.call_id, msg.digit);
    }
}

impl Handler<CarrierHangup> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: CarrierHangup, ctx: &mut Context<Self>) {
        self.finish(msg.reason, false, ctx);
    }
}

impl Handler<EndCall> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: EndCall, ctx: &mut Context<Self>) {
        if msg.apologise {
            self.apologise_and_end(msg.reason, ctx);
        } else {
            self.finish(msg.reason, true, ctx);
        }
    }
}

impl Handler<ModelEvent> for CallActor {
    type Result = ();

    fn handle(&mut self, event: ModelEvent, ctx: &mut Context<Self>) {
        match event {
            ModelEvent::Ready { generation } => {
                if generation != self.generation {
                    return;
                }
                if generation > 0 {
                    log::info!("call {}: model link {generation} ready", self.id());
                } else if self.services.config.calls.greet_caller {
                    if let Some(link) = &self.link {
                        self.awaiting_response_done = true;
                        link.do_send(LinkCommand::CreateResponse);
                    }
                }
                self.link_failures = 0;
            }
            ModelEvent::Audio { item_id, delta } => {
                if self.ending.is_some() {
                    return;
                }
                if self.speaking_item.as_deref() != Some(item_id.as_str()) {
                    self.conversation.assistant_speaking(&item_id);
                    self.speaking_item = Some(item_id.clone());
                }
                let ms = self.setup.format.duration_ms(base64_decoded_len(&delta));
                match self.playback.push(&item_id, delta, ms) {
                    Ok(()) => self.drain_playback(ctx),
                    Err(PushRefused::Interrupted) => {}
                    Err(PushRefused::QueueFull) => {
                        log::warn!("call {}: outbound audio queue full; shedding", self.id());
                    }
                }
            }
            ModelEvent::SpeechStarted { item_id, .. } => {
                if let Some(item_id) = item_id {
                    self.conversation.user_speaking(&item_id);
                }
                self.speech_stopped_at = None;
                self.caller_speaking = true;
                if self.ending.is_none() {
                    self.barge_in();
                }
            }
            ModelEvent::SpeechStopped { .. } => {
                self.speech_stopped_at = Some(Instant::now());
                self.caller_speaking = false;
                self.turn_pending = true;
            }
            ModelEvent::UserTranscript { item_id, text } => {
                self.record_user_line(item_id, text);
            }
            ModelEvent::ResponseStarted => {
                self.response_active = true;
            }
            ModelEvent::AssistantTranscript { item_id, text } => {
                self.pending_lines.push((item_id, text));
                self.flush_heard_lines();
            }
            ModelEvent::ToolCallRequested {
                call_id,
                name,
                arguments,
            } => {
                self.pending_tools += 1;
                self.awaiting_response_done = true;
                self.conversation.function_call(&call_id, &name, &arguments);
                if let Some(tools) = &self.tools {
                    tools.do_send(ToolCall {
                        call_id,
                        name,
                        arguments,
                        conversation: self.conversation.lines(),
                    });
                }
            }
            ModelEvent::ResponseDone { .. } => {
                self.response_active = false;
                self.awaiting_response_done = false;
                self.turn_pending = false;
                self.maybe_continue_after_tools();
                self.maybe_finish_farewell(ctx);
            }
            ModelEvent::Error { code, message } => {
                log::warn!("call {}: model error {code}: {message}", self.id());
            }
        }
    }
}

impl Handler<ToolResult> for CallActor {
    type Result = ();

    fn handle(&mut self, result: ToolResult, ctx: &mut Context<Self>) {
        self.pending_tools = self.pending_tools.saturating_sub(1);
        match &result.action {
            Some(CallAction::HangUp { reason }) => {
                self.hangup = Some(format!("assistant_hangup: {reason}"));
            }
            Some(CallAction::Transfer {
                number,
                whisper_url,
                reason,
            }) => {
                self.transfer = Some(PendingTransfer {
                    number: number.clone(),
                    twiml: crate::carrier::twilio::twiml::dial_with_whisper(
                        number,
                        None,
                        whisper_url,
                    ),
                    reason: reason.clone(),
                });
                // Transfer even if the hand-off line never finishes playing.
                ctx.run_later(FAREWELL_GRACE, |act, ctx| act.start_transfer(ctx));
            }
            None => {}
        }
        self.conversation
            .function_output(&result.call_id, &result.output);
        if let Some(link) = &self.link {
            link.do_send(LinkCommand::ToolOutput {
                call_id: result.call_id,
                output: result.output,
            });
            self.tool_outputs_sent = true;
        }
        self.maybe_continue_after_tools();
        if self.hangup.is_some() {
            ctx.run_later(FAREWELL_GRACE, |act, ctx| {
                if let Some(reason) = act.hangup.clone() {
                    act.finish(reason, true, ctx);
                }
            });
        }
    }
}

impl Handler<ApplySessionSettings> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: ApplySessionSettings, _: &mut Context<Self>) {
        self.settings.merge(&msg.0);
        if let Some(link) = &self.link {
            link.do_send(LinkCommand::UpdateSession(Box::new(self.session_spec())));
        }
    }
}

impl Handler<LinkDown> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: LinkDown, ctx: &mut Context<Self>) {
        if msg.generation != self.generation || self.finished || self.ending.is_some() {
            return;
        }
        self.link = None;
        self.caller_speaking = false;
        self.turn_pending = false;
        self.response_active = false;
        self.link_failures += 1;
        // Answers cut off with the link: kept (as heard) for the record and the replay.
        for (item_id, text) in msg.unfinished {
            if !self.pending_lines.iter().any(|(id, _)| *id == item_id) {
                self.pending_lines.push((item_id, text));
            }
        }
        self.flush_heard_lines();
        self.awaiting_response_done = false;
        self.pending_tools = 0;
        log::warn!(
            "call {}: model link {} down: {}",
            self.setup.call_id,
            msg.generation,
            msg.cause
        );
        let ask = LinkFailed {
            call_id: self.setup.call_id.clone(),
            failures: self.link_failures,
        };
        let supervisor = self.services.supervisor.clone();
        let cause = msg.cause;
        ctx.spawn(
            async move { supervisor.send(ask).await }
                .into_actor(self)
                .map(move |decision, act, ctx| match decision {
                    Ok(RestartDecision::Restart { after }) => {
                        act.services.events.publish(CallEvent::LinkRestart {
                            call_id: act.setup.call_id.clone(),
                            call_sid: act.setup.call_sid.clone(),
                            attempt: act.link_failures,
                            cause: cause.clone(),
                        });
                        ctx.run_later(after, |act, ctx| {
                            if act.finished || act.ending.is_some() {
                                return;
                            }
                            act.generation += 1;
                            act.link_restarts += 1;
                            act.start_link(ctx);
                        });
                    }
                    Ok(RestartDecision::GiveUp) | Err(_) => {
                        act.apologise_and_end(format!("model_unavailable: {cause}"), ctx);
                    }
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_is_median_and_max() {
        assert_eq!(latency_summary(&[]), (None, None));
        assert_eq!(latency_summary(&[300, 100, 200]), (Some(200), Some(300)));
    }
}

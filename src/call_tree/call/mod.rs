//! `CallActor`: one per call, carrier-agnostic. It owns the call's state — who is
//! calling which tenant, the transcript, outbound playback and barge-in — and
//! moves typed messages between the carrier edge, the model link and the tool
//! actor. Audio goes edge → call → link and link → call → edge on one arbiter;
//! nothing on that path waits on the database, the Supervisor or a tool. Its
//! lifecycle (admission, rows, events, metrics) is a [`ledger::CallLedger`], the
//! same one the jambonz call owns; carrier-specific actions (a transfer) are
//! [`CarrierCommand`]s its edge carries out.

pub mod conversation;
pub mod env;
pub mod hold;
pub mod ledger;
pub mod playback;
pub mod prewarm;
pub mod recorder;
pub mod route;
pub mod state;
pub mod transfer;
pub mod voicemail;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use crate::actor_messages::{
    AudioFrame, CallAction, CarrierCommand, CarrierHangup, DtmfReceived, EndCall, LinkDown,
    LinkFailed, MachineDetected, MarkEchoed, OperatorTransfer, RestartLink, ToolCall, ToolResult,
    TransferOutcome, VoicemailHandedOff,
};
use crate::audio::format::{base64_decoded_len, AudioFormat};
use crate::call_tree::link::{LinkCounters, LinkHandover, LinkSetup, ModelLinkActor, TakeSession};
use crate::call_tree::tool::ToolActor;
use crate::lifecycle::AdmitAnswer;
use crate::lifecycle::{Carrier, EndReason};
use crate::model::api::ModelApi;
use crate::model::command::LinkCommand;
use crate::model::event::ModelEvent;
use crate::model::provider::Provider;
use crate::model::session::{HistoryItem, Role, SessionSpec};
use crate::session_settings::{ApplySessionSettings, SessionSettings};
use crate::tenant::keypad::{caller_event_text, KeypadAction, KeypadKey};
use crate::tenant::TenantConfig;
use crate::tools::builtin::{plan_transfer, TransferPlan};
use conversation::{Conversation, UserLine};
use env::{CallEnv, CallTenancy, SupervisedCall, Supervision};
use hold::{Hold, HoldCheck};
use ledger::{CallIdentity, CallLedger, LineRow};
use playback::{cut_to_heard, Playback, PushRefused};
use prewarm::{AttachEdge, CallHandover, HandOver};
use recorder::Recorder;
use state::{CallState, CallerEvent, FarewellRequest, Step};
use transfer::{
    CallLeg, CallLegAnswer, LegError, LegEvent, ScreeningBrief, TransferFailure, TransferNote,
};
use voicemail::VoicemailRecorder;

/// Longest wait for goodbye or apology audio to play before the call is closed anyway.
const FAREWELL_GRACE: Duration = Duration::from_secs(10);
/// How often a call checks whether its model session is due for a roll-over.
const ROLLOVER_CHECK: Duration = Duration::from_secs(1);
/// A roll-over waits for a quiet moment at most this long past `session_max_secs`.
const ROLLOVER_GRACE: Duration = Duration::from_secs(120);
/// Longest wait for the voicemail prompt's last mark before recording anyway.
const PROMPT_GRACE: Duration = Duration::from_secs(2);
/// Told to a model link that replaces a failed one, as a system line after
/// the replayed conversation: the caller was left waiting.
const RESUME_NOTE: &str = "The line dropped for a moment and the caller heard hold music. \
Speak first: apologise briefly for the wait, then carry on where the conversation left off \
(or greet the caller if it had not started).";

/// A voicemail taken because the model is gone.
enum Voicemail {
    /// The carrier was asked to record it (Twilio `<Record>`); awaiting its answer.
    AskedCarrier,
    /// switchboard plays the prompt and its tone.
    Prompting,
    /// switchboard records the caller (frames that fail to decode are counted).
    Recording {
        recorder: VoicemailRecorder,
        bad_frames: u32,
    },
}
/// Past `transfer.ring_secs`, how long a transfer may take to come back (the
/// screening prompt, the carrier's dial outcome, the way-back stream) before
/// the call ends `transfer_unresolved`.
const TRANSFER_SLACK: Duration = Duration::from_secs(60);
/// Longest a bridged transfer is waited on for its length: Twilio's default
/// `<Dial timeLimit>` (4 hours, "TwiML Voice: `<Dial>`").
const BRIDGED_LIMIT: Duration = Duration::from_secs(4 * 60 * 60);

/// Everything a call needs to start; built by the carrier edge at stream start
/// and handed to the Supervisor (`StartCall`), which starts the call — or built
/// at the voice webhook for a pre-warmed call (`Prewarm`), without an edge.
#[derive(Clone)]
pub struct CallSetup {
    /// switchboard's call id (UUID v4).
    pub call_id: String,
    /// The carrier edge this call came through.
    pub carrier: Carrier,
    /// Carrier call id (Twilio `CA…`).
    pub call_sid: Option<String>,
    /// Carrier stream id (Twilio `MZ…`).
    pub stream_sid: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub tenant: Arc<TenantConfig>,
    /// Audio codec on the carrier leg; the model session uses the same one.
    pub format: AudioFormat,
    /// Where outbound media, marks, clears and carrier actions go; `None` for a
    /// pre-warmed call until its stream attaches ([`AttachEdge`]): its audio is
    /// held in the playback queue meanwhile.
    pub edge: Option<Recipient<CarrierCommand>>,
}

/// One live call.
pub struct CallActor {
    setup: CallSetup,
    env: Arc<CallEnv>,
    /// Admission, rows, events, metrics, `CallFinished`.
    ledger: CallLedger,
    /// The Supervisor's verdict, acted on in `started`.
    admission: Option<AdmitAnswer>,
    /// Where link failures go (the Supervisor decides: restart or end).
    link_failed: Recipient<LinkFailed>,
    link: Option<Addr<ModelLinkActor>>,
    /// When the current model session was opened (roll-over clock).
    link_opened: Instant,
    /// What happens next: turn, response, tool loop, course (pure, tested).
    state: CallState,
    tools: Option<Addr<ToolActor>>,
    playback: Playback,
    conversation: Conversation,
    /// Stored caller lines by user item id.
    user_rows: HashMap<String, LineRow>,
    /// The assistant item whose audio arrived last (its place in the conversation is held).
    speaking_item: Option<String>,
    /// Assistant transcripts received but not yet persisted (waiting for playback).
    pending_lines: Vec<(String, String)>,
    /// When the caller's last turn ended (turn latency clock).
    speech_stopped_at: Option<Instant>,
    /// A playback drain is scheduled (one timer at a time).
    drain_scheduled: bool,
    /// Operator session edits: the tenant's at call start, then this call's own.
    settings: SessionSettings,
    /// A pre-warmed session taken over from the call's actor on another
    /// thread; the first link continues it.
    adopt: Option<LinkHandover>,
    /// Hold audio while the model link is down.
    hold: Hold,
    /// The voicemail under way when the model is gone for good.
    voicemail: Option<Voicemail>,
    /// Caller events (key presses) held until the response under way is done.
    held_events: Vec<String>,
    /// The call's local recording (`[tenants.recording]`), from its row's start.
    recorder: Option<Recorder>,
}

impl CallActor {
    /// A call the Supervisor starts; it acts on the admission verdict in `started`.
    fn new(setup: CallSetup, supervision: Supervision) -> Self {
        let Supervision {
            env,
            admission,
            finished,
            link_failed,
        } = supervision;
        let calls = &env.config.calls;
        let playback = Playback::new(calls.playout_lead_ms, calls.max_queued_audio_ms);
        let hold = Hold::new(calls.hold_after_ms);
        let settings = env.session_overrides.get(&setup.tenant.id);
        let provider = setup.tenant.provider.unwrap_or(env.config.model.provider);
        let ledger = CallLedger::new(
            CallIdentity {
                call_id: setup.call_id.clone(),
                carrier: setup.carrier,
                call_sid: setup.call_sid.clone(),
                stream_sid: setup.stream_sid.clone(),
                from: setup.from.clone(),
                to: setup.to.clone(),
                tenant: setup.tenant.clone(),
                model_provider: provider.as_str().to_string(),
            },
            &env,
            Some(finished),
        );
        CallActor {
            setup,
            env,
            ledger,
            admission: Some(admission),
            link_failed,
            link: None,
            link_opened: Instant::now(),
            state: CallState::new(),
            tools: None,
            playback,
            conversation: Conversation::new(),
            user_rows: HashMap::new(),
            speaking_item: None,
            pending_lines: Vec::new(),
            speech_stopped_at: None,
            drain_scheduled: false,
            settings,
            adopt: None,
            hold,
            voicemail: None,
            held_events: Vec::new(),
            recorder: None,
        }
    }

    /// The call `handover` describes, continued on this thread with its stream
    /// attached (`edge`, Twilio `stream_sid`): its first link adopts the open
    /// model session. `supervision.admission` is the slot the call already holds.
    pub fn adopting(
        handover: CallHandover,
        edge: Recipient<CarrierCommand>,
        stream_sid: Option<String>,
        supervision: Supervision,
    ) -> Self {
        let CallHandover {
            mut setup,
            link,
            greeting_requested,
        } = handover;
        setup.edge = Some(edge);
        if stream_sid.is_some() {
            setup.stream_sid = stream_sid;
        }
        let mut call = CallActor::new(setup, supervision);
        call.adopt = Some(link);
        call.state = CallState::adopted(greeting_requested);
        call
    }

    fn id(&self) -> &str {
        &self.setup.call_id
    }

    fn provider(&self) -> Provider {
        self.setup
            .tenant
            .provider
            .unwrap_or(self.env.config.model.provider)
    }

    /// The voice protocol this call's model links speak.
    fn api(&self) -> ModelApi {
        self.env.config.api_for(&self.setup.tenant)
    }

    fn session_spec(&self) -> SessionSpec {
        let model = &self.env.config.model;
        let tenant = self.settings.apply(&self.setup.tenant);
        let tools = self.env.tools.registry.schemas_for(&tenant);
        let mut spec = SessionSpec::for_call(
            self.provider(),
            self.api(),
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
        let mut history = self.replay_history();
        if self.state.was_held() {
            history.push(HistoryItem::Message {
                role: Role::System,
                text: RESUME_NOTE.into(),
            });
        }
        let setup = LinkSetup {
            call_id: self.setup.call_id.clone(),
            generation: self.state.generation(),
            url: match self.api() {
                ModelApi::Realtime => self.env.model_url.clone(),
                ModelApi::Live => self.env.live_url.clone(),
            },
            api: self.api(),
            backend_model: self.env.config.model.live.backend_model.clone(),
            api_key: self
                .env
                .config
                .model_key(self.provider())
                .map(str::to_string),
            session: self.session_spec(),
            history,
            events: ctx.address().recipient(),
            down: ctx.address().recipient(),
            tls: self.env.tls.clone(),
            connect_timeout: Duration::from_secs(self.env.config.model.connect_timeout_secs),
            heartbeat: Duration::from_secs(self.env.config.model.heartbeat_secs),
            counters: LinkCounters {
                unknown: self.env.metrics.model_events_unknown.clone(),
                unparsable: self.env.metrics.model_events_unparsable.clone(),
            },
            // A pre-warmed call's stream may land on another thread (HandOver).
            record: self.setup.edge.is_none() && self.state.generation() == 0,
            adopt: self.adopt.take(),
        };
        self.link = Some(ModelLinkActor::new(setup).start());
        self.link_opened = Instant::now();
    }

    /// Ends the call when its carrier edge is gone without telling it (an edge
    /// stopped while handing the call over, e.g. reset during a pre-warm claim):
    /// no call outlives its carrier by more than a check interval.
    fn check_edge(&mut self, ctx: &mut Context<Self>) {
        // A transfer lets the stream go on purpose.
        let gone = !self.state.is_away()
            && self
                .setup
                .edge
                .as_ref()
                .is_some_and(|edge| !edge.connected());
        if gone && !self.ledger.is_finished() {
            log::warn!("call {}: carrier edge gone without a hang-up", self.id());
            self.finish(EndReason::CarrierReset, false, ctx);
        }
    }

    /// Rolls the call over to a fresh model session before the provider's session
    /// cap, at a quiet moment (nothing playing, no response or tool pending), with
    /// the conversation replayed — the same mechanism as a restart, minus the failure.
    fn check_rollover(&mut self, ctx: &mut Context<Self>) {
        let max = Duration::from_secs(self.env.config.model.session_max_secs);
        let age = self.link_opened.elapsed();
        if self.link.is_none() || self.state.is_ending() || age < max {
            return;
        }
        let quiet = self.state.is_quiet(self.playback.is_idle());
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
        self.state.next_link();
        self.start_link(ctx);
    }

    fn send_carrier(&mut self, cmd: CarrierCommand) {
        if let (CarrierCommand::Clear, Some(recorder)) = (&cmd, &mut self.recorder) {
            recorder.clear();
        }
        if let Some(edge) = &self.setup.edge {
            edge.do_send(cmd);
        }
    }

    /// The call's row is written (its clock starts): records it when its
    /// tenant records calls. A file that cannot be written is logged and
    /// noted on the call; the call goes on.
    fn start_recorder(&mut self) {
        if !self.setup.tenant.recording.records() || self.recorder.is_some() {
            return;
        }
        let relative = recorder::relative_path(
            &self.setup.tenant.id,
            Utc::now().date_naive(),
            &self.setup.call_id,
        );
        let pool = self.env.tools.pool.clone();
        let call_id = self.setup.call_id.clone();
        let config = &self.env.config.recording;
        let recorder = self.env.recordings.record(
            &self.setup.call_id,
            self.setup.format,
            &config.dir,
            relative,
            config.queue_chunks,
            move |outcome| recorder::store_outcome(&pool, &call_id, &outcome),
        );
        log::info!("call {}: recording", self.id());
        self.recorder = Some(recorder);
    }

    /// Sends every chunk the lead window allows, and schedules the next drain.
    /// Without an edge yet (pre-warmed) the audio stays queued.
    fn drain_playback(&mut self, ctx: &mut Context<Self>) {
        if self.setup.edge.is_none() {
            return;
        }
        let now = Instant::now();
        loop {
            match self.playback.next_chunk(now) {
                Ok(Some(chunk)) => {
                    if let Some(stopped) = self.speech_stopped_at.take() {
                        let ms = now.duration_since(stopped).as_millis() as u32;
                        self.ledger.turn_latency(ms);
                    }
                    if let Some(recorder) = &mut self.recorder {
                        recorder.receptionist(&chunk.payload, chunk.starts_in);
                    }
                    self.send_carrier(CarrierCommand::Media(chunk.payload));
                    self.send_carrier(CarrierCommand::Mark(chunk.mark));
                }
                Ok(None) => {
                    // Hold audio repeats until the outage ends.
                    let Some(item) = self.hold.playing() else {
                        return;
                    };
                    let mut queued = false;
                    for chunk in self.env.hold.chunks(self.setup.format) {
                        queued |= self
                            .playback
                            .push(item, chunk.payload.clone(), chunk.ms)
                            .is_ok();
                    }
                    if !queued {
                        return;
                    }
                }
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
        self.ledger.record_line(role, text, item_id, interrupted);
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
                    self.ledger
                        .store_line(row, Role::User, text, item_id, false);
                }
            }
            UserLine::New => {
                let row = self
                    .ledger
                    .record_line(Role::User, text, item_id.clone(), false);
                if let Some(id) = item_id {
                    self.user_rows.insert(id, row);
                }
            }
        }
    }

    /// Persists assistant lines whose audio the caller has heard in full.
    fn flush_heard_lines(&mut self) {
        // Before the stream attaches the caller has heard nothing.
        if self.setup.edge.is_none() || !self.playback.is_idle() {
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

    /// Carries out what the call state decided.
    fn run(&mut self, step: Step, ctx: &mut Context<Self>) {
        match step {
            Step::RequestResponse => {
                // Key presses held meanwhile go first: this response answers them too.
                self.tell_held_events(false);
                if let Some(link) = &self.link {
                    link.do_send(LinkCommand::CreateResponse);
                }
            }
            Step::TellCallerEvents => {
                if self.held_events.is_empty() {
                    if let Some(link) = &self.link {
                        link.do_send(LinkCommand::CreateResponse);
                    }
                }
                self.tell_held_events(true);
            }
            Step::BargeIn => self.barge_in(),
            Step::Finish(reason) => self.finish(reason, true, ctx),
            Step::Transfer(plan) => self.transfer(plan),
            Step::AwaitDial => self.await_dial(ctx),
            Step::WayBack(failure) => self.way_back(failure, ctx),
            Step::ReportLinkFailure { .. } => {}
        }
    }

    /// Sends the caller events held during a response, the last one asking
    /// for a response when `respond`.
    fn tell_held_events(&mut self, respond: bool) {
        let held = std::mem::take(&mut self.held_events);
        let Some(link) = &self.link else {
            return;
        };
        let last = held.len().saturating_sub(1);
        for (i, text) in held.into_iter().enumerate() {
            link.do_send(LinkCommand::CallerEvent {
                text,
                respond: respond && i == last,
            });
        }
    }

    /// The caller pressed `key`: a key the tenant mapped (`[tenants.keypad]`)
    /// acts at once, without the model; any other is told to the model.
    fn keypad(&mut self, key: KeypadKey, ctx: &mut Context<Self>) {
        if self.ledger.is_finished() {
            return;
        }
        let action = self.setup.tenant.keypad.get(&key).copied();
        log::info!(
            "call {}: caller pressed {key} ({})",
            self.id(),
            match action {
                Some(KeypadAction::Transfer) => "transfer",
                Some(KeypadAction::Message) => "message",
                None => "told to the model",
            }
        );
        if action == Some(KeypadAction::Transfer) {
            match self.keypad_transfer(key, ctx) {
                Ok(()) => return,
                Err(e) => log::warn!(
                    "call {}: key {key} asks for a transfer, which cannot start ({e}); the model is told",
                    self.id()
                ),
            }
        }
        self.tell_caller_event(caller_event_text(key, action));
    }

    /// The transfer a mapped key asks for: the operator's path, at once.
    fn keypad_transfer(&mut self, key: KeypadKey, ctx: &mut Context<Self>) -> Result<(), String> {
        if self.setup.edge.is_none() {
            return Err("the call's media stream has not started yet".into());
        }
        let reason = format!("caller pressed {key} on the keypad");
        let plan = plan_transfer(&self.env.tools, &self.ledger.tool_context(), reason)
            .map_err(|e| e.to_string())?;
        let step = self
            .state
            .operator_transfer(plan)
            .map_err(|e| e.to_string())?;
        self.run(step, ctx);
        Ok(())
    }

    /// Tells the model a caller event as a conversation line (stored in the
    /// transcript as a `system` line, replayed after a restart), now or once
    /// the response under way is done, as the call state decides.
    fn tell_caller_event(&mut self, text: String) {
        let conversing = matches!(self.state.course(), state::Course::Conversing);
        let decided = if !conversing {
            CallerEvent::Dropped
        } else if self.link.is_some() {
            self.state.caller_event()
        } else {
            // The link is restarting: the replay carries the event.
            CallerEvent::Told
        };
        if decided == CallerEvent::Dropped {
            log::info!("call {}: caller event dropped (ending): {text}", self.id());
            return;
        }
        self.conversation.caller_event(&text);
        self.ledger
            .record_line(Role::System, text.clone(), None, false);
        let respond = match decided {
            CallerEvent::Held => {
                self.held_events.push(text);
                return;
            }
            CallerEvent::ToldAndAnswered => true,
            CallerEvent::Told | CallerEvent::Dropped => false,
        };
        if let Some(link) = &self.link {
            link.do_send(LinkCommand::CallerEvent { text, respond });
        }
    }

    /// The carrier has the caller and rings the on-call person: the stream is
    /// the carrier's now and the model has nothing to hear, so both go; the
    /// call keeps its slot and waits (bounded) for the dial's end.
    fn await_dial(&mut self, ctx: &mut Context<Self>) {
        self.record_pending_lines();
        self.playback.barge_in();
        self.setup.edge = None;
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        let ring = Duration::from_secs(u64::from(self.env.config.transfer.ring_secs));
        log::info!(
            "call {} ({}): the on-call number rings (up to {} s)",
            self.id(),
            self.ledger.sid(),
            ring.as_secs()
        );
        self.arm_transfer_bound(ring + TRANSFER_SLACK, ctx);
    }

    /// Ends the call if the transfer phase now under way is still unresolved
    /// after `wait`.
    fn arm_transfer_bound(&mut self, wait: Duration, ctx: &mut Context<Self>) {
        let phase = self.state.transfer_phase();
        ctx.run_later(wait, move |act, ctx| {
            if let Some(step) = act.state.transfer_timed_out(phase, wait.as_secs()) {
                log::warn!(
                    "call {} ({}): transfer unresolved after {} s",
                    act.id(),
                    act.ledger.sid(),
                    wait.as_secs()
                );
                act.run(step, ctx);
            }
        });
    }

    /// Back from a failed transfer: the conversation gets the failure's line
    /// and a new model link (the next generation) opens with it and speaks
    /// first; its audio waits in the playback queue for the way-back stream.
    fn way_back(&mut self, failure: TransferFailure, ctx: &mut Context<Self>) {
        self.ledger.note_transfer(TransferNote::Failed(failure));
        self.conversation.note(&failure.line());
        self.start_link(ctx);
        let wait = Duration::from_secs(u64::from(self.env.config.transfer.ring_secs));
        self.arm_transfer_bound(wait + TRANSFER_SLACK, ctx);
    }

    /// Hands the call to the on-call number: asks the carrier edge to transfer
    /// it ([`CarrierCommand::Transfer`]); on its [`TransferOutcome`] the call
    /// waits for the dial's end ([`CallLeg`]), or on failure goes on with the
    /// receptionist.
    fn transfer(&mut self, plan: TransferPlan) {
        if self.ledger.is_finished() {
            return;
        }
        log::info!(
            "call {}: transferring to {} ({})",
            self.id(),
            plan.number,
            plan.reason
        );
        self.send_carrier(CarrierCommand::Transfer {
            number: plan.number,
            screen_url: plan.screen_url,
            action_url: plan.action_url,
            ring_secs: self.env.config.transfer.ring_secs,
        });
    }

    fn barge_in(&mut self) {
        if self.end_hold() {
            return;
        }
        let Some(cut) = self.playback.barge_in() else {
            return;
        };
        self.ledger.barge_in();
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
            } else if self.state.response_active() {
                // No truncate on this provider: stop the answer being generated.
                // Cancelling when none is active only earns an error event.
                link.do_send(LinkCommand::CancelResponse);
            }
        }
        // A transcript that already arrived is cut and stored now; one still to come
        // is cut when it arrives (see AssistantTranscript).
        self.flush_heard_lines();
    }

    /// Starts the hold clip once the line has been silent `calls.hold_after_ms`
    /// with the model link down, or checks again when it will have been.
    fn check_hold(&mut self, ctx: &mut Context<Self>) {
        if self.state.is_ending() || self.setup.edge.is_none() {
            return;
        }
        let now = Instant::now();
        match self.hold.check(now, self.playback.audible_until(now)) {
            HoldCheck::Idle => {}
            HoldCheck::WaitFor(wait) => {
                ctx.run_later(wait, |act, ctx| act.check_hold(ctx));
            }
            HoldCheck::Start { item_id } => {
                log::info!(
                    "call {}: model link down; hold audio ({item_id})",
                    self.id()
                );
                self.state.hold_started();
                for chunk in self.env.hold.chunks(self.setup.format) {
                    let _ = self
                        .playback
                        .push(&item_id, chunk.payload.clone(), chunk.ms);
                }
                self.drain_playback(ctx);
            }
        }
    }

    /// Ends the outage's hold: what is queued of the clip is dropped and the
    /// carrier told to drop what it still holds, so nothing that follows
    /// overlaps it. `true` when hold audio was playing.
    fn end_hold(&mut self) -> bool {
        if self.hold.end().is_none() {
            return false;
        }
        self.playback.clear();
        self.send_carrier(CarrierCommand::Clear);
        true
    }

    /// The model is gone for good (`cause`): rather than hang up on the caller,
    /// take a voicemail — by the carrier when it can record one (Twilio
    /// `<Record>`), else by switchboard from the call's own stream. The call
    /// then ends `voicemail: <cause>`. A pre-warmed call with no stream yet
    /// takes it once the stream attaches.
    fn leave_voicemail(&mut self, cause: String) {
        if !self.state.begin_voicemail(cause.clone()) {
            return;
        }
        log::warn!(
            "call {}: model unavailable ({cause}); taking a voicemail",
            self.id()
        );
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        self.hold.end();
        self.playback.clear();
        if self.setup.edge.is_none() {
            // Pre-warmed: the voicemail starts when the stream attaches (or the
            // call ends `no_stream` if none comes).
            log::info!("call {}: the voicemail waits for the stream", self.id());
            return;
        }
        self.send_carrier(CarrierCommand::Clear);
        self.ask_carrier_for_voicemail();
    }

    /// Asks the carrier to record the voicemail; its [`VoicemailHandedOff`]
    /// says whether it does or switchboard must.
    fn ask_carrier_for_voicemail(&mut self) {
        self.voicemail = Some(Voicemail::AskedCarrier);
        self.send_carrier(CarrierCommand::RecordVoicemail {
            call_id: self.setup.call_id.clone(),
        });
    }

    /// switchboard records the voicemail: the prompt and its tone play, then
    /// the caller's frames are recorded (from the prompt's last mark, or after
    /// its length and a grace at the latest).
    fn prompt_voicemail(&mut self, ctx: &mut Context<Self>) {
        self.voicemail = Some(Voicemail::Prompting);
        let mut prompt_ms = 0u64;
        for chunk in self.env.voicemail_prompt.chunks(self.setup.format) {
            prompt_ms += u64::from(chunk.ms);
            let _ = self
                .playback
                .push("voicemail-prompt", chunk.payload.clone(), chunk.ms);
        }
        self.drain_playback(ctx);
        ctx.run_later(
            Duration::from_millis(prompt_ms) + PROMPT_GRACE,
            |act, ctx| act.start_recording(ctx),
        );
    }

    /// The prompt has played: record the caller, for at most
    /// `calls.voicemail_max_secs` (and a grace, in case frames stop coming).
    fn start_recording(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.voicemail, Some(Voicemail::Prompting)) || self.ledger.is_finished() {
            return;
        }
        let calls = &self.env.config.calls;
        self.voicemail = Some(Voicemail::Recording {
            recorder: VoicemailRecorder::new(
                self.setup.format,
                calls.voicemail_max_secs,
                calls.voicemail_end_silence_ms,
            ),
            bad_frames: 0,
        });
        log::info!("call {}: recording a voicemail", self.id());
        let limit = Duration::from_secs(u64::from(calls.voicemail_max_secs)) + PROMPT_GRACE;
        ctx.run_later(limit, |act, ctx| {
            act.finish(EndReason::CallerHangup, true, ctx)
        });
    }

    /// Stores a voicemail switchboard recorded (message, audio and the owner's
    /// urgent notification), off the call's thread; nothing when the caller
    /// said nothing.
    fn store_voicemail(&self, recorder: VoicemailRecorder, bad_frames: u32) {
        if bad_frames > 0 {
            log::warn!(
                "call {}: {bad_frames} voicemail frames did not decode",
                self.id()
            );
        }
        let recording = match recorder.finish() {
            Ok(Some(recording)) => recording,
            Ok(None) => {
                log::info!("call {}: the caller left no voicemail", self.id());
                return;
            }
            Err(e) => {
                log::error!("call {}: voicemail not encoded: {e}", self.id());
                return;
            }
        };
        let voicemail = crate::notify::voicemail::Voicemail {
            call_id: Some(self.setup.call_id.clone()),
            caller_phone: self.setup.from.clone(),
            source: crate::notify::voicemail::VoicemailSource::Local,
            recording_sid: None,
            wav: recording.wav,
            duration_ms: recording.duration_ms,
        };
        let pool = self.env.tools.pool.clone();
        let tenant = self.setup.tenant.clone();
        let call_id = self.setup.call_id.clone();
        actix::spawn(async move {
            let stored = tokio::task::spawn_blocking(move || {
                let mut conn = pool.get()?;
                crate::notify::voicemail::store(&mut conn, &tenant, voicemail, Utc::now())
            })
            .await;
            match stored {
                Ok(Ok(message)) => log::info!(
                    "call {call_id}: voicemail {} stored ({})",
                    message.id,
                    message.message
                ),
                Ok(Err(e)) => log::error!("call {call_id}: voicemail not stored: {e}"),
                Err(e) => log::error!("call {call_id}: voicemail store task failed: {e}"),
            }
        });
    }

    /// Plays the bundled apology, then ends the call with `reason`.
    fn apologise_and_end(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
        if self.state.is_ending() {
            return;
        }
        if self.setup.edge.is_none() {
            // Pre-warmed, no stream yet: nobody to apologise to.
            self.finish(reason, false, ctx);
            return;
        }
        self.state.begin_ending(reason.clone());
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        self.hold.end();
        self.playback.barge_in();
        self.send_carrier(CarrierCommand::Clear);
        let item = format!("apology-{}", self.state.generation());
        for chunk in self.env.apology.chunks(self.setup.format) {
            let _ = self.playback.push(&item, chunk.payload.clone(), chunk.ms);
        }
        self.drain_playback(ctx);
        ctx.run_later(FAREWELL_GRACE, move |act, ctx| {
            act.finish(reason, true, ctx);
        });
    }

    /// Whatever the caller heard of pending assistant lines becomes part of
    /// the record (and the conversation), cut to what was heard.
    fn record_pending_lines(&mut self) {
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
    }

    /// Finalises the call exactly once: stores what the caller heard of pending
    /// lines, stops the link, closes the ledger (row, slot, metrics, event) and
    /// (when we end it) closes the carrier stream.
    fn finish(&mut self, reason: EndReason, close_carrier: bool, ctx: &mut Context<Self>) {
        if self.ledger.is_finished() {
            return;
        }
        let reason = self.state.end_reason(reason);
        if let Some(Voicemail::Recording {
            recorder,
            bad_frames,
        }) = self.voicemail.take()
        {
            self.store_voicemail(recorder, bad_frames);
        }
        self.record_pending_lines();
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        if !self.ledger.is_admitted() {
            // A pre-warmed call ending before its stream still gets its row.
            self.ledger.start();
        }
        self.ledger.finish(&reason, None);
        if let Some(recorder) = self.recorder.take() {
            recorder.end();
        }
        if close_carrier {
            self.send_carrier(CarrierCommand::Close {
                code: 1000,
                reason: reason.to_string().chars().take(120).collect(),
            });
        }
        ctx.stop();
    }

    /// Admitted: the call row, the tool actor, the model link, the roll-over clock.
    /// A pre-warmed call (no edge yet) writes its row when its stream attaches,
    /// and ends `no_stream` if none comes within `calls.prewarm_timeout_secs`.
    fn on_admitted(&mut self, ctx: &mut Context<Self>) {
        if self.setup.edge.is_some() {
            self.ledger.start();
            self.start_recorder();
        } else {
            let wait = Duration::from_secs(self.env.config.calls.prewarm_timeout_secs);
            ctx.run_later(wait, move |act, ctx| {
                if act.setup.edge.is_none() {
                    log::info!(
                        "call {} ({}): no media stream within {} s",
                        act.setup.call_id,
                        act.ledger.sid(),
                        wait.as_secs()
                    );
                    act.finish(EndReason::NoStream, false, ctx);
                }
            });
        }
        self.tools = Some(ToolActor::start_for(
            &self.ledger,
            self.env.tools.clone(),
            ctx.address().recipient(),
        ));
        log::info!(
            "call {} ({}) admitted for tenant {} from {}",
            self.setup.call_id,
            self.ledger.sid(),
            self.setup.tenant.id,
            self.setup.from.as_deref().unwrap_or("unknown")
        );
        self.start_link(ctx);
        ctx.run_interval(ROLLOVER_CHECK, |act, ctx| {
            act.check_edge(ctx);
            act.check_rollover(ctx);
        });
    }
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(answer) = self.admission.take() else {
            return;
        };
        match self.ledger.admission(answer) {
            Ok(()) => self.on_admitted(ctx),
            Err(refused) => {
                self.ledger.refuse(&refused);
                self.send_carrier(CarrierCommand::Close {
                    code: 1013,
                    reason: format!("call refused: {}", refused.detail),
                });
                ctx.stop();
            }
        }
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if !self.ledger.is_finished() && !self.state.is_handed_over() {
            self.finish(EndReason::CallActorStopped, true, ctx);
        }
        Running::Stop
    }
}

impl Handler<AudioFrame> for CallActor {
    type Result = ();

    fn handle(&mut self, frame: AudioFrame, ctx: &mut Context<Self>) {
        if let Some(recorder) = &mut self.recorder {
            recorder.caller(&frame.payload);
        }
        if let Some(Voicemail::Recording {
            recorder,
            bad_frames,
        }) = &mut self.voicemail
        {
            match recorder.push(&frame.payload) {
                Ok(None) => {}
                Ok(Some(end)) => {
                    log::info!("call {}: voicemail ended ({end:?})", self.id());
                    self.finish(EndReason::CallerHangup, true, ctx);
                }
                Err(_) => *bad_frames += 1,
            }
            return;
        }
        if let Some(link) = &self.link {
            if !self.state.is_ending() {
                link.do_send(frame);
            }
        }
    }
}

impl Handler<AttachEdge> for CallActor {
    type Result = bool;

    /// The pre-warmed call's stream has started: write the call row with the
    /// stream id and play the held greeting at once.
    fn handle(&mut self, msg: AttachEdge, ctx: &mut Context<Self>) -> bool {
        // A pre-warmed call whose model is already gone still takes its stream:
        // the caller leaves a voicemail on it.
        let voicemail_waiting =
            matches!(self.state.course(), state::Course::Voicemail(_)) && self.voicemail.is_none();
        if self.setup.edge.is_some()
            || self.ledger.is_finished()
            || (self.state.is_ending() && !voicemail_waiting)
        {
            return false;
        }
        if self.state.awaits_way_back() {
            return self.attach_way_back(msg, ctx);
        }
        if self.state.is_away() {
            // A stream claiming a call whose transfer is still ringing.
            return false;
        }
        self.take_edge(msg);
        self.ledger.start();
        self.start_recorder();
        log::info!(
            "call {} ({}): stream attached to the pre-warmed call",
            self.setup.call_id,
            self.ledger.sid()
        );
        if voicemail_waiting {
            self.ask_carrier_for_voicemail();
            return true;
        }
        if let Some(link) = &self.link {
            link.do_send(LinkCommand::StopRecording);
        }
        self.drain_playback(ctx);
        true
    }
}

impl CallActor {
    /// The stream `msg` names becomes this call's carrier edge.
    fn take_edge(&mut self, msg: AttachEdge) {
        self.setup.edge = Some(msg.edge);
        if let Some(stream_sid) = msg.stream_sid {
            self.setup.stream_sid = Some(stream_sid.clone());
            self.ledger.stream_started(stream_sid);
        }
    }

    /// The caller's way back after a failed transfer: the same call (row,
    /// slot, conversation) continues on the new stream, and what the new
    /// model session has said so far plays at once.
    fn attach_way_back(&mut self, msg: AttachEdge, ctx: &mut Context<Self>) -> bool {
        self.take_edge(msg);
        self.state.way_back_attached();
        log::info!(
            "call {} ({}): the caller is back with the receptionist",
            self.setup.call_id,
            self.ledger.sid()
        );
        self.drain_playback(ctx);
        self.flush_heard_lines();
        true
    }

    /// A transfer webhook for this call (through the Supervisor).
    fn on_leg(
        &mut self,
        event: LegEvent,
        ctx: &mut Context<Self>,
    ) -> Result<CallLegAnswer, LegError> {
        let not_transferring = || LegError::NotTransferring(self.setup.call_id.clone());
        match event {
            LegEvent::Screen => {
                let reason = self.state.ringing_reason().ok_or_else(not_transferring)?;
                Ok(CallLegAnswer::Screen(ScreeningBrief::new(
                    &self.setup.tenant.name,
                    self.setup.from.as_deref(),
                    reason,
                    &self.conversation.lines(),
                )))
            }
            LegEvent::Screened { accepted } => {
                if !self.state.screened(accepted) {
                    return Err(not_transferring());
                }
                self.ledger.note_transfer(TransferNote::Screened(accepted));
                if accepted {
                    self.arm_transfer_bound(BRIDGED_LIMIT, ctx);
                }
                Ok(CallLegAnswer::Noted)
            }
            LegEvent::DialEnded(dial) => match self.state.dial_ended(&dial) {
                Some(Step::WayBack(failure)) => {
                    self.way_back(failure, ctx);
                    Ok(CallLegAnswer::WayBack {
                        addr: ctx.address(),
                        thread: std::thread::current().id(),
                        call_sid: self.setup.call_sid.clone().unwrap_or_default(),
                        tenant: self.setup.tenant.id.clone(),
                        from: self.setup.from.clone(),
                        to: self.setup.to.clone(),
                    })
                }
                Some(step) => {
                    self.ledger
                        .note_transfer(TransferNote::Bridged(dial.duration_secs));
                    self.run(step, ctx);
                    Ok(CallLegAnswer::Ended)
                }
                None => Err(not_transferring()),
            },
        }
    }
}

impl Handler<CallLeg> for CallActor {
    type Result = Result<CallLegAnswer, LegError>;

    fn handle(&mut self, CallLeg(event): CallLeg, ctx: &mut Context<Self>) -> Self::Result {
        if self.ledger.is_finished() {
            return Err(LegError::NoCall(self.setup.call_id.clone()));
        }
        self.on_leg(event, ctx)
    }
}

impl Handler<HandOver> for CallActor {
    type Result = AtomicResponse<Self, Option<CallHandover>>;

    /// Gives the pre-warmed call up to an actor on its stream's thread. Atomic:
    /// no other message reaches this call while its link hands the session over.
    fn handle(&mut self, _: HandOver, _: &mut Context<Self>) -> Self::Result {
        let movable =
            self.setup.edge.is_none() && !self.ledger.is_finished() && self.state.can_hand_over();
        let link = match &self.link {
            Some(link) if movable => link.clone(),
            _ => return AtomicResponse::new(Box::pin(actix::fut::ready(None))),
        };
        AtomicResponse::new(Box::pin(link.send(TakeSession).into_actor(self).map(
            |taken, act, ctx| {
                let link = taken.ok().flatten()?;
                act.state.handed_over();
                act.link = None;
                act.tools = None;
                log::info!(
                    "call {} ({}): handing the pre-warmed call to its stream's thread",
                    act.setup.call_id,
                    act.ledger.sid()
                );
                ctx.stop();
                Some(CallHandover {
                    setup: act.setup.clone(),
                    link,
                    greeting_requested: act.state.greeting_requested(),
                })
            },
        )))
    }
}

impl Handler<OperatorTransfer> for CallActor {
    type Result = Result<(), String>;

    /// An operator's transfer: at once, without a hand-off line from the model.
    fn handle(&mut self, msg: OperatorTransfer, ctx: &mut Context<Self>) -> Self::Result {
        if self.ledger.is_finished() {
            return Err("the call is already ending".into());
        }
        let plan = plan_transfer(&self.env.tools, &self.ledger.tool_context(), msg.reason)
            .map_err(|e| e.to_string())?;
        if self.state.is_away() {
            return Err(state::TransferRefused::InProgress.to_string());
        }
        if self.setup.edge.is_none() {
            return Err("the call's media stream has not started yet".into());
        }
        let step = self
            .state
            .operator_transfer(plan)
            .map_err(|e| e.to_string())?;
        self.run(step, ctx);
        Ok(())
    }
}

impl Handler<MarkEchoed> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: MarkEchoed, ctx: &mut Context<Self>) {
        if self.playback.mark_echoed(&msg.name).is_some() || self.playback.is_idle() {
            if matches!(self.voicemail, Some(Voicemail::Prompting)) && self.playback.is_idle() {
                self.start_recording(ctx);
                return;
            }
            self.flush_heard_lines();
            if let Some(step) = self.state.playback_advanced(self.playback.is_idle()) {
                self.run(step, ctx);
            }
        }
    }
}

impl Handler<DtmfReceived> for CallActor {
    type Result = ();

    /// A key the caller pressed (Twilio `dtmf`, the browser keypad): a digit
    /// that is not a keypad key is logged and ignored.
    fn handle(&mut self, msg: DtmfReceived, ctx: &mut Context<Self>) {
        match msg.digit.parse::<KeypadKey>() {
            Ok(key) => self.keypad(key, ctx),
            Err(e) => log::warn!("call {}: ignored DTMF: {e}", self.id()),
        }
    }
}

impl Handler<MachineDetected> for CallActor {
    type Result = Result<(), String>;

    /// Twilio's answering machine detection verdict (outbound calls): stored
    /// with the call. A machine whose greeting has ended (or a fax) ends the
    /// conversation: the model stops, what plays is cleared, and the call
    /// ends `answering_machine` when the voicemail TwiML replaces the stream
    /// (Twilio's `stop`) or after [`FAREWELL_GRACE`].
    fn handle(&mut self, msg: MachineDetected, ctx: &mut Context<Self>) -> Self::Result {
        if self.ledger.is_finished() {
            return Err("the call has already ended".into());
        }
        self.ledger.answered_by(msg.answered_by);
        log::info!(
            "call {} ({}): answered by {}",
            self.id(),
            self.ledger.sid(),
            msg.answered_by
        );
        if !msg.answered_by.ends_call() {
            return Ok(());
        }
        if !self.state.answering_machine() {
            return Err("the call is already ending or being transferred".into());
        }
        if let Some(link) = self.link.take() {
            link.do_send(LinkCommand::Shutdown);
        }
        self.held_events.clear();
        self.playback.barge_in();
        self.send_carrier(CarrierCommand::Clear);
        ctx.run_later(FAREWELL_GRACE, |act, ctx| {
            act.finish(EndReason::AnsweringMachine, true, ctx);
        });
        Ok(())
    }
}

impl Handler<CarrierHangup> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: CarrierHangup, ctx: &mut Context<Self>) {
        let reason = self.state.carrier_hung_up(msg.reason);
        self.finish(reason, false, ctx);
    }
}

impl Handler<EndCall> for CallActor {
    type Result = ();

    fn handle(&mut self, msg: EndCall, ctx: &mut Context<Self>) {
        match (msg.apologise, msg.reason) {
            (true, EndReason::ModelUnavailable(cause)) => self.leave_voicemail(cause),
            (true, reason) => self.apologise_and_end(reason, ctx),
            (false, reason) => self.finish(reason, true, ctx),
        }
    }
}

impl Handler<ModelEvent> for CallActor {
    type Result = ();

    fn handle(&mut self, event: ModelEvent, ctx: &mut Context<Self>) {
        if self.state.link_paused() {
            // A late event of the link let go for the transfer.
            return;
        }
        match event {
            ModelEvent::Ready { generation } => {
                if generation > 0 && generation == self.state.generation() {
                    log::info!("call {}: model link {generation} ready", self.id());
                }
                let greet = self.env.config.calls.greet_caller && self.link.is_some();
                if let Some(step) = self.state.link_ready(generation, greet) {
                    self.run(step, ctx);
                }
            }
            ModelEvent::Audio { item_id, delta } => {
                if self.state.is_ending() {
                    return;
                }
                self.end_hold();
                if self.speaking_item.as_deref() != Some(item_id.as_str()) {
                    // It plays after what is queued.
                    let now = Instant::now();
                    let ahead = self
                        .playback
                        .audible_until(now)
                        .map_or(Duration::ZERO, |end| end - now);
                    self.ledger.line_starts(&item_id, ahead);
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
            ModelEvent::QuietAudio { delta } => {
                // Between replies (GPT-Live's track never stops): straight to the
                // caller when nothing is queued, else behind what is, in order.
                if self.state.is_ending() || self.setup.edge.is_none() || self.hold.is_on() {
                    return;
                }
                if self.playback.queued_ms() == 0 {
                    if let Some(recorder) = &mut self.recorder {
                        recorder.receptionist(&delta, Duration::ZERO);
                    }
                    self.send_carrier(CarrierCommand::Media(delta));
                } else if let Some(item_id) = self.speaking_item.clone() {
                    let ms = self.setup.format.duration_ms(base64_decoded_len(&delta));
                    if self.playback.push(&item_id, delta, ms).is_ok() {
                        self.drain_playback(ctx);
                    }
                }
            }
            ModelEvent::SpeechStarted { item_id, .. } => {
                if let Some(item_id) = item_id {
                    self.conversation.user_speaking(&item_id);
                    self.ledger.line_starts(&item_id, Duration::ZERO);
                }
                self.speech_stopped_at = None;
                self.end_hold();
                if let Some(step) = self.state.speech_started() {
                    self.run(step, ctx);
                }
            }
            ModelEvent::SpeechStopped { .. } => {
                self.speech_stopped_at = Some(Instant::now());
                self.state.speech_stopped();
            }
            ModelEvent::UserTranscript { item_id, text } => {
                self.record_user_line(item_id, text);
            }
            ModelEvent::ResponseStarted => self.state.response_started(),
            ModelEvent::AssistantTranscript { item_id, text } => {
                self.pending_lines.push((item_id, text));
                self.flush_heard_lines();
            }
            ModelEvent::ToolCallRequested {
                call_id,
                name,
                arguments,
            } => {
                self.state.tool_requested();
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
                for step in self.state.response_done(self.playback.is_idle()) {
                    self.run(step, ctx);
                }
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
        self.ledger.tool_ran(&self.env.tools, &result);
        let request = match &result.action {
            Some(CallAction::HangUp { reason }) => Some(FarewellRequest::HangUp(
                EndReason::AssistantHangup(reason.clone()),
            )),
            Some(CallAction::Transfer {
                number,
                screen_url,
                action_url,
                reason,
            }) => {
                // Transfer even if the hand-off line never finishes playing.
                ctx.run_later(FAREWELL_GRACE, |act, ctx| {
                    if let Some(step) = act.state.start_transfer() {
                        act.run(step, ctx);
                    }
                });
                Some(FarewellRequest::Transfer(TransferPlan {
                    number: number.clone(),
                    screen_url: screen_url.clone(),
                    action_url: action_url.clone(),
                    reason: reason.clone(),
                }))
            }
            None => None,
        };
        self.conversation
            .function_output(&result.call_id, &result.output);
        let sent = match &self.link {
            Some(link) => {
                link.do_send(LinkCommand::ToolOutput {
                    call_id: result.call_id,
                    output: result.output,
                });
                true
            }
            None => false,
        };
        if let Some(step) = self.state.tool_finished(request, sent) {
            self.run(step, ctx);
        }
        if matches!(self.state.course(), state::Course::HangUpAfterGoodbye(_)) {
            // Hang up even if the goodbye never finishes playing.
            ctx.run_later(FAREWELL_GRACE, |act, ctx| {
                if let Some(step) = act.state.hangup_grace_over() {
                    act.run(step, ctx);
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
        if self.ledger.is_finished() {
            return;
        }
        let Some(Step::ReportLinkFailure { failures }) = self.state.link_down(msg.generation)
        else {
            return;
        };
        self.link = None;
        // Held key presses are in the conversation the new link replays.
        self.held_events.clear();
        // Answers cut off with the link: kept (as heard) for the record and the replay.
        for (item_id, text) in msg.unfinished {
            if !self.pending_lines.iter().any(|(id, _)| *id == item_id) {
                self.pending_lines.push((item_id, text));
            }
        }
        self.flush_heard_lines();
        log::warn!(
            "call {}: model link {} down: {}",
            self.setup.call_id,
            msg.generation,
            msg.cause
        );
        self.link_failed.do_send(LinkFailed {
            call_id: self.setup.call_id.clone(),
            failures,
            cause: msg.cause,
        });
        self.hold.link_down(Instant::now());
        self.check_hold(ctx);
    }
}

impl Handler<RestartLink> for CallActor {
    type Result = ();

    /// The Supervisor's answer to a failed link: a new link after the backoff.
    fn handle(&mut self, msg: RestartLink, ctx: &mut Context<Self>) {
        if self.ledger.is_finished() || self.state.is_ending() {
            return;
        }
        self.ledger.link_restarting(msg.attempt, &msg.cause);
        ctx.run_later(msg.after, |act, ctx| {
            if act.ledger.is_finished() || act.state.is_ending() || act.link.is_some() {
                return;
            }
            act.state.next_link();
            act.ledger.link_restarted();
            act.start_link(ctx);
        });
    }
}

impl SupervisedCall for CallActor {
    type Setup = CallSetup;

    fn supervised(setup: CallSetup, supervision: Supervision) -> Self {
        CallActor::new(setup, supervision)
    }

    fn tenancy(setup: &CallSetup) -> CallTenancy {
        CallTenancy {
            tenant: setup.tenant.id.clone(),
            carrier: setup.carrier,
            call_sid: setup.call_sid.clone(),
        }
    }

    fn restart_recipient(addr: &Addr<Self>) -> Option<Recipient<RestartLink>> {
        Some(addr.clone().recipient())
    }

    fn machine_recipient(addr: &Addr<Self>) -> Option<Recipient<MachineDetected>> {
        Some(addr.clone().recipient())
    }

    fn leg_recipient(addr: &Addr<Self>) -> Option<Recipient<CallLeg>> {
        Some(addr.clone().recipient())
    }
}

impl Handler<TransferOutcome> for CallActor {
    type Result = ();

    fn handle(&mut self, TransferOutcome(outcome): TransferOutcome, ctx: &mut Context<Self>) {
        if let Err(e) = &outcome {
            if matches!(self.state.course(), state::Course::Transferring(_)) {
                log::error!("call {}: {e}", self.id());
            }
        }
        if let Some(step) = self.state.transfer_outcome(outcome.is_ok()) {
            self.run(step, ctx);
        }
    }
}

impl Handler<VoicemailHandedOff> for CallActor {
    type Result = ();

    /// The carrier's answer to [`CarrierCommand::RecordVoicemail`]: it takes the
    /// voicemail (the call ends here, `voicemail`; the carrier's stream ends
    /// next), or switchboard records it itself.
    fn handle(&mut self, VoicemailHandedOff(outcome): VoicemailHandedOff, ctx: &mut Context<Self>) {
        if !matches!(self.voicemail, Some(Voicemail::AskedCarrier)) || self.ledger.is_finished() {
            return;
        }
        match outcome {
            Ok(()) => {
                log::info!("call {}: the carrier takes the voicemail", self.id());
                self.voicemail = None;
                self.finish(EndReason::CallerHangup, false, ctx);
            }
            Err(why) => {
                log::info!("call {}: recording the voicemail here ({why})", self.id());
                self.prompt_voicemail(ctx);
            }
        }
    }
}

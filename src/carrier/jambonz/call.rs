//! `JambonzCall`: one jambonz call. jambonz carries the audio and runs the model
//! (the `llm` verb, vendor per tenant), so this actor holds only what switchboard
//! owns: the call's lifecycle (a [`CallLedger`], as every call has: admission, the
//! call row, the transcript from `llm:event`s, tool runs, events, metrics), the
//! call's `ToolActor`, and the call's current verbs (the `llm` verb, then whatever a tool
//! action redirected to). It registers for `session:reconnect` as soon as it
//! starts and outlives its socket for `calls.carrier_idle_timeout_secs`; a
//! reconnect is always acked with the current verbs (feature-server 0.9.8
//! `ws-requestor.js` moves an unacked `session:new` onto the reconnect's msgid).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use serde_json::{json, Value};

use crate::actor_messages::{CallAction, EndCall, OperatorTransfer, ToolCall, ToolResult};
use crate::call_tree::call::env::{CallEnv, CallTenancy, SupervisedCall, Supervision};
use crate::call_tree::call::ledger::{CallIdentity, CallLedger};
use crate::call_tree::call::transfer::{
    dial_verdict, way_back_instructions, DialEnd, DialStatus, Screening, ScreeningBrief,
    TransferFailure, TransferNote,
};
use crate::call_tree::tool::ToolActor;
use crate::carrier::jambonz::llm::{
    self, LlmEvent, LlmSpec, LlmTranscript, UltravoxTranscripts, Vendor, VendorPlan,
};
use crate::carrier::jambonz::wire::{self, CallStatusInfo, Outbound, SessionInfo, Verb};
use crate::lifecycle::{AdmitAnswer, Refused};
use crate::lifecycle::{Carrier, EndReason, Refusal};
use crate::model::session::Role;
use crate::session_settings::{ApplySessionSettings, SessionSettings};
use crate::tenant::TenantConfig;

/// What the call sends its socket.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum JambonzOut {
    /// One JSON text frame.
    Send(Outbound),
    /// Close the socket (1000 = jambonz will not reconnect).
    Close { code: u16, reason: String },
}

/// What the socket tells its call (parsed from jambonz frames).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum JambonzEvent {
    /// `llm:tool-call`.
    ToolCall {
        tool_call_id: String,
        name: String,
        args: Value,
    },
    /// `call:status`.
    Status(CallStatusInfo),
    /// `llm:event`: the vendor's event, read for the call's vendor.
    LlmEvent(Value),
    /// `verb:hook` (acked by the call: it knows whether a transfer is under way).
    VerbHook {
        msgid: String,
        hook: String,
        data: Value,
    },
    /// `dial:confirm`: the on-call person answered; ack with the screening.
    DialConfirm { msgid: String },
    /// `session:reconnect` (or a repeated `session:new`) arrived, maybe on a new
    /// socket: acked with the call's current verbs.
    Reattach {
        msgid: String,
        edge: Recipient<JambonzOut>,
    },
    /// The socket closed without the call ending.
    Detached,
}

/// Everything a jambonz call needs to start.
pub struct JambonzCallSetup {
    /// switchboard's call id (UUID v4).
    pub call_id: String,
    pub info: SessionInfo,
    pub tenant: Arc<TenantConfig>,
    /// The tenant's vendor, key and model ([`llm::plan`]).
    pub plan: VendorPlan,
    /// The `session:new` msgid the call acks once admitted.
    pub msgid: String,
    pub edge: Recipient<JambonzOut>,
    /// Live jambonz calls by `call_sid`, for `session:reconnect`.
    pub registry: Arc<super::JambonzCalls>,
}

/// One jambonz call.
pub struct JambonzCall {
    setup: JambonzCallSetup,
    env: Arc<CallEnv>,
    /// Admission, rows, events, metrics, `CallFinished`.
    ledger: CallLedger,
    /// The Supervisor's verdict, acted on in `started`.
    admission: Option<AdmitAnswer>,
    edge: Option<Recipient<JambonzOut>>,
    tools: Option<Addr<ToolActor>>,
    settings: SessionSettings,
    /// Reason recorded when the call ends after a tool action or the model's end.
    action_reason: Option<EndReason>,
    /// A redirect (hang-up, transfer) replaced the `llm` verb.
    redirected: bool,
    /// Final transcript lines so far, for tools that reason over the conversation.
    conversation: Vec<(Role, String)>,
    /// The application's verbs now: the `llm` verb once admitted, then the verbs of
    /// the last redirect. Sent again in the ack to every `session:reconnect`.
    verbs: Vec<Verb>,
    /// The msgid still owed an ack with verbs (the `session:new`, or the reconnect
    /// that replaced it before admission).
    pending_ack: Option<String>,
    /// A model response has started: the voice can no longer change.
    audio_started: bool,
    /// Ultravox transcript lines being assembled.
    ultravox: UltravoxTranscripts,
    /// The transfer under way (its reason and the screening's answer), from
    /// the `dial` redirect to its actionHook.
    transfer: Option<(String, Screening)>,
    /// Appended to the instructions of the `llm` verb after a failed
    /// transfer: the conversation so far and the failure's line.
    way_back: Option<String>,
}

/// What the on-call person hears after declining.
const DECLINED: &str = "Okay. The caller will be offered to leave a message. Goodbye.";

impl JambonzCall {
    /// A call the Supervisor starts; it acts on the admission verdict in `started`.
    fn new(setup: JambonzCallSetup, supervision: Supervision) -> Self {
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
                carrier: Carrier::Jambonz,
                call_sid: Some(setup.info.call_sid.clone()),
                stream_sid: None,
                from: setup.info.from.clone(),
                to: setup.info.to.clone(),
                tenant: setup.tenant.clone(),
                model_provider: setup.plan.vendor.call_label().to_string(),
            },
            &env,
            Some(finished),
        );
        JambonzCall {
            edge: Some(setup.edge.clone()),
            pending_ack: Some(setup.msgid.clone()),
            setup,
            env,
            ledger,
            admission: Some(admission),
            tools: None,
            settings,
            action_reason: None,
            conversation: Vec::new(),
            redirected: false,
            verbs: Vec::new(),
            audio_started: false,
            ultravox: UltravoxTranscripts::default(),
            transfer: None,
            way_back: None,
        }
    }

    fn vendor(&self) -> Vendor {
        self.setup.plan.vendor
    }

    fn send(&self, out: Outbound) {
        if let Some(edge) = &self.edge {
            edge.do_send(JambonzOut::Send(out));
        }
    }

    fn sid(&self) -> &str {
        &self.setup.info.call_sid
    }

    /// What the `llm` verb says for this call: the tenant (with operator edits),
    /// business hours and tools.
    fn llm_spec(&self) -> LlmSpec {
        let tenant = self.settings.apply(&self.setup.tenant);
        let mut instructions = tenant.instructions(self.setup.info.from.as_deref(), Utc::now());
        if let Some(way_back) = &self.way_back {
            instructions.push_str(way_back);
        }
        super::call_spec(
            &self.env.config,
            &self.setup.plan,
            &tenant,
            instructions,
            self.env.tools.registry.schemas_for(&tenant),
            self.settings.eagerness,
        )
    }

    /// Acks the msgid owed (if any) with `verbs`.
    fn ack_pending(&mut self, verbs: Vec<Verb>) {
        if let Some(msgid) = self.pending_ack.take() {
            self.send(Outbound::ack(&msgid, Some(verbs)));
        }
    }

    /// Replaces the running verbs with `verbs` now.
    fn redirect(&mut self, verbs: Vec<Verb>) {
        self.redirected = true;
        self.send(Outbound::redirect(&verbs));
        self.verbs = verbs;
    }

    fn on_admitted(&mut self, ctx: &mut Context<Self>) {
        let verbs = vec![llm::llm_verb(&self.setup.plan, &self.llm_spec())];
        let max = self.env.config.jambonz.max_payload_bytes;
        let bytes = Outbound::ack(&self.setup.msgid, Some(verbs.clone()))
            .to_json()
            .len();
        if max > 0 && bytes > max {
            // Operator edits can grow a tenant past the size checked at start-up.
            let detail =
                format!("the llm verb is {bytes} bytes, over jambonz.max_payload_bytes = {max}");
            self.on_refused(
                Refused {
                    refusal: Refusal::PayloadTooLarge,
                    detail,
                },
                ctx,
            );
            return;
        }
        self.ledger.start();
        self.tools = Some(ToolActor::start_for(
            &self.ledger,
            self.env.tools.clone(),
            ctx.address().recipient(),
        ));
        log::info!(
            "jambonz call {} ({}) admitted for tenant {} ({} via jambonz)",
            self.setup.call_id,
            self.sid(),
            self.setup.tenant.id,
            self.vendor().as_str()
        );
        self.verbs = verbs.clone();
        self.ack_pending(verbs);
    }

    /// Turned away (Supervisor, or a verb too large): the refused row, a short
    /// apology in the ack, and the call forgotten.
    fn on_refused(&mut self, refused: Refused, ctx: &mut Context<Self>) {
        let text = if matches!(refused.refusal, Refusal::Capacity | Refusal::TenantCapacity) {
            "Sorry, all our lines are busy. Please call again later."
        } else {
            "Sorry, we cannot take your call right now. Please call again later."
        };
        self.ledger.refuse(&refused);
        self.ack_pending(wire::say_and_hangup(text));
        self.setup.registry.remove(&self.setup.info.call_sid);
        ctx.stop();
    }

    fn record_line(&mut self, role: Role, text: String, item_id: Option<String>) {
        if text.trim().is_empty() {
            return;
        }
        self.conversation.push((role, text.clone()));
        self.ledger.record_line(role, text, item_id, false);
    }

    /// Finalises the call once: the ledger (row, slot, metrics, event), the registry.
    fn finish(&mut self, reason: EndReason, duration: Option<Duration>, ctx: &mut Context<Self>) {
        if !self.ledger.finish(&reason, duration) {
            return;
        }
        self.setup.registry.remove(&self.setup.info.call_sid);
        ctx.stop();
    }

    fn on_tool_call(&mut self, tool_call_id: String, name: String, args: Value) {
        match &self.tools {
            Some(tools) => tools.do_send(ToolCall {
                call_id: tool_call_id,
                name,
                arguments: args.to_string(),
                // jambonz runs the model; its transcript arrives as llm:event lines.
                conversation: self.conversation.clone(),
            }),
            None => self.send(llm::tool_output(
                self.vendor(),
                &tool_call_id,
                &json!({"error": "the call is not admitted"}).to_string(),
            )),
        }
    }

    fn on_status(&mut self, status: CallStatusInfo, ctx: &mut Context<Self>) {
        // B-leg (transfer target) events carry their own sid.
        if !status.call_sid.is_empty() && status.call_sid != self.setup.info.call_sid {
            log::info!(
                "jambonz call {}: leg {} is {}",
                self.sid(),
                status.call_sid,
                status.call_status
            );
            return;
        }
        if !status.is_final() {
            return;
        }
        let reason = if status.call_status == "completed" {
            self.action_reason
                .clone()
                .unwrap_or(EndReason::CallerHangup)
        } else {
            EndReason::carrier_status(&status.call_status)
        };
        let duration = status.duration.map(Duration::from_secs);
        self.finish(reason, duration, ctx);
    }

    fn on_llm_event(&mut self, data: Value) {
        let event = match self.vendor() {
            Vendor::OpenAi => llm::openai_event(&data),
            Vendor::Ultravox => self.ultravox.feed(&data),
        };
        match event {
            LlmEvent::Transcript(LlmTranscript::User { item_id, text }) => {
                self.record_line(Role::User, text, item_id)
            }
            LlmEvent::Transcript(LlmTranscript::Assistant { item_id, text }) => {
                self.audio_started = true;
                self.record_line(Role::Assistant, text, item_id)
            }
            LlmEvent::ResponseStarted => self.audio_started = true,
            LlmEvent::Error(message) => log::warn!(
                "jambonz call {} ({}): {} reported an error: {message}",
                self.setup.call_id,
                self.sid(),
                self.vendor().as_str()
            ),
            LlmEvent::Other => {}
        }
    }

    fn on_verb_hook(&mut self, msgid: String, hook: String, data: Value) {
        let verbs = if hook == wire::SCREEN_RESULT_HOOK {
            Some(self.on_screened(&data))
        } else if hook == wire::DIAL_ACTION_HOOK && self.transfer.is_some() {
            Some(self.on_dial_done(&data))
        } else if hook == wire::LLM_ACTION_HOOK && !self.redirected {
            // The model session ended on its own: nothing else runs on this call.
            let reason = data["completion_reason"].as_str().unwrap_or_default();
            log::info!("jambonz call {}: llm ended: {reason}", self.sid());
            let mut verbs = Vec::new();
            if reason != "normal conversation end" {
                verbs.push(Verb::Say {
                    text: "Sorry, we are having technical trouble. Please call again later.".into(),
                });
                self.action_reason = Some(EndReason::ModelUnavailable(reason.to_string()));
            }
            verbs.push(Verb::Hangup {});
            self.verbs = verbs.clone();
            Some(verbs)
        } else {
            // A killed llm verb's actionHook, or a dial result: ack without verbs so it
            // cannot override the transfer (docs/jambonz.md §Transfers).
            None
        };
        self.send(Outbound::ack(&msgid, verbs));
    }
}

impl JambonzCall {
    /// The transfer's `dial` is about to replace the `llm` verb.
    fn transferring(&mut self, action: &CallAction) {
        if let CallAction::Transfer { reason, .. } = action {
            self.transfer = Some((reason.clone(), Screening::Pending));
        }
    }

    /// `dial:confirm`: the on-call person answered; the screening verbs for
    /// their leg (or none, bridging at once, without a transfer of ours).
    fn screening(&self) -> Option<Vec<Verb>> {
        let (reason, _) = self.transfer.as_ref()?;
        let brief = ScreeningBrief::new(
            &self.setup.tenant.name,
            self.setup.info.from.as_deref(),
            reason,
            &self.conversation,
        );
        Some(wire::screen_verbs(&brief.prompt()))
    }

    /// The screening `gather`'s actionHook (`digits`): 1 takes the call (no
    /// verbs left on that leg: jambonz bridges), anything else declines.
    fn on_screened(&mut self, data: &Value) -> Vec<Verb> {
        let accepted = data["digits"].as_str() == Some("1");
        let Some((_, screening)) = self.transfer.as_mut() else {
            log::warn!(
                "jambonz call {} ({}): a screening key without a transfer",
                self.setup.call_id,
                self.setup.info.call_sid
            );
            return vec![Verb::Hangup {}];
        };
        *screening = if accepted {
            Screening::Accepted
        } else {
            Screening::Declined
        };
        self.ledger.note_transfer(TransferNote::Screened(accepted));
        if accepted {
            Vec::new()
        } else {
            wire::say_and_hangup(DECLINED)
        }
    }

    /// The transfer's `dial` ended (`dial_call_status`, `duration`): bridged,
    /// the caller's leg hangs up and the call ends transferred (at its final
    /// `call:status`); not bridged, the `llm` verb comes back with the
    /// conversation so far and the failure's line, and speaks first.
    fn on_dial_done(&mut self, data: &Value) -> Vec<Verb> {
        let Some((_, screening)) = self.transfer.take() else {
            return vec![Verb::Hangup {}];
        };
        let status = data["dial_call_status"].as_str().unwrap_or_default();
        let dial = DialEnd {
            status: DialStatus::parse(status).unwrap_or(DialStatus::Failed),
            bridged: None,
            duration_secs: data["duration"].as_u64(),
        };
        match dial_verdict(&dial, screening) {
            Ok(()) => {
                self.ledger
                    .note_transfer(TransferNote::Bridged(dial.duration_secs));
                // `action_reason` is the transfer's since the redirect.
                self.verbs = vec![Verb::Hangup {}];
                self.verbs.clone()
            }
            Err(failure) => self.way_back(failure),
        }
    }

    /// Back to the receptionist after a failed transfer: the `llm` verb again,
    /// told what was said and why the transfer failed.
    fn way_back(&mut self, failure: TransferFailure) -> Vec<Verb> {
        self.ledger.note_transfer(TransferNote::Failed(failure));
        self.way_back = Some(way_back_instructions(&self.conversation, failure));
        self.redirected = false;
        self.action_reason = None;
        self.audio_started = false;
        self.verbs = vec![llm::llm_verb(&self.setup.plan, &self.llm_spec())];
        self.verbs.clone()
    }
}

impl Actor for JambonzCall {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Registered before admission: a socket lost before our first ack comes
        // back as a session:reconnect that must find this call.
        self.setup
            .registry
            .insert(&self.setup.info.call_sid, ctx.address());
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
            self.finish(EndReason::CallActorStopped, None, ctx);
        }
        Running::Stop
    }
}

impl Handler<JambonzEvent> for JambonzCall {
    type Result = ();

    fn handle(&mut self, event: JambonzEvent, ctx: &mut Context<Self>) {
        match event {
            JambonzEvent::ToolCall {
                tool_call_id,
                name,
                args,
            } => self.on_tool_call(tool_call_id, name, args),
            JambonzEvent::Status(status) => self.on_status(status, ctx),
            JambonzEvent::LlmEvent(data) => self.on_llm_event(data),
            JambonzEvent::VerbHook { msgid, hook, data } => self.on_verb_hook(msgid, hook, data),
            JambonzEvent::DialConfirm { msgid } => {
                let screening = self.screening();
                self.send(Outbound::ack(&msgid, screening));
            }
            JambonzEvent::Reattach { msgid, edge } => {
                log::info!(
                    "jambonz call {} ({}): session:reconnect{}",
                    self.setup.call_id,
                    self.sid(),
                    if self.ledger.is_admitted() {
                        ""
                    } else {
                        " before admission"
                    }
                );
                self.edge = Some(edge);
                if self.ledger.is_admitted() {
                    // jambonz ignores the verbs when its session is established and
                    // runs them when our first ack was lost with the old socket.
                    self.send(Outbound::ack(&msgid, Some(self.verbs.clone())));
                } else {
                    self.pending_ack = Some(msgid);
                }
            }
            JambonzEvent::Detached => {
                self.edge = None;
                let grace = Duration::from_secs(self.env.config.calls.carrier_idle_timeout_secs);
                ctx.run_later(grace, |act, ctx| {
                    if act.edge.is_none() {
                        act.finish(EndReason::CarrierClosed, None, ctx);
                    }
                });
            }
        }
    }
}

impl Handler<ToolResult> for JambonzCall {
    type Result = ();

    fn handle(&mut self, result: ToolResult, ctx: &mut Context<Self>) {
        self.ledger.tool_ran(&self.env.tools, &result);
        self.send(llm::tool_output(
            self.vendor(),
            &result.call_id,
            &result.output,
        ));
        let Some(action) = result.action else {
            return;
        };
        self.action_reason = Some(end_reason_of(&action));
        // jambonz sends `response.create` after the tool output; the goodbye plays
        // before the redirect replaces the llm verb.
        let delay = Duration::from_millis(self.env.config.jambonz.farewell_delay_ms);
        ctx.run_later(delay, move |act, _| {
            act.transferring(&action);
            act.redirect(wire::action_verbs(
                &action,
                act.env.config.transfer.ring_secs,
            ));
        });
    }
}

/// How a call ends once `action` has replaced its `llm` verb.
fn end_reason_of(action: &CallAction) -> EndReason {
    match action {
        CallAction::HangUp { reason } => EndReason::AssistantHangup(reason.clone()),
        CallAction::Transfer { number, reason, .. } => EndReason::Transferred {
            number: Some(number.clone()),
            reason: reason.clone(),
        },
    }
}

impl Handler<OperatorTransfer> for JambonzCall {
    type Result = Result<(), String>;

    /// An operator's transfer: the `llm` verb is replaced by the `dial` at once.
    fn handle(&mut self, msg: OperatorTransfer, _: &mut Context<Self>) -> Self::Result {
        if self.ledger.is_finished() || self.redirected || self.action_reason.is_some() {
            return Err("the call is already ending".into());
        }
        let plan = crate::tools::builtin::plan_transfer(
            &self.env.tools,
            &self.ledger.tool_context(),
            msg.reason,
        )
        .map_err(|e| e.to_string())?;
        let action = CallAction::from(plan);
        self.action_reason = Some(end_reason_of(&action));
        self.transferring(&action);
        self.redirect(wire::action_verbs(
            &action,
            self.env.config.transfer.ring_secs,
        ));
        Ok(())
    }
}

impl Handler<EndCall> for JambonzCall {
    type Result = ();

    fn handle(&mut self, msg: EndCall, ctx: &mut Context<Self>) {
        let mut verbs = Vec::new();
        if msg.apologise {
            verbs.push(Verb::Say {
                text: "Sorry, we have to end this call now. Please call again later.".into(),
            });
        }
        verbs.push(Verb::Hangup {});
        self.redirect(verbs);
        self.finish(msg.reason, None, ctx);
    }
}

impl Handler<ApplySessionSettings> for JambonzCall {
    type Result = ();

    fn handle(&mut self, msg: ApplySessionSettings, _: &mut Context<Self>) {
        self.settings.merge(&msg.0);
        match llm::session_update(self.vendor(), &self.llm_spec(), self.audio_started) {
            Some(update) => self.send(update),
            None => log::info!(
                "jambonz call {} ({}): {} takes no live session changes through jambonz; \
                 the edit applies to the tenant's next call",
                self.setup.call_id,
                self.sid(),
                self.vendor().as_str()
            ),
        }
    }
}

impl SupervisedCall for JambonzCall {
    type Setup = JambonzCallSetup;

    fn supervised(setup: JambonzCallSetup, supervision: Supervision) -> Self {
        JambonzCall::new(setup, supervision)
    }

    fn tenancy(setup: &JambonzCallSetup) -> CallTenancy {
        CallTenancy {
            tenant: setup.tenant.id.clone(),
            carrier: Carrier::Jambonz,
            call_sid: Some(setup.info.call_sid.clone()),
        }
    }
}
